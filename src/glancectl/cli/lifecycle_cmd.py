"""`glancectl lifecycle`: the status tables the lifecycle module enforces, drawn.

Everything here is read from ``glancectl.lifecycle`` when the command runs;
this module keeps no copy of any table.
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from glancectl.cli.context import Env
from glancectl.cli.helptext import Command, option
from glancectl.cli.output import OutputOptions, render_many
from glancectl.cli.params import pass_env

MACHINES = ("image", "task")
FORMATS = ("table", "mermaid", "dot", "json", "yaml")
SEED_MARK = " (seed)"


@dataclass(frozen=True)
class Move:
    source: str | None  # None: a record created in ``target``
    target: str
    how: str
    seed: bool = False

    @property
    def label(self) -> str:
        return self.how + (SEED_MARK if self.seed else "")


def moves(machine: str) -> list[Move]:
    """Creation first, then every allowed move, in the order the statuses are declared."""
    from glancectl import lifecycle as lc

    if machine == "image":
        table, initial = lc.IMAGE_TRANSITIONS, lc.INITIAL_IMAGE_STATUSES
        notes, seed = lc.IMAGE_TRANSITION_NOTES, lc.SEED_IMAGE_TRANSITIONS
    else:
        table, initial = lc.TASK_TRANSITIONS, lc.INITIAL_TASK_STATUSES
        notes, seed = lc.TASK_TRANSITION_NOTES, frozenset()
    order = list(table)
    pairs = [(None, status) for status in order if status in initial]
    pairs += [(src, dst) for src in order for dst in sorted(table[src], key=order.index)]
    return [Move(src and src.value, dst.value, notes.get((src, dst), ""), (src, dst) in seed)
            for src, dst in pairs]


def final_statuses(machine: str) -> list[str]:
    from glancectl import lifecycle as lc

    table = lc.IMAGE_TRANSITIONS if machine == "image" else lc.TASK_TRANSITIONS
    return [status.value for status, targets in table.items() if not targets]


def mermaid(machine: str) -> str:
    lines = ["stateDiagram-v2"]
    for move in moves(machine):
        lines.append(f"    {move.source or '[*]'} --> {move.target}: {move.label}")
    lines += [f"    {status} --> [*]" for status in final_statuses(machine)]
    return "\n".join(lines) + "\n"


def dot(machine: str) -> str:
    lines = [f"digraph {machine}_lifecycle {{",
             "    rankdir=LR;",
             '    node [shape=box, style=rounded, fontname="sans-serif"];',
             '    edge [fontname="sans-serif", fontsize=10];',
             "    start [shape=point];"]
    lines += [f"    {status} [peripheries=2];" for status in final_statuses(machine)]
    for move in moves(machine):
        style = ", style=dashed" if move.seed else ""
        lines.append(f'    {move.source or "start"} -> {move.target} [label="{move.label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


@click.command("lifecycle", cls=Command)
@click.argument("machine", type=click.Choice(MACHINES), default="image", required=False)
@option("-f", "--format", "output_format", type=click.Choice(FORMATS), default="table",
        show_default=True, section="Output",
        help="A table, a diagram to paste into docs (mermaid, Graphviz dot), or JSON/YAML.")
@pass_env
def lifecycle(env: Env, machine: str, output_format: str) -> None:
    """Show the image or task lifecycle: every allowed status change.

    Drawn from the tables glancectl enforces, with what causes each move.
    Moves marked (seed) follow the seed document where today's Glance
    behaves differently.

    \b
    Examples:
      glancectl lifecycle
      glancectl lifecycle task
      glancectl lifecycle image --format mermaid
      glancectl lifecycle --format dot | dot -Tsvg > lifecycle.svg
    """
    if output_format == "mermaid":
        click.echo(mermaid(machine), file=env.stdout, nl=False)
    elif output_format == "dot":
        click.echo(dot(machine), file=env.stdout, nl=False)
    elif output_format in ("json", "yaml"):
        views = [{"from": m.source, "to": m.target, "how": m.how, "seed": m.seed}
                 for m in moves(machine)]
        render_many(env, OutputOptions(format=output_format), views, ())
    else:
        views, previous = [], None
        for m in moves(machine):
            source = m.source or "(new)"
            # On a terminal each status is named once, above its moves; a pipe gets whole rows.
            shown = "" if env.stdout_isatty and source == previous else source
            views.append({"from": shown, "to": m.target, "how": m.label})
            previous = source
        render_many(env, OutputOptions(format="table"), views, ("from", "to", "how"))
