"""Shell completion: `glancectl completion SHELL`, and candidates read from the store.

The scripts are Click's own (``_GLANCECTL_COMPLETE``); they call back into
glancectl on every Tab press, which lands in the completers below. Those run
inside the user's prompt, so they only read: no home, lock or file is ever
created, and any failure means "no candidates", never a traceback.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Iterator, Mapping

import click
from click.shell_completion import FishComplete, add_completion_class

from glancectl.cli.helptext import Command

PROG_NAME = "glancectl"
COMPLETE_VAR = "_GLANCECTL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
HIDDEN_STATUSES = frozenset({"deleted"})  # every command but `show` treats these as gone

_FISH_SOURCE = """\
function %(complete_func)s;
    set -l response (env %(complete_var)s=fish_complete COMP_WORDS=(commandline -cp) \
COMP_CWORD=(commandline -t) %(prog_name)s);

    for completion in $response;
        set -l metadata (string split -m 1 "," -- $completion);

        if test $metadata[1] = "dir";
            __fish_complete_directories $metadata[2];
        else if test $metadata[1] = "file";
            __fish_complete_path $metadata[2];
        else if test $metadata[1] = "plain";
            echo $metadata[2];
        end;
    end;
end;

complete --no-files --command %(prog_name)s --arguments "(%(complete_func)s)";
"""


@add_completion_class
class FishCompletion(FishComplete):
    """Fish as Click 8.1-8.3 and 8.4.2+ do it ("type,value<TAB>help" lines), on every Click.

    Click 8.4.0 and 8.4.1 generate a fish script with a raw newline inside
    `string split` that fish cannot run, so glancectl registers its own, and
    completions/glancectl.fish is the same whichever Click is installed. It also
    splits at the first comma only, so a value may contain one.
    """

    source_template = _FISH_SOURCE

    def format_completion(self, item) -> str:
        value = item.value.replace("\n", " ")
        if item.help:
            return f"{item.type},{value}\t{' '.join(item.help.split())}"
        return f"{item.type},{value}"


def completion_script(shell: str) -> str:
    """The script Click generates for ``shell`` (what ``_GLANCECTL_COMPLETE=<shell>_source`` prints).

    Ends in exactly one newline: Click 8.4 prints the script with an extra
    one and 8.5 without, and the committed copies must not depend on that.
    """
    from click.shell_completion import get_completion_class

    from glancectl.cli.main import cli

    return get_completion_class(shell)(cli, {}, PROG_NAME, COMPLETE_VAR).source().rstrip("\n") + "\n"


@click.command("completion", cls=Command)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Image and task arguments complete to IDs and names from the store; zsh
    and fish also show each one's name and status.

    \b
    Examples:
      eval "$(glancectl completion bash)"                 # in ~/.bashrc (bash 4.4+)
      glancectl completion zsh > ~/.zfunc/_glancectl      # fpath=(~/.zfunc $fpath) before compinit
      glancectl completion fish > ~/.config/fish/completions/glancectl.fish
    """
    click.echo(completion_script(shell), nl=False)


# -- completers: read-only, quiet, quick ---------------------------------------

def _records(ctx: click.Context, table: str, incomplete: str, *, by_name: bool) -> Iterator[Mapping]:
    """The records of ``table`` ("images" or "tasks") that may match ``incomplete``.

    Reads the home this command line names, without the lock, and writes
    nothing. A shard is parsed only if it can hold a match: its file name is
    the first two hex digits of its IDs, and (``by_name``) its raw text is
    searched for the typed name first, so a narrowing Tab parses a few shards
    instead of all of them.
    """
    from glancectl.cli.context import Env
    from glancectl.storage import bulk_loads, collector_paused
    from glancectl.store import Store

    home = Env(home_option=ctx.find_root().params.get("home")).home
    if not home.is_dir():
        return
    shards = getattr(Store(home), table)
    id_prefix = incomplete[:2].lower()
    # Names offered need no JSON escaping (see _shell_safe), so they appear as typed.
    name_key = re.compile(rb'"name"\s*:\s*"' + re.escape(incomplete.encode())) if by_name else None
    loads = bulk_loads()
    with collector_paused():
        for path in shards.shard_paths():
            raw = path.read_bytes()
            if path.stem.startswith(id_prefix) or (name_key is not None and name_key.search(raw)):
                yield from loads(raw).get(table, {}).values()


_SHELL_SAFE = re.compile(r"[\w.,:@%+=/-]+")


def _shell_safe(text: str) -> bool:
    """A name the shell can take back as typed: no spaces, quotes or control characters.

    Click's bash script inserts a candidate as it is, so "my image" would become two
    arguments; such images are offered by ID instead (their name shows as help).
    """
    return bool(_SHELL_SAFE.fullmatch(text))


def image_candidates(records: Iterable[Mapping], incomplete: str, *,
                     statuses: frozenset[str] | None = None, given: Iterable[str] = ()) -> list:
    """One candidate per image: its name when no other image has it, else its ID.

    Once something is typed, IDs with that prefix are offered too, and a name
    several images share completes up to the whole name; typed whole, it offers
    those images' IDs. ``statuses``: only images the command works on. Images
    already ``given`` on the line (``image delete a <Tab>``) are not offered again.
    """
    from click.shell_completion import CompletionItem

    given = set(given)
    live = [r for r in records if r.get("status") not in HIDDEN_STATUSES and r.get("id")]
    # A name is a usable reference only if no other live image has it, offered or not.
    names = Counter(r.get("name") for r in live)
    live = [r for r in live if (statuses is None or r.get("status") in statuses)
            and r["id"] not in given and r.get("name") not in given]
    id_prefix = incomplete.lower()
    items, shared = [], set()
    for record in live:
        image_id, name, status = record["id"], record.get("name"), record.get("status")
        unique = bool(name) and names[name] == 1 and _shell_safe(name)
        if unique and name.startswith(incomplete):
            items.append(CompletionItem(name, help=f"{status}, {image_id}"))
        elif (incomplete and name and not unique and _shell_safe(name)
              and name.startswith(incomplete) and name != incomplete):
            shared.add(name)
        label = name if name and name.isprintable() else "(no name)"
        if ((incomplete or not unique) and image_id.startswith(id_prefix)) or (
                incomplete and name == incomplete and not unique):
            items.append(CompletionItem(image_id, help=f"{label}, {status}"))
    items += [CompletionItem(name, help=f"{names[name]} images") for name in shared]
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


def complete_images(ctx: click.Context, param, incomplete: str, *,
                    statuses: frozenset[str] | None = None) -> list:
    """shell_complete for IMAGE arguments."""
    try:
        given = ctx.params.get(param.name) if param is not None else None
        return image_candidates(_records(ctx, "images", incomplete, by_name=True), incomplete,
                                statuses=statuses,
                                given=given if isinstance(given, (tuple, list)) else ())
    except (Exception, KeyboardInterrupt):  # a prompt is no place for a traceback
        return []


def complete_tasks(ctx: click.Context, param, incomplete: str) -> list:
    """shell_complete for TASK arguments: task IDs, with type and status as help."""
    try:
        return task_candidates(_records(ctx, "tasks", incomplete, by_name=False), incomplete)
    except (Exception, KeyboardInterrupt):
        return []
