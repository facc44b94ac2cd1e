"""`glancectl image upload/download/deactivate/reactivate/location ...`: image data commands."""

from __future__ import annotations

import click

from glancectl import records
from glancectl.cli.context import Env
from glancectl.cli.image import image
from glancectl.cli.output import output_options, render_image, render_many
from glancectl.cli.params import (
    expectation_options,
    file_option,
    image_argument,
    json_object,
    alias_command,
    no_progress_option,
    pass_env,
)
from glancectl.cli.progress import byte_progress
from glancectl.errors import InvalidValue
from glancectl.lifecycle import ImageStatus
from glancectl.operations import data as data_ops
from glancectl.operations import images as image_ops
from glancectl.operations import locations as location_ops


def open_input(env: Env, path: str | None):
    """--file PATH; '-' or nothing for stdin, but never a terminal.

    With no --file, stdin is read only when it is a pipe, a socket or a
    file: under cron, CI or nohup it is /dev/null, which is no data.
    """
    from glancectl import sources

    if path in (None, "-") and env.stdin_isatty:
        raise InvalidValue("no data: give --file PATH, or pipe the data into standard input")
    if path is None and not sources.stdin_holds_data(env.stdin):
        raise InvalidValue("no data: standard input is not a pipe or a file (it is /dev/null or "
                           "a device). Give --file PATH, pipe the data in, or say --file - to "
                           "read standard input whatever it is.")
    if path in (None, "-"):
        return sources.open_stdin(env.stdin)
    return sources.open_path(path)


def with_progress(env: Env, label: str, source, no_progress: bool, write):
    """Run ``write(progress)`` on an open source, with a progress bar on a terminal."""
    with source, byte_progress(env, label, source.size, enabled=not no_progress) as progress:
        return write(progress)


def upload_data(env: Env, image_ref: str, source, expect: data_ops.Expectations,
                no_progress: bool) -> dict:
    """Upload from an open source (``open_input``), with a progress bar on a terminal."""
    return with_progress(env, "Uploading", source, no_progress, lambda progress: data_ops.upload(
        env.store, env.settings, image_ref, source, expect=expect, progress=progress))


@image.command("upload")
@image_argument()
@file_option("Read the data from PATH, or '-' for stdin. Without --file, stdin is read when it "
             "is a pipe or a file (never /dev/null or a terminal).")
@expectation_options
@output_options(images=True)
@pass_env
def upload(env: Env, image_ref, path, expect_size, expect_checksum, expect_hash, no_progress,
           output) -> None:
    """Upload data to a queued image: queued -> saving -> active.

    Data that arrives whole but fails --size/--checksum/--hash or the
    disk-format check makes the image killed. A file (or Content-Length)
    whose size is not --size is refused before anything changes; a stream
    that runs past --size is stopped at the first byte too many and the
    image killed. An interrupted upload (Ctrl-C, SIGTERM, unreadable
    source, full disk, quota) returns it to queued for a retry.

    \b
    Examples:
      glancectl image upload cirros --file cirros.qcow2
      curl -s https://example.org/cirros.img | glancectl image upload cirros
    """
    expect = data_ops.Expectations(expect_size, expect_checksum, expect_hash)
    record = upload_data(env, image_ref, open_input(env, path), expect, no_progress)
    render_image(env, output, record)


@image.command("download")
@image_argument(statuses=frozenset({ImageStatus.ACTIVE.value}))  # no other status has data to give
@file_option("Write to PATH instead of standard output ('-' means standard output).")
@no_progress_option
@pass_env
def download(env: Env, image_ref, path, no_progress) -> None:
    """Write an active image's data, verifying its hash as it streams.

    With --file the data is all or nothing: it is written beside PATH and
    put in place only once its hash verified. On standard output the bytes
    flow as they are read, so the exit status is the verdict: non-zero (5)
    means what was written is not the image. Data whose size already
    differs from the image's is refused before the first byte is written.

    \b
    Examples:
      glancectl image download cirros --file cirros.img
      glancectl image download cirros | qemu-img info -
    """
    from glancectl import datafiles

    record = image_ops.find_live_image(env.store, image_ref, scrub_time=env.settings.scrub_time)
    total = record.get("size")
    if path is None or path == "-":  # '-' is stdout, as for every Unix tool (and --file on upload)
        if env.stdout_isatty:
            raise InvalidValue("refusing to write image data to a terminal; use --file PATH or redirect")
        out = env.stdout.buffer if hasattr(env.stdout, "buffer") else env.stdout
        with byte_progress(env, "Downloading", total, enabled=not no_progress) as progress:
            data_ops.download(env.store, record, out.write, progress=progress)
        out.flush()
        return
    with datafiles.OutputFile(path) as out:
        with byte_progress(env, "Downloading", total, enabled=not no_progress) as progress:
            data_ops.download(env.store, record, out.write, progress=progress)


