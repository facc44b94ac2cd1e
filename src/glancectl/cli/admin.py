"""Store-wide commands: config, scrub, purge."""

from __future__ import annotations

from dataclasses import asdict

import click

from glancectl.cli.context import Env
from glancectl.cli.helptext import Command, Group
from glancectl.cli.output import output_options, render_many
from glancectl.cli.params import pass_env
from glancectl.config import SETTING_NAMES
from glancectl.operations import maintenance


@click.group("config", cls=Group)
def config() -> None:
    """Show the effective settings.

    \b
    Example:
      glancectl config show
    """


@config.command("show")
@output_options(many=True)
@pass_env
def config_show(env: Env, output) -> None:
    """Show every setting, its value and where it came from.

    Precedence: GLANCECTL_<NAME> environment variables, then
    <home>/glancectl.toml, then Glance's defaults.

    \b
    Examples:
      glancectl config show
      GLANCECTL_DELAYED_DELETE=true glancectl config show -f json
    """
    settings = env.settings
    rows = [{"name": "home", "value": str(env.home), "source": env.home_source}]
    rows += [
        {"name": name, "value": getattr(settings, name), "source": settings.sources[name]}
        for name in SETTING_NAMES
    ]
    render_many(env, output, rows, ("name", "value", "source"))


def _render_actions(env: Env, output, actions, dry_run: bool, verb: str) -> None:
    rows = [asdict(a) for a in actions]
    if output.format == "table" and not rows:
        env.message(f"Nothing to {verb}.")
        return
    render_many(env, output, rows, ("kind", "id", "name", "what"))
    if dry_run:
        env.message(f"Dry run: nothing was changed ({len(rows)} would be affected).")


@click.command("scrub", cls=Command)
@click.option("--dry-run", is_flag=True, help="Show what would be scrubbed; change nothing.")
@output_options(many=True)
@pass_env
def scrub(env: Env, dry_run: bool, output) -> None:
    """Remove data of pending_delete images older than scrub_time; mark them deleted.

    \b
    Examples:
      glancectl scrub --dry-run
      glancectl scrub -f json
    """
    actions = maintenance.scrub(env.store, env.settings, dry_run=dry_run)
    _render_actions(env, output, actions, dry_run, "scrub")


@click.command("purge", cls=Command)
@click.option("--age-in-days", type=click.IntRange(min=0), default=30, show_default=True,
              help="Purge deleted images deleted at least this many days ago.")
@click.option("--dry-run", is_flag=True, help="Show what would be purged; change nothing.")
@output_options(many=True)
@pass_env
def purge(env: Env, age_in_days: int, dry_run: bool, output) -> None:
    """Remove old deleted image records and expired tasks for good.

    \b
    Examples:
      glancectl purge --age-in-days 0
      glancectl purge --age-in-days 7 --dry-run
    """
    actions = maintenance.purge(env.store, env.settings, age_in_days=age_in_days, dry_run=dry_run)
    _render_actions(env, output, actions, dry_run, "purge")


