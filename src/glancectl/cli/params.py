"""Options and values shared by several commands, so they parse and validate one way."""

from __future__ import annotations

import json

import click

from glancectl import records
from glancectl.cli.context import Env
from glancectl.cli.helptext import option
from glancectl.errors import InvalidValue

pass_env = click.make_pass_decorator(Env)


def properties_option_value(pairs: tuple[str, ...]) -> dict:
    return dict(records.parse_property(p) for p in pairs)


def image_metadata_options(func):
    """Options shared by create and set, so both validate the same way."""
    section = "Metadata"
    options = [
        option("--disk-format", type=click.Choice(records.DISK_FORMATS), section=section,
               help="Disk format of the data."),
        option("--container-format", type=click.Choice(records.CONTAINER_FORMATS), section=section,
               help="Container format of the data."),
        option("--visibility", type=click.Choice(records.VISIBILITIES), section=section,
               help="Who may see the image (default on create: shared)."),
        option("--protected/--unprotected", default=None, section=section,
               help="Protect the image from deletion."),
        option("--hidden/--unhidden", "os_hidden", default=None, section=section,
               help="Hide the image from default listings (os_hidden)."),
        option("--min-disk", type=int, metavar="GB", section=section,
               help="Minimum disk size in GB."),
        option("--min-ram", type=int, metavar="MB", section=section, help="Minimum RAM in MB."),
        option("--property", "properties", multiple=True, metavar="KEY=VALUE", section=section,
               help="A custom property (repeatable)."),
        option("--tag", "tags", multiple=True, metavar="TAG", section=section,
               help="A tag (repeatable)."),
    ]
    for decorate in reversed(options):
        func = decorate(func)
    return func


def expectation_options(func):
    for decorate in reversed([
        option("--size", "expect_size", type=click.IntRange(min=0), metavar="BYTES",
               section="Data", help="The data must be exactly this many bytes."),
        option("--checksum", "expect_checksum", metavar="MD5", section="Data",
               help="The data's md5 must match."),
        option("--hash", "expect_hash", metavar="SHA512", section="Data",
               help="The data's sha512 (os_hash_value) must match."),
        no_progress_option,
    ]):
        func = decorate(func)
    return func


def file_option(help: str):
    """--file PATH, in the Data section; the shell completes file names."""
    return option("--file", "path", metavar="PATH", section="Data", help=help,
                  shell_complete=complete_paths)


no_progress_option = option("--no-progress", is_flag=True, section="Data",
                            help="Never draw a progress bar (one is drawn only on a terminal).")


def json_object(text: str | None, option: str) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"{option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidValue(f"{option} must be a JSON object")
    return value


def complete_paths(ctx, param, incomplete):
    """Let the shell complete file names itself (Click's "file" completion type)."""
    from click.shell_completion import CompletionItem  # only when a shell asks

    return [CompletionItem(incomplete, type="file")]


def _complete_images(ctx, param, incomplete):
    from glancectl.cli.completion import complete_images  # only when a shell asks

    return complete_images(ctx, param, incomplete)


def _complete_tasks(ctx, param, incomplete):
    from glancectl.cli.completion import complete_tasks  # only when a shell asks

    return complete_tasks(ctx, param, incomplete)


def image_argument(name: str = "image_ref", metavar: str = "IMAGE", **kwargs):
    """An IMAGE argument (ID or name) that completes from the store."""
    return click.argument(name, metavar=metavar, shell_complete=_complete_images, **kwargs)


def task_argument(name: str = "task_id", **kwargs):
    """A TASK argument (a task ID) that completes from the store, showing type and status."""
    return click.argument(name, metavar="TASK", shell_complete=_complete_tasks, **kwargs)
