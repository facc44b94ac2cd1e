"""One output path for every command: table, json, yaml, value, csv, shell; -c, -q, --long.

Tables are for people: Rich on a terminal, a plain ASCII table (as
openstackclient prints) elsewhere, so a pipe never pays for importing Rich.
JSON (and YAML, the same document) uses Glance's field names verbatim, for
scripts; ``-f shell`` prints one record as ``name="value"`` lines, as cliff does.
"""

from __future__ import annotations

import functools
import json
import re
from itertools import repeat
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

import click

from glancectl import records
from glancectl.cli.helptext import option
from glancectl.jsontext import ListItems, escape_controls, to_json
from glancectl.storage import collector_paused

FORMATS = ("table", "json", "yaml", "value", "csv", "shell")
# -f shell prints one record; a list has no shell form (cliff offers none either).
LIST_FORMATS = tuple(f for f in FORMATS if f != "shell")
_HEADING_OVERRIDES = {"id": "ID", "os_hidden": "Hidden", "owner": "Owner",
                      "os_hash_algo": "Hash Algorithm", "os_hash_value": "Hash Value"}
# Fields that hold byte counts, shown as "12.5 MiB" with --human-readable.
SIZE_FIELDS = frozenset({"size", "virtual_size", "stored_bytes", "staged_bytes", "largest_image",
                         "image_size_cap", "user_storage_quota"})
# An image's fields too wide for an 80-100 column table (a sha512 is 128 characters);
# the one-image table shows them with --long, -c, or any script format.
IMAGE_WIDE_FIELDS = ("os_hash_value", "locations", "direct_url")


class OutputOptions(NamedTuple):  # frozen, and quicker to define than a dataclass (start-up)
    format: str = "table"
    columns: tuple[str, ...] = ()
    quiet: bool = False
    long: bool = False
    human_readable: bool = False
    prefix: str = ""
    noindent: bool = False


def output_options(*, quiet: bool = False, many: bool = False, images: bool = False,
                   sizes: bool = False) -> Callable:
    """Adds the output options and passes one ``output`` object.

    ``quiet``: -q, where IDs alone make sense. ``many``: the command prints a list,
    so no -f shell. ``images``: it prints images, so --long and --human-readable;
    ``sizes``: --human-readable alone.
    """
    formats = LIST_FORMATS if many else FORMATS
    shown = [  # in --help order
        option("-f", "--format", "output_format", type=click.Choice(formats), section="Output",
               default="table", show_default=True, help="Output format."),
        option("-c", "--column", "columns", multiple=True, metavar="NAME", section="Output",
               help="Show only this column (repeatable), by field name or heading."),
    ]
    if quiet:
        shown.append(option("-q", "--quiet", "quiet_ids", is_flag=True, section="Output",
                            help="Print only IDs, one per line."))
    if images:
        shown.append(option("--long", is_flag=True, section="Output", help=(
            "More columns: formats, size, checksum and hashes, visibility, owner, tags."
            if many else "Every field in the table, os_hash_value and locations too.")))
    if images or sizes:
        shown.append(option("--human-readable", is_flag=True, section="Output",
                            help="Sizes in binary units (12.5 MiB) in table, value, csv and "
                                 "shell output; json and yaml keep bytes."))
    shown.append(option("--noindent", is_flag=True, section="Output",
                        help="With -f json: the whole document on one line."))
    if not many:
        shown.append(option("--prefix", default="", metavar="PREFIX", section="Output",
                            help="With -f shell: put PREFIX before every variable name."))

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, output_format, columns, noindent, quiet_ids=False, long=False,
                    human_readable=False, prefix="", **kwargs):
            kwargs["output"] = OutputOptions(output_format, tuple(columns), quiet_ids, long,
                                             human_readable, prefix, noindent)
            return func(*args, **kwargs)

        for add in reversed(shown):
            wrapper = add(wrapper)
        return wrapper

    return decorate


