"""A listing's quick paths (columns taken in C, the default order by created_at alone, one
printable test for every row) give exactly what the plain per-record rules give."""

from __future__ import annotations

import random
import uuid
from types import MappingProxyType

import pytest

from glancectl.cli import output
from glancectl.cli.output import _all_cells, _cells, _write_plain_table
from glancectl.listing import FieldValues, TASK_SORT_KEYS, _sort_value, parse_sort, select, select_batches
from glancectl.errors import MarkerNotFound

COLUMNS = ("id", "type", "status", "owner")
SORTS = [None, "created_at:asc", "created_at:asc,id:desc", "status:asc,created_at", "id",
         "updated_at", "type,status:asc"]


def _records(count: int, *, seed: int, ties: bool | str, odd: bool) -> list[dict]:
    """Tasks as glancectl writes them; with ``ties`` many share a created_at (and created_ns),
    with ties="created_at" only a created_at, as a script's burst of creates leaves them;
    with ``odd`` some lack created_at, created_ns or owner, as older or restored records may."""
    rng = random.Random(seed)
    stamps = [f"2026-01-01T00:{m:02d}:{s:02d}Z" for m in range(60) for s in range(60)]
    out = []
    for i in range(count):
        record = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": rng.choice(("import", "api_image_import")),
            "status": rng.choice(("pending", "success", "failure")),
            "owner": rng.choice(("root", "alice")),
            "created_at": rng.choice(stamps[:20]) if ties else stamps[i],
            "created_ns": rng.choice((1, 2)) if ties is True else i,
            "updated_at": rng.choice(stamps[:30]),
        }
        if odd and i % 5 == 0:
            del record["created_ns"]
        if odd and i % 7 == 0:
            record["created_at"] = None
        if odd and i % 11 == 0:
            del record["owner"]
        out.append(record)
    return out


def _reference(records, sort, *, marker=None, limit=None) -> list[tuple]:
    """The rules one record at a time: stable sorts from the last key to the first."""
    rows = list(records)
    for key in reversed(parse_sort(sort, TASK_SORT_KEYS, "created_at:desc")):
        rows.sort(key=lambda r, name=key.key: _sort_value(r, name), reverse=key.descending)
    start = 0
    if marker:
        start = [r["id"] for r in rows].index(marker) + 1
    end = None if limit is None else start + limit
    return [tuple(r.get(k) for k in COLUMNS) for r in rows[start:end]]


@pytest.mark.parametrize("ties", [False, "created_at", True])
@pytest.mark.parametrize("odd", [False, True])
@pytest.mark.parametrize("sort", SORTS)
def test_select_in_columns_matches_the_rules_one_record_at_a_time(ties, odd, sort):
    records = _records(300, seed={False: 0, "created_at": 2, True: 4}[ties] + odd, ties=ties, odd=odd)
    keys = parse_sort(sort, TASK_SORT_KEYS, "created_at:desc")
    expected = _reference(records, sort)
    shards = [records[i:i + 37] for i in range(0, len(records), 37)]
    assert select_batches(iter(shards), keys, keep=FieldValues(COLUMNS)) == expected
    assert select(iter(records), keys, keep=FieldValues(COLUMNS)) == expected
    # Not dicts, and a keep of its own: every value one record at a time.
    proxies = [MappingProxyType(r) for r in records]
    assert select(proxies, keys, keep=lambda r: tuple(r.get(k) for k in COLUMNS)) == expected
    assert [r["id"] for r in select(records, keys)] == [row[0] for row in expected]


@pytest.mark.parametrize("ties", [False, "created_at", True])
@pytest.mark.parametrize("sort", SORTS)
def test_select_over_a_stores_shards_uses_their_columns_and_gives_the_same(ties, sort):
    from glancectl.store import Shard

    records = _records(300, seed=7, ties=ties, odd=False)
    for record in records[::4]:
        del record["created_ns"]  # older records: the store's column says 0 for them
    keys = parse_sort(sort, TASK_SORT_KEYS, "created_at:desc")
    shards = []
    for start in range(0, len(records), 37):
        chunk = records[start:start + 37]
        shards.append(Shard(chunk, {"id": tuple(r["id"] for r in chunk),
                                    "status": tuple(r["status"] for r in chunk),
                                    "created_at": tuple(r["created_at"] for r in chunk),
                                    "created_ns": [r.get("created_ns", 0) for r in chunk]}))
    assert select_batches(iter(shards), keys, keep=FieldValues(COLUMNS)) == _reference(records, sort)
    # A plain list among them (a filtered shard) has no columns: taken as before.
    shards[1] = list(shards[1])
    assert select_batches(iter(shards), keys, keep=FieldValues(COLUMNS)) == _reference(records, sort)


