"""Shell completion: `glancectl completion SHELL`, and candidates read from the store.

The scripts are Click's own (``_GLANCECTL_COMPLETE``); they call back into
glancectl on every Tab press, which lands in the completers below. Those run
inside the user's prompt, so they only read: no home, lock or file is ever
created, and any failure means "no candidates", never a traceback.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

import click

from glancectl.cli.helptext import Command

PROG_NAME = "glancectl"
COMPLETE_VAR = "_GLANCECTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
HIDDEN_STATUSES = frozenset({"deleted"})  # every command but `show` treats these as gone


def completion_script(shell: str) -> str:
    """The script Click generates for ``shell``, as ``_GLANCECTL_COMPLETE=<shell>_source`` prints it."""
    from click.shell_completion import get_completion_class

    from glancectl.cli.main import cli

    return get_completion_class(shell)(cli, {}, PROG_NAME, COMPLETE_VAR).source() + "\n"


@click.command("completion", cls=Command)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Image and task arguments complete to IDs and names from the store; zsh
    and fish also show each one's name and status.

    \b
    Examples:
      eval "$(glancectl completion bash)"        # in ~/.bashrc
      glancectl completion zsh > "${fpath[1]}/_glancectl"
      glancectl completion fish > ~/.config/fish/completions/glancectl.fish
    """
    click.echo(completion_script(shell), nl=False)


# -- completers: read-only, quiet, quick ---------------------------------------

def _records(ctx: click.Context, table: str) -> Iterable[Mapping]:
    """The records of ``table`` ("images" or "tasks") in the home this command line names."""
    from glancectl.cli.context import Env
    from glancectl.store import Store

    home = Env(home_option=ctx.find_root().params.get("home")).home
    if not home.is_dir():
        return []
    return getattr(Store(home), table).all()  # reads shard files; never writes or locks


def _shell_safe(text: str) -> bool:
    """Candidates travel one per line and are typed back into a shell: printable only."""
    return text.isprintable()


def image_candidates(records: Iterable[Mapping], incomplete: str) -> list:
    """One candidate per image: its name when no other image has it, else its ID.

    Once something is typed, IDs with that prefix are offered too.
    """
    from click.shell_completion import CompletionItem

    live = [r for r in records if r.get("status") not in HIDDEN_STATUSES and r.get("id")]
    names = Counter(r.get("name") for r in live)
    id_prefix = incomplete.lower()
    items = []
    for record in live:
        image_id, name, status = record["id"], record.get("name"), record.get("status")
        by_name = bool(name) and names[name] == 1 and _shell_safe(name)
        if by_name and name.startswith(incomplete):
            items.append(CompletionItem(name, help=f"{status}, {image_id}"))
        if (incomplete or not by_name) and image_id.startswith(id_prefix):
            label = name if name and _shell_safe(name) else "(no name)"
            items.append(CompletionItem(image_id, help=f"{label}, {status}"))
    return sorted(items, key=lambda item: item.value)


def task_candidates(records: Iterable[Mapping], incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    id_prefix = incomplete.lower()
    items = [
        CompletionItem(record["id"], help=f"{record.get('type') or 'task'}, {record.get('status')}")
        for record in records
        if record.get("id") and record["id"].startswith(id_prefix)
    ]
    return sorted(items, key=lambda item: item.value)


def complete_images(ctx: click.Context, param, incomplete: str) -> list:
    """shell_complete for IMAGE arguments."""
    try:
        return image_candidates(_records(ctx, "images"), incomplete)
    except (Exception, KeyboardInterrupt):  # a prompt is no place for a traceback
        return []


def complete_tasks(ctx: click.Context, param, incomplete: str) -> list:
    """shell_complete for TASK arguments: task IDs, with type and status as help."""
    try:
        return task_candidates(_records(ctx, "tasks"), incomplete)
    except (Exception, KeyboardInterrupt):
        return []
