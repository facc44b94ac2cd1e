"""`glancectl usage` and `glancectl import info`: what Glance's /v2/info/* documents tell."""

from __future__ import annotations

from dataclasses import asdict

import click

from glancectl.cli.context import Env
from glancectl.cli.helptext import Command, Group
from glancectl.cli.output import output_options, render_many, render_one
from glancectl.cli.params import pass_env

USAGE_COLUMNS = ("owner", "image_count", "stored_bytes", "user_storage_quota", "quota_used",
                 "largest_image", "image_size_cap")


@click.command("usage", cls=Command)
@click.option("--owner", help="Only this owner (default: every owner with images, and you).")
@output_options(many=True, sizes=True)
@pass_env
def usage(env: Env, owner, output) -> None:
    """Storage per owner and how much of each quota it uses (/v2/info/usage).

    stored_bytes is what counts against user_storage_quota (0 = no quota):
    every image's data but a deleted or killed one's. largest_image is the
    biggest image, for image_size_cap. -f json adds the images uploading and
    the bytes staged for imports.

    \b
    Examples:
      glancectl usage --human-readable
      glancectl usage -f json
    """
    from glancectl.operations import usage as usage_ops

    rows = []
    for row in usage_ops.usage(env.store, env.settings, owner=owner):
        used = row.quota_used
        rows.append({**asdict(row), "quota_used": "no quota" if used is None else f"{used:.1%}"})
    render_many(env, output, rows, USAGE_COLUMNS)


@click.group("import", cls=Group)
def import_group() -> None:
    """What interoperable import offers here.

    \b
    Example:
      glancectl import info
    """


@import_group.command("info")
@output_options()
@pass_env
def import_info(env: Env, output) -> None:
    """The enabled import methods (glance import-info, openstack image import info).

    \b
    Examples:
      glancectl import info
      glancectl import info -f json
    """
    from glancectl.operations.importing import import_info as info

    render_one(env, output, {name: field["value"] for name, field in info().items()})
