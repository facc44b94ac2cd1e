"""Summaries: what a listing reads of each record, kept beside its shard.

Parsing every record whole (a task's input, result and message; an image's
locations, properties and tags) and checking its shape took most of a long
listing's time, so the writers keep the listed fields of each shard's
records (``records.TASK_LISTED_FIELDS``, ``records.IMAGE_LISTED_FIELDS``) as
a sidecar (``sidecars``: when one is trusted, and how it is written) under
``summaries/``::

    <xx>.<table>   the sidecar header, with "count", then {"id": [...], "status": [...], ...}:
                   each field's values in the shard's order (created_ns 0 where a record has none)

A listing that finds a shard's summary fitting, and needs no other field,
reads it and never opens the shard. A summary is only written from records
read through the shape check (or made by glancectl), and only when it reads
back exactly as they are, so it holds what the shard would give.
"""

from __future__ import annotations

import json
from itertools import repeat
from types import NoneType
from typing import Callable, Mapping

from glancectl.sidecars import Encoded, Sidecars
from glancectl.storage import bulk_loads
from glancectl.store import ColumnRecords


class Summaries(Sidecars):
    VERSION = 2  # bump whenever the listed fields or the encoding change
    IF_STALE = "listings read those shards whole"

    def __init__(self, directory, table: str, *, fields: tuple[str, ...],
                 statuses: frozenset[str], kinds: Mapping[str, frozenset[type]]):
        """Of the shards of ``table``: ``fields``, what is kept of each record; ``kinds``, the
        types a field's values may be (what the shape check allows), for the fields a
        listing sorts or compares."""
        super().__init__(directory)
        self.SUFFIX = f".{table}"
        self.SHARDS = f"{table[:-1]} shard"
        self.fields = fields
        self.statuses = statuses
        self.kinds = kinds

    def encode(self, stored: list) -> Encoded | None:
        columns = {field: list(map(dict.get, stored, repeat(field))) for field in self.fields}
        columns["created_ns"] = list(map(dict.get, stored, repeat("created_ns"), repeat(0)))
        try:
            body = _dumps(columns)
        except (TypeError, ValueError):  # an integer past 64 bits, a lone surrogate, NaN
            return None
        if bulk_loads()(body) != columns:  # a value JSON does not give back as it was (NaN)
            return None
        return body, {"count": len(stored)}

    def encode_written(self, stored: list, read_back: Callable[[], list]) -> Encoded | None:
        """The records as written, unless orjson cannot write one of them as it is (an
        integer past 64 bits, which a listing reads back as a float): then as read back,
        as doctor derives the summary from the shard."""
        return self.encode(stored) or self.encode(read_back())

    def decode(self, fields: dict, body: memoryview, count: int | None) -> ColumnRecords | None:
        """The summary's columns, if they are what ``encode`` writes (of ``count`` records)."""
        columns = bulk_loads()(body)
        size = fields["count"]
        if not (type(columns) is dict and tuple(columns) == self.fields
                and type(size) is int and count in (None, size)
                and set(map(type, columns.values())) <= {list}
                and set(map(len, columns.values())) <= {size}
                and self.statuses.issuperset(columns["status"])
                and all(set(map(type, columns[field])) <= kinds for field, kinds in self.kinds.items())):
            return None
        return ColumnRecords(columns)


TEXT = frozenset({str})
TEXT_OR_NULL = frozenset({str, NoneType})


def _dumps(columns: dict) -> bytes:
    try:
        import orjson
    except ImportError:
        return json.dumps(columns, ensure_ascii=False, allow_nan=False).encode()
    return orjson.dumps(columns)