def human_size(size: int) -> str:
    """Bytes in binary units, as people read them: 512 B, 12.5 MiB, 1 TiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            break
        value /= 1024
    if unit == "B":
        return f"{size} B"
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


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


def human(value, *, escape: bool = True) -> str:
    """A value as text; control characters made visible unless ``escape`` is off."""
    text = _text(value)
    return safe_text(text) if escape else text


def _cells(row: Sequence) -> Sequence[str]:
    """``human`` of each value; a row of printable text as it is, in one test (a listing has many)."""
    try:
        if "".join(row).isprintable():
            return row
    except TypeError:  # a value that is not text
        pass
    return list(map(human, row))


def _all_cells(rows: Sequence[Sequence]) -> Sequence[Sequence[str]]:
    """``_cells`` of each row; rows of printable text as they are, in one test for them all."""
    try:
        text = "".join(map("".join, rows))
    except TypeError:  # a value that is not text
        return list(map(_cells, rows))
    return rows if _printable_but_breaks(text, 0) else list(map(_cells, rows))


_ASCII_CONTROLS = bytes([*range(0x20), 0x7F])  # the ASCII characters str.isprintable refuses


def _text(value) -> str:
    if type(value) is str:  # most values: the quick way first
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def to_yaml(value) -> str:
    """The JSON document as YAML; PyYAML loads only when -f yaml is asked for."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True,
                          width=1_000_000).rstrip("\n")


# Patterns of -f shell alone: re compiles (and caches) them on first use, not at import,
# which every command would pay for (bench/startup.py).
_NOT_IN_NAME = r"[^A-Za-z0-9_]"
_DOUBLE_QUOTED_SPECIALS = r'([\\"$`])'


def shell_name(prefix: str, key: str) -> str:
    """A shell variable name: anything but letters, digits and _ becomes _."""
    name = re.sub(_NOT_IN_NAME, "_", prefix + key)
    return f"_{name}" if name[:1].isdigit() or not name else name


def shell_value(text: str) -> str:
    """Double-quoted so that ``eval`` gives back exactly ``text``: no expansion, no command."""
    return '"' + re.sub(_DOUBLE_QUOTED_SPECIALS, r"\\\1", text) + '"'


def _shown(output: OutputOptions, views: Sequence[Mapping]) -> list[dict]:
    """The records as text formats show them: sizes in binary units with --human-readable."""
    if not output.human_readable:
        return list(views)
    return [{k: _human_sized(k, v) for k, v in view.items()} for view in views]


def _human_sized(key: str, value):
    """A byte count in binary units ("12.5 MiB"); any other value as it is."""
    if key in SIZE_FIELDS and isinstance(value, int) and not isinstance(value, bool):
        return human_size(value)
    return value


def _document(env, output: OutputOptions, value) -> None:
    """JSON or YAML of the same document, for scripts."""
    if output.format == "yaml":
        print(to_yaml(value), file=env.stdout)
    else:
        print(to_json(value, indent=None if output.noindent else 2), file=env.stdout)


def _write_json_list(env, items: Sequence[bytes]) -> None:
    """Print ``[item, ...]`` from ready items, a slice at a time, never the whole text at once."""
    stream = env.stdout
    utf8 = (getattr(stream, "encoding", None) or "").lower().replace("-", "") == "utf8"
    binary = getattr(stream, "buffer", None) if utf8 else None
    if binary is not None:
        stream.flush()
        write = binary.write
    else:
        def write(data: bytes) -> None:
            stream.write(data.decode())
    if not items:
        write(b"[]\n")
    else:
        write(b"[\n")
        step = 1000
        for start in range(0, len(items), step):
            write(escape_controls(b",\n".join(items[start:start + step])))
            write(b",\n" if start + step < len(items) else b"\n]\n")
    if binary is not None:
        binary.flush()


_TABLE_CHUNK = 1000  # rows shown at a time: a long listing's table is never held as one text


