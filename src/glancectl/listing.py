"""Glance v2 list semantics over plain records: filters, sorting, paging. No I/O."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Callable, Iterable, Mapping, Sequence

from glancectl.errors import InvalidValue, MarkerNotFound
from glancectl.lifecycle import ImageStatus
from glancectl.records import (  # noqa: F401 (the sort keys are this module's too)
    CONTAINER_FORMATS, DISK_FORMATS, IMAGE_SORT_KEYS, TASK_SORT_KEYS, VISIBILITIES, parse_time,
)

HIDDEN_BY_DEFAULT = frozenset({"deleted", "pending_delete", "killed"})
# Filters over a fixed set of values: any other value is a mistake, as Glance's 400 says,
# never a filter that quietly matches nothing.
KNOWN_FILTER_VALUES = {
    "status": tuple(s.value for s in ImageStatus),
    "disk_format": DISK_FORMATS,
    "container_format": CONTAINER_FORMATS,
    "visibility": VISIBILITIES,
}
_TIME_OPS = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le, "eq": operator.eq, "neq": operator.ne,
}


@dataclass(frozen=True)
class TimeFilter:
    op: str
    when: object  # datetime

    @classmethod
    def parse(cls, text: str, what: str) -> "TimeFilter":
        op, sep, when = text.partition(":")
        if not sep or op not in _TIME_OPS:
            raise InvalidValue(
                f"{what} expects OP:TIME with OP one of {', '.join(_TIME_OPS)} "
                f"(e.g. gte:2026-01-01T00:00:00Z), got '{text}'"
            )
        return cls(op, parse_time(when))

    def matches(self, value: str | None) -> bool:
        return value is not None and _TIME_OPS[self.op](parse_time(value), self.when)


@dataclass(frozen=True)
class SortKey:
    key: str
    descending: bool


def parse_sort(text: str | None, allowed: Iterable[str], default: str) -> list[SortKey]:
    """``name:asc,size`` -> keys; a key without a direction sorts descending, as in Glance."""
    allowed = tuple(allowed)
    keys: list[SortKey] = []
    for part in (text or default).split(","):
        key, _, direction = part.strip().partition(":")
        if key not in allowed:
            raise InvalidValue(f"Invalid sort key: '{key}'. Valid keys: {', '.join(allowed)}")
        if direction not in ("", "asc", "desc"):
            raise InvalidValue(f"Invalid sort direction: '{direction}'. Use asc or desc")
        keys.append(SortKey(key, direction != "asc"))
    if "id" not in {k.key for k in keys}:
        keys.append(SortKey("id", keys[-1].descending))  # a stable tie-breaker, like Glance
    return keys


def glance_sort(sort: str | None, keys: Sequence[str], dirs: Sequence[str]) -> str:
    """Glance's older sort_key/sort_dir pairs as one ``sort`` value, with Glance's wording.

    One direction applies to every key; none leaves each key's default (desc).
    """
    if sort:
        raise InvalidValue("Old and new sorting syntax cannot be combined")
    keys = list(keys) or ["created_at"]
    if len(dirs) == 1:
        dirs = list(dirs) * len(keys)
    elif len(dirs) not in (0, len(keys)):
        raise InvalidValue("Number of sort dirs does not match the number of sort keys")
    return ",".join(f"{key}:{direction}" if direction else key
                    for key, direction in zip(keys, [*dirs] or [""] * len(keys)))


# Times print at Glance's one-second resolution; a hidden finer key keeps the order of
# records made within one second (absent from records an older glancectl wrote).
FINER_SORT_KEYS = {"created_at": "created_ns"}


def _sort_value(record: Mapping, key: str) -> tuple:
    value = record.get(key)
    finer = record.get(FINER_SORT_KEYS[key], 0) if key in FINER_SORT_KEYS else 0
    return (value is not None, value if value is not None else 0, finer)


def select(records: Iterable[Mapping], keys: list[SortKey], *, marker: str | None = None,
           limit: int | None = None, keep: Callable[[Mapping], object] | None = None) -> list:
    """Sort and page ``records``, returning ``keep(record)`` for each (the record by default).

    Only each record's sort values, ID and what ``keep`` returns are held, so a
    listing that prints a column does not hold every record whole. Keys that
    all sort one way take one sort pass; None sorts before any value.
    """
    sort_values = _sort_values([k.key for k in keys])
    if keep is None:
        rows = [(sort_values(r), r["id"], r) for r in records]
    else:
        rows = [(sort_values(r), r["id"], keep(r)) for r in records]
    if all(k.descending == keys[0].descending for k in keys):
        rows.sort(key=itemgetter(0), reverse=keys[0].descending)
    else:  # stable sorts from the last key to the first
        for index in reversed(range(len(keys))):
            rows.sort(key=lambda row, i=3 * index: row[0][i:i + 3], reverse=keys[index].descending)
    start = 0
    if marker:
        start = next((i + 1 for i, row in enumerate(rows) if row[1] == marker), None)
        if start is None:
            raise MarkerNotFound(f"marker {marker} could not be found")
    end = None if limit is None else start + limit
    return [row[2] for row in rows[start:end]]


def _sort_values(names: list[str]) -> Callable[[Mapping], tuple]:
    """``_sort_value`` of every key, flat, as one tuple."""
    if names == ["created_at", "id"]:  # the default, written out: a listing runs it per record
        finer = FINER_SORT_KEYS["created_at"]
        return lambda r: ((a := r.get("created_at")) is not None, a if a is not None else 0,
                          r.get(finer, 0), (b := r.get("id")) is not None, b if b is not None else 0, 0)
    return lambda r: tuple(v for name in names for v in _sort_value(r, name))


def check_filter_value(what: str, value: str, allowed: Iterable[str]) -> str:
    """One place for every face (the CLI, the API) to refuse a filter value outside its set."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidValue(f"Invalid {what} value: '{value}'. Valid values: {', '.join(allowed)}")
    return value


