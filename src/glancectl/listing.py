"""Glance v2 list semantics over plain records: filters, sorting, paging. No I/O."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from glancectl.errors import InvalidValue, MarkerNotFound
from glancectl.lifecycle import ImageStatus
from glancectl.records import CONTAINER_FORMATS, DISK_FORMATS, VISIBILITIES, parse_time

IMAGE_SORT_KEYS = (
    "name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at",
)
TASK_SORT_KEYS = ("type", "status", "id", "created_at", "updated_at")
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


def sort_records(records: list[dict], keys: list[SortKey]) -> list[dict]:
    # Stable sorts applied from the last key to the first; None sorts before any value.
    for sort_key in reversed(keys):
        records.sort(key=lambda r, k=sort_key.key: _sort_value(r, k),
                     reverse=sort_key.descending)
    return records


def page(records: list[dict], *, marker: str | None, limit: int | None) -> list[dict]:
    if marker:
        for index, record in enumerate(records):
            if record["id"] == marker:
                records = records[index + 1:]
                break
        else:
            raise MarkerNotFound(f"marker {marker} could not be found")
    if limit is not None:
        records = records[:limit]
    return records


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
        status = record.get("status")
        if "status" not in self.exact and not self.include_deleted and status in HIDDEN_BY_DEFAULT:
            return False
        for key, wanted in self.exact.items():
            if record.get(key) not in wanted:
                return False
        if self.visibility is not None and record.get("visibility") != self.visibility:
            return False
        if self.owner is not None and record.get("owner") != self.owner:
            return False
        if self.tags and not set(self.tags) <= set(record.get("tags") or ()):
            return False
        props = record.get("properties") or {}
        if any(props.get(k) != v for k, v in self.properties.items()):
            return False
        size = record.get("size")
        if self.size_min is not None and (size is None or size < self.size_min):
            return False
        if self.size_max is not None and (size is None or size > self.size_max):
            return False
        if self.created_at and not self.created_at.matches(record.get("created_at")):
            return False
        if self.updated_at and not self.updated_at.matches(record.get("updated_at")):
            return False
        if self.protected is not None and bool(record.get("protected")) != self.protected:
            return False
        # Hidden images are left out unless asked for, as in Glance.
        hidden = bool(record.get("os_hidden"))
        if hidden != bool(self.os_hidden):
            return False
        return True