image.add_command(alias_command(download, "save", "openstack image save",
                                "glancectl image save cirros --file cirros.img"))


@image.command("deactivate")
@image_argument()
@output_options(images=True)
@pass_env
def deactivate(env: Env, image_ref, output) -> None:
    """Hold an active image: its record stays, downloads are refused.

    Deactivating a deactivated image changes nothing and succeeds.

    \b
    Example:
      glancectl image deactivate cirros
    """
    render_image(env, output, image_ops.deactivate_image(env.store, image_ref))


@image.command("reactivate")
@image_argument()
@output_options(images=True)
@pass_env
def reactivate(env: Env, image_ref, output) -> None:
    """Make a deactivated image active again (a no-op on an active image).

    \b
    Example:
      glancectl image reactivate cirros
    """
    render_image(env, output, image_ops.reactivate_image(env.store, image_ref))


@image.group("location")
def location() -> None:
    """Add, update, remove and list where an image's data lives.

    \b
    Examples:
      glancectl image location add cirros file:///srv/images/cirros.img
      glancectl image location list cirros
    """


@location.command("add")
@image_argument()
@click.argument("url")
@click.option("--metadata", metavar="JSON", help="Location metadata, a JSON object.")
@no_progress_option
@output_options(images=True)
@pass_env
def location_add(env: Env, image_ref, url, metadata, no_progress, output) -> None:
    """Add a file:// or http(s):// location; the first makes a queued image active.

    The location is read once: the first gives the image its size and
    hashes (checksum, os_hash_value), so downloads are verified; a further
    location must hold the same bytes, or it is refused (exit 5). The
    metadata names the store that serves it ("file" or "http"), as Glance's
    does. file:// is glancectl's own: Glance refuses it as a restricted scheme.

    \b
    Examples:
      glancectl image location add cirros file:///srv/images/cirros.img
      glancectl image location add cirros http://127.0.0.1:8000/cirros.img --metadata '{"k": "v"}'
    """
    metadata = json_object(metadata, "--metadata")
    with byte_progress(env, "Reading location", None, enabled=not no_progress) as progress:
        record = location_ops.add_location(env.store, env.settings, image_ref, url, metadata,
                                           progress=progress)
    render_image(env, output, record, show=["locations"])


@location.command("update")
@image_argument()
@click.argument("url")
@click.option("--metadata", metavar="JSON", required=True,
              help="The location's new metadata, a JSON object (replaces the old).")
@output_options(images=True)
@pass_env
def location_update(env: Env, image_ref, url, metadata, output) -> None:
    """Replace a location's metadata; its URL and store stay (location-update).

    \b
    Example:
      glancectl image location update cirros file:///srv/images/cirros.img \\
          --metadata '{"store": "file", "note": "mirror"}'
    """
    record = location_ops.update_location_metadata(env.store, image_ref, url,
                                                   json_object(metadata, "--metadata"))
    render_image(env, output, record, show=["locations"])


@location.command("remove")
@image_argument()
@click.argument("url")
@output_options(images=True)
@pass_env
def location_remove(env: Env, image_ref, url, output) -> None:
    """Remove a location; removing the last takes an active image back to queued.

    \b
    Example:
      glancectl image location remove cirros file:///srv/images/cirros.img
    """
    render_image(env, output, location_ops.remove_location(env.store, image_ref, url),
                 show=["locations"])


@location.command("list")
@image_argument()
@output_options(many=True)
@pass_env
def location_list(env: Env, image_ref, output) -> None:
    """List an image's locations.

    \b
    Example:
      glancectl image location list cirros -f json
    """
    record = image_ops.find_image(env.store, image_ref)
    render_many(env, output, records.image_view(record)["locations"], ("url", "metadata"))
