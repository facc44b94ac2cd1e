"""Task summaries: what ``task list`` reads of each task, kept beside its shard.

Parsing every task whole (its input, result and message too) and checking
its shape took most of a long task listing's time, so the writers keep the
listed fields of each shard's tasks (``records.TASK_LISTED_FIELDS``) as a
sidecar (``sidecars``: when one is trusted, and how it is written) under
``summaries/``::

    <xx>.columns   the sidecar header, with "count", then {"id": [...], "type": [...], ...}:
                   each field's values in the shard's order (created_ns 0 where a task has none)

A listing that finds a shard's summary fitting reads it and never opens the
shard. A summary is only written from records read through the shape check
(or made by glancectl), and only when it reads back exactly as they are, so
it holds what the shard would give.
"""

from __future__ import annotations

import json
from itertools import repeat
from types import NoneType
from typing import Callable

from glancectl.lifecycle import TaskStatus
from glancectl.records import TASK_LISTED_FIELDS
from glancectl.sidecars import Encoded, Sidecars
from glancectl.storage import bulk_loads
from glancectl.store import ColumnRecords

_STATUSES = frozenset(str(s) for s in TaskStatus)
_TEXTS = ("id", "created_at", "updated_at")  # every task's, checked to be text


class TaskSummaries(Sidecars):
    VERSION = 1  # bump whenever TASK_LISTED_FIELDS or the encoding changes
    SUFFIX = ".columns"
    SHARDS = "task shard"
    IF_STALE = "'task list' reads those shards whole"

    def encode(self, stored: list) -> Encoded | None:
        columns = {field: list(map(dict.get, stored, repeat(field))) for field in TASK_LISTED_FIELDS}
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
        """The summary's columns, if they are what ``encode`` writes (of ``count`` tasks)."""
        columns = bulk_loads()(body)
        size = fields["count"]
        if not (type(columns) is dict and tuple(columns) == TASK_LISTED_FIELDS
                and type(size) is int and count in (None, size)
                and set(map(type, columns.values())) == {list}
                and set(map(len, columns.values())) == {size}
                and _STATUSES.issuperset(columns["status"])
                and set(map(type, columns["created_ns"])) <= {int}
                and set(map(type, columns["type"])) <= {str, NoneType}):
            return None
        for field in _TEXTS:
            "".join(columns[field])  # TypeError (the summary does not fit) unless all are text
        return ColumnRecords(columns)


def _dumps(columns: dict) -> bytes:
    try:
        import orjson
    except ImportError:
        return json.dumps(columns, ensure_ascii=False, allow_nan=False).encode()
    return orjson.dumps(columns)
