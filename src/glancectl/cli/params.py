"""Options and values shared by several commands, so they parse and validate one way."""

from __future__ import annotations

import functools
import json

import click

from glancectl import records
from glancectl.cli.context import Env
from glancectl.cli.helptext import Command, option
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
        visibility_option(section, "Who may see the image (default on create: shared)."),
        option("--protected/--unprotected", default=None, section=section,
               help="Protect the image from deletion."),
        option("--hidden/--unhidden", "os_hidden", default=None, section=section,
               help="Hide the image from default listings (os_hidden)."),
        option("--min-disk", type=int, metavar="GB", section=section,
               help="Minimum disk size in GB."),
        option("--min-ram", type=int, metavar="MB", section=section, help="Minimum RAM in MB."),
        option("--property", "properties", multiple=True, metavar="KEY=VALUE", section=section,
               help="A custom property (repeatable)."),
        tag_option(section, "A tag (repeatable)."),
    ]
    for decorate in reversed(options):
        func = decorate(func)
    return func


# -- aliases for openstack and glance habits: accepted, hidden from --help -------

def visibility_option(section: str, help: str):
    """--visibility, and openstack's --public, --private, --community and --shared for it."""

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, visibility=None, **kwargs):
            chosen = {visibility} if visibility else set()
            chosen.update(v for v in records.VISIBILITIES if kwargs.pop(f"visibility_{v}"))
            if len(chosen) > 1:
                raise InvalidValue(f"give one visibility, not {' and '.join(sorted(chosen))}")
            return func(*args, visibility=chosen.pop() if chosen else None, **kwargs)

        for value in reversed(records.VISIBILITIES):
            wrapper = option(f"--{value}", f"visibility_{value}", is_flag=True, hidden=True,
                             section=section)(wrapper)
        return option("--visibility", type=click.Choice(records.VISIBILITIES), section=section,
                      help=help)(wrapper)

    return decorate


def _refuse_glance_tags(ctx, param, value):
    if value is not None:
        raise click.BadParameter(
            f"glancectl takes one tag per --tag: --tag {value} --tag ... "
            "(glance's '--tags a b' form is not accepted).", ctx=ctx, param=param)


def tag_option(section: str, help: str, **kwargs):
    """--tag TAG (repeatable); glance's --tags gets a clear error pointing to --tag."""

    def decorate(func):
        func = option("--tags", "glance_tags", metavar="TAG", hidden=True, expose_value=False, section=section,
                      callback=_refuse_glance_tags)(func)
        return option("--tag", "tags", multiple=True, metavar="TAG", section=section, help=help,
                      **kwargs)(func)

    return decorate


def no_progress_option(func):
    """--no-progress; openstack's and glance's --progress is accepted and changes nothing,
    as a bar is drawn whenever stderr is a terminal."""
    func = option("--progress", is_flag=True, hidden=True, expose_value=False, section="Data")(func)
    return option("--no-progress", is_flag=True, section="Data",
                  help="Never draw a progress bar (one is drawn only on a terminal).")(func)


def alias_command(command: click.Command, name: str, peer: str, example: str) -> click.Command:
    """``command`` again under a peer CLI's name, hidden from the group's listing."""
    return Command(
        name, callback=command.callback, params=command.params, hidden=True,
        context_settings=command.context_settings, epilog=command.epilog,
        help=f"The same as 'image {command.name}', for {peer} habits.\n\n"
             f"\b\nExample:\n  {example}",
    )


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
                  shell_complete=complete_paths, callback=_non_empty_path)


def _non_empty_path(ctx, param, value: str | None) -> str | None:
    # '' would otherwise become '.', the current directory, and fail far from its cause.
    if value == "":
        raise click.BadParameter("the path is empty; give the path of a file")
    return value


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


def _complete_tasks(ctx, param, incomplete):
    from glancectl.cli.completion import complete_tasks  # only when a shell asks

    return complete_tasks(ctx, param, incomplete)


def image_argument(name: str = "image_ref", metavar: str = "IMAGE", *,
                   statuses: frozenset[str] | None = None, **kwargs):
    """An IMAGE argument (ID or name) that completes from the store; to images in
    ``statuses`` only, when the command works on no others."""

    def complete(ctx, param, incomplete):
        from glancectl.cli.completion import complete_images  # only when a shell asks

        return complete_images(ctx, param, incomplete, statuses=statuses)

    return click.argument(name, metavar=metavar, shell_complete=complete, **kwargs)


def complete_from(values, *, any_of: bool = False, sort_keys: bool = False):
    """shell_complete for a free-form option whose usual values are known.

    ``any_of``: Glance's ``in:a,b`` form too. ``sort_keys``: ``KEY[:DIR],...``.
    """

    def complete(ctx, param, incomplete):
        from click.shell_completion import CompletionItem  # only when a shell asks

        if sort_keys or (any_of and incomplete.startswith("in:")):
            done, comma, last = incomplete.rpartition(",")
            head = done + comma
            if not comma and any_of:
                head, last = "in:", incomplete[3:]
        else:
            head, last = "", incomplete
        if sort_keys and ":" in last:
            key, _, direction = last.partition(":")
            return [CompletionItem(f"{head}{key}:{d}") for d in ("asc", "desc") if d.startswith(direction)]
        taken = set(head.removeprefix("in:").replace(":asc", "").replace(":desc", "").split(","))
        return [CompletionItem(head + value) for value in values
                if value.startswith(last) and value not in taken]

    return complete


def task_argument(name: str = "task_id", **kwargs):
    """A TASK argument (a task ID) that completes from the store, showing type and status."""
    return click.argument(name, metavar="TASK", shell_complete=_complete_tasks, **kwargs)
