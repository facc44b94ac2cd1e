"""`glancectl image stage/import/tasks`: Glance's interoperable import, parsing and rendering only."""

from __future__ import annotations

import click

from glancectl import lifecycle, records
from glancectl.cli.context import Env
from glancectl.cli.image import image
from glancectl.cli.image_data import open_input, with_progress
from glancectl.cli.helptext import option
from glancectl.cli.output import output_options, render_image, render_many
from glancectl.cli.params import file_option, image_argument, no_progress_option, pass_env
from glancectl.cli.task import (
    TASK_EXIT_CODES,
    check_worker_flags,
    exit_if_failed,
    start,
    worker_options,
)
from glancectl.errors import InvalidValue
from glancectl.operations import data, importing
from glancectl.operations import images as image_ops
from glancectl.operations import tasks as task_ops

TASK_COLUMNS = ("id", "type", "status", "message", "created_at")


def stage_from(env: Env, image_ref: str, source, no_progress: bool) -> dict:
    return with_progress(env, "Staging", source, no_progress, lambda progress: importing.stage(
        env.store, env.settings, image_ref, source, progress=progress))


def import_and_follow(env: Env, image_ref: str, method: str, uri: str | None, *, wait: bool,
                      no_worker: bool = False, no_progress: bool = False) -> tuple[dict, dict]:
    """Start an api_image_import task for the image; returns (image, task) as they now are."""
    check_worker_flags(wait=wait, no_worker=no_worker)
    record, task, lease = importing.start_import(env.store, env.settings, image_ref, method, uri,
                                                 run_later=no_worker)
    task = start(env, task, lease, wait=wait, no_progress=no_progress)
    if wait:
        record = image_ops.find_image(env.store, record["id"])
    return record, task


def create_and_import(env: Env, spec: image_ops.ImageSpec, *, path: str | None, uri: str | None,
                      wait: bool, no_progress: bool) -> tuple[dict, dict]:
    """``image create --import``: create, then web-download --uri, or stage --file/stdin and
    import it with glance-direct. The URI and the data source are checked before anything
    is created."""
    lifecycle.check_new_image_takes_data(spec.disk_format, spec.container_format)
    if uri is not None:
        if path is not None:
            raise InvalidValue("with --import, give --file (glance-direct) or --uri (web-download), not both")
        importing.import_request(importing.WEB_DOWNLOAD, uri)
        method, source = importing.WEB_DOWNLOAD, None
    else:
        method, source = importing.GLANCE_DIRECT, open_input(env, path)
    if source is None:
        record = image_ops.create_image(env.store, env.settings, spec)
    else:  # no image is left behind if its data cannot be staged
        record = with_progress(env, "Staging", source, no_progress, lambda progress: (
            data.create_with_data(env.store, env.settings, spec, source, importing.STAGE,
                                  progress=progress)))
    return import_and_follow(env, record["id"], method, uri, wait=wait, no_progress=no_progress)


def finish(env: Env, output, record: dict, task: dict) -> None:
    render_image(env, output, record)
    exit_if_failed(task, f"import of image {records.image_label(record)} (task {task['id']})")


@image.command("stage")
@image_argument()
@file_option("Read the data from PATH, or '-' for stdin. Without --file, stdin is read when it "
             "is a pipe or a file (never /dev/null or a terminal).")
@no_progress_option
@output_options(images=True)
@pass_env
def stage(env: Env, image_ref, path, no_progress, output) -> None:
    """Stage data for a glance-direct import: queued -> uploading.

    Refused if data is already staged. A failed stage (bad data, a limit,
    Ctrl-C) returns the image to queued and keeps nothing.

    \b
    Examples:
      glancectl image stage cirros --file cirros.qcow2
      glancectl image import cirros --method glance-direct --wait
    """
    record = stage_from(env, image_ref, open_input(env, path), no_progress)
    render_image(env, output, record)


@image.command("import", epilog=TASK_EXIT_CODES)
@image_argument()
@option("--method", type=click.Choice(importing.IMPORT_METHODS), section="Import",
        help="glance-direct imports staged data; web-download fetches --uri.  [required]")
@option("--import-method", type=click.Choice(importing.IMPORT_METHODS), hidden=True, section="Import")
@option("--uri", metavar="URL", section="Import", help="The http(s):// URL web-download fetches.")
@worker_options
@output_options(images=True)
@pass_env
def import_(env: Env, image_ref, method, import_method, uri, wait, no_worker, no_progress,
            output) -> None:
    """Import data into an image with an api_image_import task: importing -> active.

    glance-direct needs a staged (uploading) image; web-download a queued
    one. The image goes back to queued if the import fails, and staged data
    is removed either way. While the import is in progress, another import
    or an upload of the image is refused ("Image has active task").

    \b
    Examples:
      glancectl image import cirros --method glance-direct
      glancectl image import cirros --method web-download \\
          --uri http://127.0.0.1:8000/cirros.qcow2 --wait
    """
    if method and import_method and method != import_method:
        raise click.UsageError("give --method once (glance's --import-method is the same option)")
    method = method or import_method
    if method is None:
        raise click.UsageError("Missing option '--method'.")
    record, task = import_and_follow(env, image_ref, method, uri, wait=wait,
                                     no_worker=no_worker, no_progress=no_progress)
    finish(env, output, record, task)


@image.command("tasks")
@image_argument()
@output_options(quiet=True, many=True)
@pass_env
def tasks(env: Env, image_ref, output) -> None:
    """List the tasks that worked on an image, newest first.

    \b
    Examples:
      glancectl image tasks cirros
      glancectl image tasks cirros -f json
    """
    record = image_ops.find_image(env.store, image_ref)
    found = task_ops.list_tasks(env.store, env.settings, image_id=record["id"], whole=True)
    render_many(env, output, [records.task_view(t) for t in found], TASK_COLUMNS)