def _write_plain_table(write: Callable[[str], object], headers: Sequence[str],
                       rows: Sequence[Sequence]) -> None:
    """The plain ASCII table of ``rows``, each value as ``_cells`` shows it, a chunk at a time.

    Every chunk is looked at before any is written, as the widest cell of each column
    sets its width.
    """
    chunks = [_shown_columns(rows[start:start + _TABLE_CHUNK])
              for start in range(0, len(rows), _TABLE_CHUNK)]
    widths = [max([len(header), *(widest[index] for _, _, widest in chunks)])
              for index, header in enumerate(headers)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    write(f"{rule}\n| {' | '.join(map(str.ljust, headers, widths))} |\n{rule}\n")
    for columns, common, _ in chunks:
        padded = [_padded(column, own, width) for column, own, width in zip(columns, common, widths)]
        write("| " + " |\n| ".join(map(" | ".join, zip(*padded))) + " |\n")
    write(rule + "\n")


def _shown_columns(rows: Sequence[Sequence]) -> tuple[list[Sequence[str]], list[int | None], list[int]]:
    """``rows`` as columns of the cells a table shows; each column's one width when every
    cell has it (IDs, statuses: the usual case), else None; and each column's widest cell.

    A column's cells are joined once, which tells whether they are all printable text,
    and where its line breaks fall tells whether they are all one width.
    """
    count = len(rows)
    columns = list(zip(*rows))
    try:
        texts = list(map("\n".join, columns))  # TypeError: a value that is not text
    except TypeError:
        texts = None
    if texts is None or not _printable_but_breaks("".join(texts), len(columns) * (count - 1)):
        columns = list(zip(*map(_cells, rows)))
        texts = list(map("\n".join, columns))
    common: list[int | None] = []
    widest: list[int] = []
    for column, text in zip(columns, texts):
        first = len(column[0])  # no cell holds a line break now: only the joins do
        if len(text) == count * (first + 1) - 1 and text[first::first + 1] == "\n" * (count - 1):
            common.append(first)
            widest.append(first)
        else:
            common.append(None)
            widest.append(max(map(len, column)))
    return columns, common, widest


def _printable_but_breaks(text: str, breaks: int) -> bool:
    """Whether ``text`` is printable but for ``breaks`` line breaks (the joins' own)."""
    if text.isascii():  # printable unless it holds a control character: a quicker test in bytes
        return len(text) - len(text.encode("ascii").translate(None, _ASCII_CONTROLS)) == breaks
    return text.count("\n") == breaks and text.replace("\n", "").isprintable()


def _padded(column: Sequence[str], own: int | None, width: int) -> Sequence[str]:
    """A column's cells padded to ``width``; cells all ``own`` wide in one join and split."""
    if own == width:
        return column
    if own is None:
        return list(map(str.ljust, column, repeat(width)))
    pad = " " * (width - own)
    return ((pad + "\n").join(column) + pad).split("\n")


def _is_token(cell: str) -> bool:
    """IDs, statuses, sizes, hashes: values that mean nothing once broken across lines."""
    return " " not in cell and "\n" not in cell


def _table(env, headers: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Rows of values (shown as ``_cells`` shows them): Rich on a terminal when the table
    fits; otherwise the plain table, whole.

    IDs, sizes, statuses and hashes are never broken across lines and headings
    never inside a word. A table that cannot fit that way (``list --long`` on a
    narrow terminal) prints as plain text, as openstackclient does, so no value
    is ever cut.
    """
    if not env.stdout_isatty:
        _write_plain_table(env.stdout.write, headers, rows)
        return
    rows = _all_cells(rows)
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
        _write_plain_table(env.stdout.write, headers, rows)
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


def _value_lines(env, rows: Iterable[Sequence]) -> None:
    """``-f value``: each row's values, space-separated, a line each."""
    env.stdout.write("".join(" ".join(_cells(row)) + "\n" for row in rows))


def _csv(env, headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    import csv  # only -f csv needs it

    writer = csv.writer(env.stdout, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)


def render_one(env, output: OutputOptions, view: Mapping, *, wide: Sequence[str] = ()) -> None:
    """One record: a Field/Value table, or the record itself for scripts.

    ``wide`` fields are left out of the default table (``--long`` shows them).
    """
    if output.quiet:
        print(view["id"], file=env.stdout)
        return
    if output.columns:
        keys = select_columns(env, output.columns, [view])
    elif output.format == "table" and not output.long:
        keys = [k for k in view if k not in wide]
    else:
        keys = list(view)
    if output.format in ("json", "yaml"):
        _document(env, output, {k: view.get(k) for k in keys})
        return
    (view,) = _shown(output, [view])
    if output.format == "value":
        for key in keys:
            print(human(view.get(key)), file=env.stdout)
    elif output.format == "csv":
        _csv(env, [safe_text(k) for k in keys], [[human(view.get(k)) for k in keys]])
    elif output.format == "shell":
        # Exact bytes for eval; on a terminal, control characters show as escapes instead.
        for key in keys:
            value = human(view.get(key), escape=env.stdout_isatty)
            print(f"{shell_name(output.prefix, key)}={shell_value(value)}", file=env.stdout)
    else:
        _table(env, ["Field", "Value"], [[safe_text(k), human(view.get(k))] for k in keys])


def render_image(env, output: OutputOptions, record: Mapping, *, show: Sequence[str] = ()) -> None:
    """One image, as Glance shows it; its widest fields only with --long, or when in ``show``."""
    render_one(env, output, records.image_view(record),
               wide=[f for f in IMAGE_WIDE_FIELDS if f not in show])


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
    elif output.format in ("json", "yaml"):
        keys = None  # every field, exactly as Glance names them
    else:
        keys = list(table_columns)
    if output.format in ("json", "yaml"):
        _document(env, output, [dict(v) if keys is None else {k: v.get(k) for k in keys} for v in views])
        return
    _render_rows(env, output, keys, [[v.get(k) for k in keys] for v in views])


def _render_rows(env, output: OutputOptions, keys: Sequence[str], rows: list[Sequence]) -> None:
    """Rows of raw values, one for each of ``keys``, as -f value, csv or a table."""
    if output.human_readable:
        rows = [list(map(_human_sized, keys, row)) for row in rows]
    if output.format == "value":
        _value_lines(env, rows)
        return
    if output.format == "csv":
        _csv(env, [safe_text(heading(k)) for k in keys], _all_cells(rows))
    else:
        _table(env, [safe_text(heading(k)) for k in keys], rows)


class ListOutput:
    """How a list command prints, planned before it reads: ``keep`` each record, then print.

    ``keep`` holds only what will be printed -- an ID, a few fields, a record's
    JSON -- so a listing of 100,000 records never holds them all whole.
    ``view`` makes the record a user sees; ``plain_fields`` are the keys a
    view copies straight from the record, which need no view at all;
    ``json_items`` keeps a record's JSON list item when it is not ``view``'s
    (a ``renderings.ImageItems``, which the listing may read from the store).
    """

    def __init__(self, env, output: OutputOptions, table_columns: Sequence[str], *,
                 view: Callable[[Mapping], Mapping], plain_fields: Iterable[str],
                 json_items: Callable[[Mapping], bytes] | None = None):
        self.env, self.output, self.table_columns = env, output, table_columns
        plain = tuple(plain_fields)
        from glancectl.listing import FieldValues  # a list command has it loaded already

        if output.quiet:
            self.keep, self._emit = FieldValues(("id",)), self._ids
        elif output.format == "json" and not output.columns and not output.noindent:
            self.keep = json_items or ListItems(view)
            self._emit = functools.partial(_write_json_list, env)
        elif (keys := self._plain_keys(plain)) is not None:
            self.keep = FieldValues(keys)
            chosen = self._chosen(keys)
            if output.format in ("json", "yaml"):
                self._emit = lambda rows: render_many(
                    env, output, [dict(zip(keys, row)) for row in rows], table_columns)
            elif chosen == list(keys):
                self._emit = lambda rows: _render_rows(env, output, chosen, rows)
            else:  # -c named them in another order, or more than once
                columns = [keys.index(k) for k in chosen]
                self._emit = lambda rows: _render_rows(
                    env, output, chosen, [[row[i] for i in columns] for row in rows])
        else:
            self.keep = view
            self._emit = lambda views: render_many(env, output, views, table_columns)

    def _plain_keys(self, plain: tuple[str, ...]) -> tuple[str, ...] | None:
        """The keys to print when every one comes straight from the record, else None."""
        if not self.output.columns:
            if self.output.format not in ("table", "value", "csv"):
                return None  # whole records
            return tuple(self.table_columns) if set(self.table_columns) <= set(plain) else None
        by_name = {_normalise(k): k for k in plain}
        by_name.update({_normalise(heading(k)): k for k in plain})
        keys = tuple(by_name.get(_normalise(name)) for name in self.output.columns)
        return None if None in keys else tuple(dict.fromkeys(keys))

    def _chosen(self, keys: tuple[str, ...]) -> list[str]:
        """The keys in the order ``-c`` named them (repeats kept), as ``render_many`` prints them."""
        if not self.output.columns:
            return list(keys)
        return select_columns(self.env, self.output.columns, [dict.fromkeys(keys)], keys)

    def _ids(self, rows: Sequence[tuple[str]]) -> None:
        self.env.stdout.write("".join(f"{i}\n" for (i,) in rows))

    def emit(self, fetch: Callable[[Callable[[Mapping], object]], Sequence]) -> None:
        """Print what ``fetch(keep)`` lists.

        No cyclic garbage collection from the first record read to the last line
        printed: records and rows hold no cycles, and a collection on the way
        would walk every row held so far.
        """
        with collector_paused():
            self._emit(fetch(self.keep))