def test_a_record_without_created_at_later_on_still_sorts_first_when_ascending():
    records = _records(100, seed=3, ties=False, odd=False)
    records[-1]["created_at"] = None
    shards = [records[:50], records[50:]]
    listed = select_batches(shards, parse_sort("created_at:asc", TASK_SORT_KEYS, ""),
                            keep=FieldValues(COLUMNS))
    assert listed[0][0] == records[-1]["id"]
    assert listed == _reference(records, "created_at:asc")


@pytest.mark.parametrize("sort", [None, "status:asc,created_at"])
def test_marker_and_limit_page_the_sorted_listing(sort):
    records = _records(120, seed=9, ties=True, odd=True)
    keys = parse_sort(sort, TASK_SORT_KEYS, "created_at:desc")
    everything = _reference(records, sort)
    marker = everything[40][0]
    assert select(records, keys, marker=marker, limit=7, keep=FieldValues(COLUMNS)) == \
        _reference(records, sort, marker=marker, limit=7)
    assert select(records, keys, limit=0, keep=FieldValues(COLUMNS)) == []
    with pytest.raises(MarkerNotFound):
        select(records, keys, marker=str(uuid.UUID(int=1, version=4)))


def test_field_values_of_one_key_are_one_value_tuples():
    records = _records(10, seed=1, ties=False, odd=True)
    assert list(FieldValues(["owner"]).many(records)) == [(r.get("owner"),) for r in records]
    assert list(FieldValues(COLUMNS).many(records)) == [FieldValues(COLUMNS)(r) for r in records]


@pytest.mark.parametrize("rows", [
    [("a", "b"), ("c", "d")],
    [("a", "evil\x1b[31m"), ("c", "d")],
    [("a", "line\nbreak")],
    [("tab\there", "x")],
    [("del\x7f", "x")],
    [("ünïcode", "x"), ("c", "d")],
    [("ünïcode", "\x85 next line")],
    [("a", None), ("c", 42)],
    [("a", ["x", "y"])],
    [],
])
def test_one_printable_test_for_every_row_matches_one_per_row(rows):
    assert [list(row) for row in _all_cells(rows)] == [list(_cells(row)) for row in rows]


def _plain_table_one_row_at_a_time(headers, rows) -> str:
    """The plain table's rule: every cell as _cells shows it, each column as wide as its
    widest cell or heading, a row a line, printf-style as openstackclient prints it."""
    cells = [list(_cells(row)) for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    line = "| " + " | ".join(f"%-{w}s" for w in widths) + " |"
    return "\n".join([rule, line % tuple(headers), rule, *(line % tuple(r) for r in cells), rule]) + "\n"


@pytest.mark.parametrize("rows", [
    [("a", "b"), ("c", "d")],
    [("same", "x"), ("also", "yy"), ("four", "zzz")],  # one width, narrower than its heading
    [("a-much-longer-cell-than-its-heading", "b")],
    [("a", "evil\x1b[31m"), ("c", "d")],
    [("a", "line\nbreak"), ("bb", "c")],
    [("tab\there", "x")],
    [("del\x7f", "x"), ("ok", "y")],
    [("ünïcode", "x"), ("c", "d")],
    [("ünïcode", "\x85 next line")],
    [("a", None), ("c", 42), ("d", True)],
    [("a", ["x", "y"]), ("b", {"k": 1})],
    [("", ""), ("", "")],
    [],
])
def test_the_plain_table_a_column_at_a_time_matches_one_row_at_a_time(rows, monkeypatch):
    headers = ["ID", "Heading"]
    for chunk in (1000, 1):  # one chunk, and a chunk a row (a printable row beside one that is not)
        monkeypatch.setattr(output, "_TABLE_CHUNK", chunk)
        written = []
        _write_plain_table(written.append, headers, rows)
        assert "".join(written) == _plain_table_one_row_at_a_time(headers, rows)


def test_the_plain_table_of_a_long_listing_matches_one_row_at_a_time():
    records = _records(2500, seed=5, ties=False, odd=True)  # three chunks; some owners missing
    rows = [tuple(r.get(k) for k in COLUMNS) for r in records]
    rows[1700] = (rows[1700][0], "import\x1b[2J", *rows[1700][2:])  # one chunk not printable
    written = []
    _write_plain_table(written.append, list(COLUMNS), rows)
    assert "".join(written) == _plain_table_one_row_at_a_time(list(COLUMNS), rows)
