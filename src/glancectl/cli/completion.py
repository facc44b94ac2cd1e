"""Shell completion: `glancectl completion SHELL`, and candidates read from the store.

The scripts are Click's own (``_GLANCECTL_COMPLETE``); they call back into
glancectl on every Tab press, which lands in the completers below. Those run
inside the user's prompt, so they only read: no home, lock or file is ever
created, and any failure means "no candidates", never a traceback.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from operator import itemgetter
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

def _records(ctx: click.Context, table: str, incomplete: str, fields: tuple[str, ...], *,
             by_name: bool) -> Iterator[tuple]:
    """``fields`` of each record of ``table`` ("images" or "tasks") that may match ``incomplete``.

    Reads the home this command line names, without the lock, and writes
    nothing. A shard is parsed only if it can hold a match: its file name is
    the first two hex digits of its IDs, and (``by_name``) its raw text is
    searched for the typed name first, so a narrowing Tab parses a few shards
    instead of all of them. Only ``fields`` are kept: a Tab on 10,000 images
    then frees each shard's records as it goes, instead of holding them all.
    """
    from glancectl.cli.context import Env
    from glancectl.storage import bulk_loads, collector_paused
    from glancectl.store import Store

    home = Env(home_option=ctx.find_root().params.get("home")).home
    if not os.path.isdir(home):
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
                yield from [tuple(map(record.get, fields))
                            for record in loads(raw).get(table, {}).values()]


_SHELL_SAFE = re.compile(r"[\w.,:@%+=/-]+")


def _shell_safe(text: str) -> bool:
    """A name the shell can take back as typed: no spaces, quotes or control characters.

    Click's bash script inserts a candidate as it is, so "my image" would become two
    arguments; such images are offered by ID instead (their name shows as help).
    """
    return bool(_SHELL_SAFE.fullmatch(text))


def _unsafe_names(names: Iterable[str]) -> set[str]:
    """The ``names`` that are not ``_shell_safe``, checked in one pass when all are."""
    names = [name for name in names if name]
    # The pattern is one character class, so the names joined match only if each does.
    if not names or _SHELL_SAFE.fullmatch("".join(names)):
        return set()
    return {name for name in names if not _shell_safe(name)}


IMAGE_FIELDS = ("id", "name", "status")


def image_candidates(records: Iterable[Mapping], incomplete: str, *,
                     statuses: frozenset[str] | None = None, given: Iterable[str] = ()) -> list:
    """One candidate per image: its name when no other image has it, else its ID.

    Once something is typed, IDs with that prefix are offered too, and a name
    several images share completes up to the whole name; typed whole, it offers
    those images' IDs. ``statuses``: only images the command works on. Images
    already ``given`` on the line (``image delete a <Tab>``) are not offered again.
    """
    return _image_candidates([tuple(map(r.get, IMAGE_FIELDS)) for r in records], incomplete,
                             statuses=statuses, given=given)


def _image_candidates(images: Iterable[tuple], incomplete: str, *,
                      statuses: frozenset[str] | None = None, given: Iterable[str] = ()) -> list:
    """``image_candidates`` of (id, name, status) tuples, the form the store is read in."""
    from click.shell_completion import CompletionItem

    given = set(given)
    live = [image for image in images if image[2] not in HIDDEN_STATUSES and image[0]]
    # A name is a usable reference only if no other live image has it, offered or not.
    names = Counter(name for _, name, _ in live)
    live = [(image_id, name, status) for image_id, name, status in live
            if (statuses is None or status in statuses)
            and image_id not in given and name not in given]
    unsafe = _unsafe_names(name for _, name, _ in live if name and name.startswith(incomplete))
    id_prefix = incomplete.lower()
    offered, shared = [], set()
    for image_id, name, status in live:
        unique = bool(name) and names[name] == 1 and name not in unsafe
        if unique and name.startswith(incomplete):
            offered.append((name, f"{status}, {image_id}"))
        elif (incomplete and name and not unique and name not in unsafe
              and name.startswith(incomplete) and name != incomplete):
            shared.add(name)
        if ((incomplete or not unique) and image_id.startswith(id_prefix)) or (
                incomplete and name == incomplete and not unique):
            label = name if name and name.isprintable() else "(no name)"
            offered.append((image_id, f"{label}, {status}"))
    offered += [(name, f"{names[name]} images") for name in shared]
    offered.sort(key=_first)
    return [CompletionItem(value, help=help) for value, help in offered]


_first = itemgetter(0)
TASK_FIELDS = ("id", "type", "status")


def task_candidates(records: Iterable[Mapping], incomplete: str) -> list:
    return _task_candidates([tuple(map(r.get, TASK_FIELDS)) for r in records], incomplete)


def _task_candidates(tasks: Iterable[tuple], incomplete: str) -> list:
    """``task_candidates`` of (id, type, status) tuples, the form the store is read in."""
    from click.shell_completion import CompletionItem

    id_prefix = incomplete.lower()
    offered = sorted(((task_id, f"{kind or 'task'}, {status}") for task_id, kind, status in tasks
                      if task_id and task_id.startswith(id_prefix)), key=_first)
    return [CompletionItem(value, help=help) for value, help in offered]


def complete_images(ctx: click.Context, param, incomplete: str, *,
                    statuses: frozenset[str] | None = None) -> list:
    """shell_complete for IMAGE arguments."""
    try:
        given = ctx.params.get(param.name) if param is not None else None
        return _image_candidates(_records(ctx, "images", incomplete, IMAGE_FIELDS, by_name=True),
                                 incomplete, statuses=statuses,
                                 given=given if isinstance(given, (tuple, list)) else ())
    except (Exception, KeyboardInterrupt):  # a prompt is no place for a traceback
        return []


def complete_tasks(ctx: click.Context, param, incomplete: str) -> list:
    """shell_complete for TASK arguments: task IDs, with type and status as help."""
    try:
        return _task_candidates(_records(ctx, "tasks", incomplete, TASK_FIELDS, by_name=False),
                                incomplete)
    except (Exception, KeyboardInterrupt):
        return []
