"""`glancectl lifecycle`: drawn from the lifecycle module's own tables, in every format."""

from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner

from glancectl import lifecycle
from glancectl.cli.context import Env
from glancectl.cli.lifecycle_cmd import lifecycle as lifecycle_command

TABLES = {
    "image": (lifecycle.IMAGE_TRANSITIONS, lifecycle.INITIAL_IMAGE_STATUSES,
              lifecycle.IMAGE_TRANSITION_NOTES),
    "task": (lifecycle.TASK_TRANSITIONS, lifecycle.INITIAL_TASK_STATUSES,
             lifecycle.TASK_TRANSITION_NOTES),
}


def table_moves(machine: str) -> set[tuple[str | None, str]]:
    table, initial, _ = TABLES[machine]
    return ({(None, s.value) for s in initial}
            | {(src.value, dst.value) for src, targets in table.items() for dst in targets})


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("machine", ["image", "task"])
def test_notes_name_exactly_the_allowed_moves(machine):
    _, _, notes = TABLES[machine]
    assert {(s and s.value, d.value) for s, d in notes} == table_moves(machine)
    assert all(notes.values())


def test_seed_moves_are_moves():
    seed = {(s and s.value, d.value) for s, d in lifecycle.SEED_IMAGE_TRANSITIONS}
    assert seed <= table_moves("image")
    assert ("active", "queued") in seed


@pytest.mark.parametrize("machine", ["image", "task"])
def test_json_lists_every_move(gctl, machine):
    rows = gctl.ok("lifecycle", machine, "-f", "json").json()
    assert {(r["from"], r["to"]) for r in rows} == table_moves(machine)
    assert len(rows) == len(table_moves(machine))


@pytest.mark.parametrize("machine", ["image", "task"])
def test_mermaid_draws_every_move_and_the_final_statuses(gctl, machine):
    text = gctl.ok("lifecycle", machine, "--format", "mermaid").stdout
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    edges = [re.fullmatch(r"    (\S+) --> (\S+)(?:: (.+))?", line).groups() for line in lines[1:]]
    drawn = {(None if a == "[*]" else a, b) for a, b, _ in edges if b != "[*]"}
    assert drawn == table_moves(machine)
    table = TABLES[machine][0]
    assert {a for a, b, _ in edges if b == "[*]"} == {s.value for s, t in table.items() if not t}
    assert all(":" not in (label or "") and ";" not in (label or "") for _, _, label in edges)


def test_seed_moves_are_marked(gctl):
    mermaid = gctl.ok("lifecycle", "--format", "mermaid").stdout
    assert "    active --> queued: remove the last location (seed)\n" in mermaid
    assert "    saving --> killed: data failed verification (seed)\n" in mermaid
    assert mermaid.count("(seed)") == len(lifecycle.SEED_IMAGE_TRANSITIONS)
    dot = gctl.ok("lifecycle", "--format", "dot").stdout
    assert 'active -> queued [label="remove the last location (seed)", style=dashed];' in dot
    assert dot.count("style=dashed") == len(lifecycle.SEED_IMAGE_TRANSITIONS)
    assert dot.startswith("digraph image_lifecycle {") and dot.endswith("}\n")
    drawn = set(re.findall(r"^    (\w+) -> (\w+) ", dot, re.M))
    assert drawn == {(a or "start", b) for a, b in table_moves("image")}


def test_the_command_keeps_no_copy_of_the_table(gctl, monkeypatch):
    table = dict(lifecycle.IMAGE_TRANSITIONS)
    table[lifecycle.ImageStatus.KILLED] = frozenset({lifecycle.ImageStatus.DELETED,
                                                     lifecycle.ImageStatus.QUEUED})
    monkeypatch.setattr(lifecycle, "IMAGE_TRANSITIONS", table)
    assert "    killed --> queued: \n" in gctl.ok("lifecycle", "-f", "mermaid").stdout
    assert "| killed         | queued" in gctl.ok("lifecycle").stdout


def test_plain_table_off_a_terminal(gctl):
    out = gctl.ok("lifecycle").stdout
    assert out.startswith("+---") and "| From " in out
    assert "| (new)          | active         | create with a location or size 0 (seed) |" in out
    assert "\x1b" not in out


def test_rich_table_on_a_terminal():
    out = Terminal()
    env = Env(stdout=out, stderr=Terminal(), environ={})
    result = CliRunner().invoke(lifecycle_command, ["task"], obj=env)
    assert result.exit_code == 0, result.output
    text = out.getvalue()
    assert "+---" not in text and "─" in text and "processing" in text
    assert "\x1b[1m" in text  # a bold heading: drawn for a terminal
    assert text.count(" processing ") == 2  # once as a target, once above its own moves
