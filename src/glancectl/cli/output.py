"""One output path for every command: table, json, value, csv; -c to pick columns; -q for IDs.

Tables are for people: Rich on a terminal, a plain ASCII table (as
openstackclient prints) elsewhere, so a pipe never pays for importing Rich.
JSON uses Glance's field names verbatim, for scripts.
"""

from __future__ import annotations

import csv
import functools
import json
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import click

from glancectl.cli.helptext import option

FORMATS = ("table", "json", "value", "csv")
_HEADING_OVERRIDES = {"id": "ID", "os_hidden": "Hidden", "owner": "Owner"}


@dataclass(frozen=True)
class OutputOptions:
    format: str = "table"
    columns: tuple[str, ...] = ()
    quiet: bool = False


def output_options(*, quiet: bool = False) -> Callable:
    """Adds -f/-c (and -q where IDs alone make sense) and passes one ``output`` object."""

    def decorate(func):
        @option("-f", "--format", "output_format", type=click.Choice(FORMATS), section="Output",
                default="table", show_default=True, help="Output format.")
        @option("-c", "--column", "columns", multiple=True, metavar="NAME", section="Output",
                help="Show only this column (repeatable), by field name or heading.")
        @functools.wraps(func)
        def wrapper(*args, output_format, columns, quiet_ids=False, **kwargs):
            kwargs["output"] = OutputOptions(output_format, tuple(columns), quiet_ids)
            return func(*args, **kwargs)

        if quiet:
            wrapper = option("-q", "--quiet", "quiet_ids", is_flag=True, section="Output",
                             help="Print only IDs, one per line.")(wrapper)
        return wrapper

    return decorate


def heading(key: str) -> str:
    return _HEADING_OVERRIDES.get(key) or key.replace("_", " ").title()


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def select_columns(env, requested: Sequence[str], views: Sequence[Mapping],
                   known: Sequence[str] = ()) -> list[str]:
    """The keys ``-c`` names, by field name or heading, across every record shown.

    Images carry open-ended properties, so a name that no record has is not
    an error (the command has already done its work by now): it prints empty,
    with a warning on stderr so a typo does not pass unseen.
    """
    available = list(dict.fromkeys([*known, *(k for v in views for k in v)]))
    by_name = {_normalise(k): k for k in available}
    by_name.update({_normalise(heading(k)): k for k in available})
    chosen, unknown = [], []
    for name in requested:
        key = by_name.get(_normalise(name))
        if key is None:
            key = name
            unknown.append(name)
        chosen.append(key)
    if unknown and views:
        env.message(f"Warning: no field named {', '.join(map(repr, unknown))} "
                    f"(known: {', '.join(available)}); it prints empty.")
    return chosen


def safe_text(text: str) -> str:
    """Terminal escapes and other control characters print as visible escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def human(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return safe_text(", ".join(value))
    if isinstance(value, (list, dict)):
        return safe_text(json.dumps(value, sort_keys=True))
    return safe_text(str(value))


# json leaves DEL and the C1 controls raw; escape them so a terminal never acts on them.
_C1_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x7F, 0xA0)}


def to_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False).translate(_C1_ESCAPES)


def _plain_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(r) for r in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in cell.split("\n")))
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    out = [rule, line(headers), rule, *(line(r) for r in rows), rule]
    return "\n".join(out)


def _is_token(cell: str) -> bool:
    """IDs, statuses, sizes, hashes: values that mean nothing once broken across lines."""
    return " " not in cell and "\n" not in cell


def _table(env, headers: Sequence[str], rows: list[list[str]]) -> None:
    """Rich on a terminal when the table fits; otherwise the plain table, whole.

    IDs, sizes, statuses and hashes are never broken across lines and headings
    never inside a word. A table that cannot fit that way (``list --long`` on a
    narrow terminal) prints as plain text, as openstackclient does, so no value
    is ever cut.
    """
    if not env.stdout_isatty:
        print(_plain_table(headers, rows), file=env.stdout)
        return
    widths = []
    for index, header in enumerate(headers):
        cells = [row[index] for row in rows if row[index]]
        if cells and all(_is_token(c) for c in cells):
            widths.append((max(len(header), *(len(c) for c in cells)), True))
        else:
            widths.append((max((len(word) for word in header.split()), default=0), False))
    console = env.console()
    # SIMPLE_HEAD without edges: one space of padding each side, one between columns.
    if sum(w for w, _ in widths) + 3 * (len(widths) - 1) + 2 > console.width:
        print(_plain_table(headers, rows), file=env.stdout)
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold")
    for header, (width, token) in zip(headers, widths):
        if token:
            table.add_column(header, no_wrap=True, min_width=width)
        else:
            table.add_column(header, overflow="fold", min_width=width)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def _csv(env, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    writer = csv.writer(env.stdout, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)


def render_one(env, output: OutputOptions, view: Mapping) -> None:
    """One record: a Field/Value table, or the record itself for scripts."""
    if output.quiet:
        print(view["id"], file=env.stdout)
        return
    keys = select_columns(env, output.columns, [view]) if output.columns else list(view)
    if output.format == "json":
        print(to_json({k: view.get(k) for k in keys}), file=env.stdout)
    elif output.format == "value":
        for key in keys:
            print(human(view.get(key)), file=env.stdout)
    elif output.format == "csv":
        _csv(env, [safe_text(k) for k in keys], [[human(view.get(k)) for k in keys]])
    else:
        _table(env, ["Field", "Value"], [[safe_text(k), human(view.get(k))] for k in keys])


def render_many(
    env, output: OutputOptions, views: Sequence[Mapping], table_columns: Sequence[str]
) -> None:
    """Many records: chosen columns as a table, or whole records as JSON for scripts."""
    if output.quiet:
        for view in views:
            print(view["id"], file=env.stdout)
        return
    if output.columns:
        keys = select_columns(env, output.columns, views, table_columns)
    elif output.format == "json":
        keys = None  # every field, exactly as Glance names them
    else:
        keys = list(table_columns)
    if output.format == "json":
        chosen = [dict(v) if keys is None else {k: v.get(k) for k in keys} for v in views]
        print(to_json(chosen), file=env.stdout)
    elif output.format == "value":
        for view in views:
            print(" ".join(human(view.get(k)) for k in keys), file=env.stdout)
    elif output.format == "csv":
        _csv(env, [safe_text(heading(k)) for k in keys], [[human(v.get(k)) for k in keys] for v in views])
    else:
        _table(env, [safe_text(heading(k)) for k in keys], [[human(v.get(k)) for k in keys] for v in views])
