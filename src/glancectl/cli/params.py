"""Options and values shared by several commands, so they parse and validate one way."""

from __future__ import annotations

import json

import click

from glancectl import records
from glancectl.cli.context import Env
from glancectl.errors import InvalidValue

pass_env = click.make_pass_decorator(Env)


def properties_option_value(pairs: tuple[str, ...]) -> dict:
    return dict(records.parse_property(p) for p in pairs)


def image_metadata_options(func):
    """Options shared by create and set, so both validate the same way."""
    options = [
        click.option("--disk-format", type=click.Choice(records.DISK_FORMATS),
                     help="Disk format of the data."),
        click.option("--container-format", type=click.Choice(records.CONTAINER_FORMATS),
                     help="Container format of the data."),
        click.option("--visibility", type=click.Choice(records.VISIBILITIES),
                     help="Who may see the image (default on create: shared)."),
        click.option("--protected/--unprotected", default=None,
                     help="Protect the image from deletion."),
        click.option("--hidden/--unhidden", "os_hidden", default=None,
                     help="Hide the image from default listings (os_hidden)."),
        click.option("--min-disk", type=int, metavar="GB", help="Minimum disk size in GB."),
        click.option("--min-ram", type=int, metavar="MB", help="Minimum RAM in MB."),
        click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
                     help="A custom property (repeatable)."),
        click.option("--tag", "tags", multiple=True, metavar="TAG", help="A tag (repeatable)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def expectation_options(func):
    for option in reversed([
        click.option("--size", "expect_size", type=click.IntRange(min=0), metavar="BYTES",
                     help="The data must be exactly this many bytes."),
        click.option("--checksum", "expect_checksum", metavar="MD5",
                     help="The data's md5 must match."),
        click.option("--hash", "expect_hash", metavar="SHA512",
                     help="The data's sha512 (os_hash_value) must match."),
        click.option("--no-progress", is_flag=True, help="Never draw a progress bar."),
    ]):
        func = option(func)
    return func


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


def _complete_images(ctx, param, incomplete):
    from glancectl.cli.completion import complete_images  # only when a shell asks

    return complete_images(ctx, param, incomplete)


def image_argument(name: str = "image_ref", **kwargs):
    """An IMAGE argument (ID or name) that completes from the store."""
    return click.argument(name, metavar="IMAGE", shell_complete=_complete_images, **kwargs)