def _in_filter(value: str) -> frozenset[str]:
    """Glance's exact match, or ``in:a,b`` for any of several."""
    if value.startswith("in:"):
        values = frozenset(v for v in value[3:].split(",") if v)
        if not values:
            raise InvalidValue(f"'{value}' names no values; use in:VALUE,VALUE")
        return values
    return frozenset({value})


@dataclass(frozen=True)
class ImageFilter:
    exact: Mapping[str, frozenset] = field(default_factory=dict)  # name, id, status, formats...
    visibility: str | None = None
    owner: str | None = None
    tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    size_min: int | None = None
    size_max: int | None = None
    created_at: TimeFilter | None = None
    updated_at: TimeFilter | None = None
    protected: bool | None = None
    os_hidden: bool | None = None
    include_deleted: bool = False

    def __post_init__(self) -> None:
        chosen = {**self.exact, "visibility": () if self.visibility is None else (self.visibility,)}
        for key, allowed in KNOWN_FILTER_VALUES.items():
            for value in sorted(chosen.get(key, ())):
                check_filter_value(key, value, allowed)

    @classmethod
    def build(cls, *, exact: Mapping[str, str | None], **kwargs) -> "ImageFilter":
        return cls(exact={k: _in_filter(v) for k, v in exact.items() if v is not None}, **kwargs)

    def matches(self, record: Mapping) -> bool:
        return self.predicate(record)

    @cached_property
    def predicate(self) -> Callable[[Mapping], bool]:
        """``matches`` with only the tests this filter needs: a listing runs it on every record."""
        tests: list[Callable[[Mapping], bool]] = []
        if "status" not in self.exact and not self.include_deleted:
            tests.append(lambda r: r.get("status") not in HIDDEN_BY_DEFAULT)
        for key, wanted in self.exact.items():
            tests.append(lambda r, key=key, wanted=wanted: r.get(key) in wanted)
        if self.visibility is not None:
            tests.append(lambda r: r.get("visibility") == self.visibility)
        if self.owner is not None:
            tests.append(lambda r: r.get("owner") == self.owner)
        if self.tags:
            tags = set(self.tags)
            tests.append(lambda r: tags <= set(r.get("tags") or ()))
        if self.properties:
            tests.append(lambda r: all((r.get("properties") or {}).get(k) == v
                                       for k, v in self.properties.items()))
        if self.size_min is not None:
            tests.append(lambda r: r.get("size") is not None and r["size"] >= self.size_min)
        if self.size_max is not None:
            tests.append(lambda r: r.get("size") is not None and r["size"] <= self.size_max)
        for key in ("created_at", "updated_at"):
            when = getattr(self, key)
            if when:
                tests.append(lambda r, key=key, when=when: when.matches(r.get(key)))
        if self.protected is not None:
            tests.append(lambda r: bool(r.get("protected")) == self.protected)
        # Hidden images are left out unless asked for, as in Glance.
        hidden = bool(self.os_hidden)
        tests.append(lambda r: bool(r.get("os_hidden")) == hidden)
        if len(tests) == 1:
            return tests[0]
        if len(tests) == 2:
            first, second = tests
            return lambda r: first(r) and second(r)

        def every(record: Mapping) -> bool:
            for test in tests:
                if not test(record):
                    return False
            return True

        return every
