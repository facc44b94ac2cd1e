"""Glance v2 list semantics over plain records: filters, sorting, paging. No I/O."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from functools import cached_property, partial
from itertools import compress, islice, repeat
from operator import is_not, itemgetter
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

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
    records = iter(records)
    batches = iter(lambda: list(islice(records, _BATCH)), [])
    return select_batches(batches, keys, marker=marker, limit=limit, keep=keep)


_BATCH = 1024  # records taken at a time from a plain iterable: the C-level steps' unit


class KeptBatch(NamedTuple):
    """A batch of records for ``select_batches`` whose kept values are already known."""

    records: list[Mapping]
    kept: list


def select_batches(batches: Iterable[list[Mapping] | KeptBatch], keys: list[SortKey], *,
                   marker: str | None = None, limit: int | None = None,
                   keep: Callable[[Mapping], object] | None = None) -> list:
    """``select`` over records that come a list at a time (a store's shards).

    Each list's sort values, IDs and kept values are taken a column at a time
    where they can be (``FieldValues``, the default sort, a ``keep`` with a
    ``many`` for a whole list), not a call per record, and the listing is
    sorted as positions into those columns. A list may carry ``columns``
    already taken (a store's ``Shard``): field -> its records' values in
    order, checked to be of the type every record holds (id and created_at
    text, created_ns a whole number, 0 where absent); those are not taken again.
    """
    sort_values = _SortValues([k.key for k in keys])
    ids: list = []
    kept: list = []
    many = getattr(keep, "many", None)
    for batch in batches:
        if type(batch) is KeptBatch:
            batch, ready = batch
            kept += ready
        elif keep is None:
            kept += batch
        elif many is not None:
            kept += many(batch)
        else:
            kept += map(keep, batch)
        columns = getattr(batch, "columns", None) or {}
        batch_ids = columns.get("id") or list(map(_ID, batch))
        ids += batch_ids
        sort_values.add(batch, batch_ids, columns)
    order = sort_values.order([k.descending for k in keys])
    start = 0
    if marker:
        try:
            start = list(map(ids.__getitem__, order)).index(marker) + 1
        except ValueError:
            raise MarkerNotFound(f"marker {marker} could not be found") from None
    end = None if limit is None else start + limit
    return list(map(kept.__getitem__, order[start:end]))


_ID = itemgetter("id")


class FieldValues:
    """A ``keep`` for ``select``: a record's values of ``keys`` (None when absent), as a tuple.

    ``select`` takes them for a whole list of records in one C-level pass when
    every record has every key, as glancectl writes them.
    """

    def __init__(self, keys: Sequence[str]):
        self.keys = tuple(keys)
        self._get = itemgetter(*self.keys)

    def __call__(self, record: Mapping) -> tuple:
        return tuple(map(record.get, self.keys))

    def many(self, records: list[Mapping]) -> Iterable[tuple]:
        values_of = getattr(records, "values_of", None)  # records held as columns (a summary)
        if values_of is not None and (values := values_of(self.keys)) is not None:
            return values
        try:
            values = list(map(self._get, records))
        except KeyError:  # a record without one of them: None for it, as one at a time
            return map(self, records)
        return values if len(self.keys) > 1 else zip(values)


class _SortValues:
    """Every record's ``_sort_value`` of each key, flat, as one tuple, and the order they give.

    For the default sort they are kept as columns (created_at, created_ns, id)
    while no record lacks created_at or its ID, and made tuples only if they
    are needed.
    """

    def __init__(self, names: list[str]):
        self.columns = names == ["created_at", "id"]
        if self.columns:  # the default, written out: a listing runs it per record
            finer = FINER_SORT_KEYS["created_at"]
            self.one = lambda r: ((a := r.get("created_at")) is not None, a if a is not None else 0,
                                  r.get(finer, 0), (b := r.get("id")) is not None,
                                  b if b is not None else 0, 0)
        else:
            self.one = lambda r: tuple(v for name in names for v in _sort_value(r, name))
        self.values: list[tuple] = []
        self.created: list = []
        self.finer: list = []
        self.ids: list = []
        self.checked = True  # every created_at is text and every created_ns a whole number

    def add(self, records: list[Mapping], ids: Sequence, columns: Mapping[str, Sequence]) -> None:
        """Take the sort values of ``records``, whose IDs are ``ids``; ``columns`` as
        ``select_batches`` takes them."""
        finer = FINER_SORT_KEYS["created_at"]
        if self.columns and "created_at" in columns and finer in columns:
            self.created += columns["created_at"]
            self.finer += columns[finer]
            self.ids += ids
            return
        self.checked = False
        if self.columns:
            try:
                created = list(map(dict.get, records, repeat("created_at")))
            except TypeError:  # not dicts
                created = [None]
            if all(map(is_not, created, repeat(None))) and all(map(is_not, ids, repeat(None))):
                self.created += created
                self.finer += map(dict.get, records, repeat(finer), repeat(0))
                self.ids += ids
                return
            self._as_tuples()
        self.values += map(self.one, records)

    def _as_tuples(self) -> None:
        """The columns as the tuples ``one`` gives (no created_at or ID in them is None)."""
        if self.columns:
            self.values = list(zip(repeat(True), self.created, self.finer, repeat(True), self.ids,
                                   repeat(0)))
            self.columns = False

    def order(self, descending: list[bool]) -> list[int]:
        """The records' positions, sorted by their sort values; ``descending`` for each key.

        The default order is taken a column at a time, each column of one type
        (texts, integers), which compare many times quicker than tuples: stable
        sorts from the last column to the first, where the ID matters only if
        two records share a created_ns. The created_at pass then finds the order
        all but made, as created_ns is read from the same clock as created_at.
        """
        if self.columns and len(set(descending)) == 1 and (self.checked or (
                set(map(type, self.created)) <= {str} and set(map(type, self.finer)) <= {int})):
            columns = [self.created, self.finer]
            if len(set(self.finer)) < len(self.finer):
                columns.append(self.ids)
            if columns[-1] is self.finer or set(map(type, self.ids)) <= {str}:
                order = list(range(len(self.created)))
                for column in reversed(columns):
                    order.sort(key=column.__getitem__, reverse=descending[0])
                return order
        self._as_tuples()
        values = self.values
        order = list(range(len(values)))
        if len(set(descending)) <= 1:
            order.sort(key=values.__getitem__, reverse=bool(descending and descending[0]))
        else:  # stable sorts from the last key to the first
            for index in reversed(range(len(descending))):
                order.sort(key=lambda i, s=3 * index: values[i][s:s + 3], reverse=descending[index])
        return order


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
        return self.chosen([record])[0]

    @cached_property
    def fields(self) -> frozenset[str]:
        """The fields this filter reads of a record."""
        return frozenset(field for field, _ in self.tests)

    @cached_property
    def tests(self) -> tuple[tuple[str, Callable[[list], Iterable[bool]]], ...]:
        """The tests this filter makes, and no other: each as (the field it reads, a function
        of that field's values in a list of records, saying which pass). A listing runs them
        on every record, so they take a column at a time, in C where they can."""
        tests: list[tuple[str, Callable[[list], Iterable[bool]]]] = []
        if "status" not in self.exact and not self.include_deleted:
            tests.append(("status", lambda values: map(
                operator.not_, map(HIDDEN_BY_DEFAULT.__contains__, values))))
        for key, wanted in self.exact.items():
            tests.append((key, partial(map, wanted.__contains__)))
        for key in ("visibility", "owner"):
            if getattr(self, key) is not None:
                tests.append((key, partial(_each_is, value=getattr(self, key))))
        if self.tags:
            tags = set(self.tags)
            tests.append(("tags", lambda values: [tags <= set(v or ()) for v in values]))
        if self.properties:
            wanted_properties = self.properties.items()
            tests.append(("properties", lambda values: [
                all((v or {}).get(k) == w for k, w in wanted_properties) for v in values]))
        if self.size_min is not None:
            tests.append(("size", lambda values: [v is not None and v >= self.size_min for v in values]))
        if self.size_max is not None:
            tests.append(("size", lambda values: [v is not None and v <= self.size_max for v in values]))
        for key in ("created_at", "updated_at"):
            when = getattr(self, key)
            if when:
                tests.append((key, partial(map, when.matches)))
        if self.protected is not None:
            tests.append(("protected", partial(_each_is, value=self.protected, by=bool)))
        # Hidden images are left out unless asked for, as in Glance.
        tests.append(("os_hidden", partial(_each_is, value=bool(self.os_hidden), by=bool)))
        return tuple(tests)

    def chosen(self, records: Sequence[Mapping]) -> list[bool]:
        """Which of ``records`` this filter keeps, a test at a time over a column of values
        (from ``columns``, a ``Shard``'s or a summary's, where they hold the field)."""
        columns = getattr(records, "columns", None) or {}
        chosen = None
        for field, test in self.tests:
            values = columns.get(field)
            if values is None:
                values = list(map(dict.get, records, repeat(field)))
            if field in _REFUSING and chosen is not None:
                # Only the records every earlier test kept, as a test a record at a time
                # reaches them: a time no other test lets through is never parsed.
                kept = list(compress(range(len(chosen)), chosen))
                chosen = [False] * len(chosen)
                for index, passed in zip(kept, test(list(map(values.__getitem__, kept)))):
                    chosen[index] = passed
                continue
            passed = test(values)
            chosen = list(passed) if chosen is None else list(map(operator.and_, chosen, passed))
        return chosen


# The fields whose test may refuse a record's value (a time that is no ISO time, which only a
# hand edit leaves): tested only on the records every earlier test kept.
_REFUSING = frozenset({"created_at", "updated_at"})


def _each_is(values: Iterable, *, value, by: Callable | None = None) -> Iterable[bool]:
    """Whether each of ``values`` (made ``by(v)`` first, with ``by``) equals ``value``."""
    return map(operator.eq, values if by is None else map(by, values), repeat(value))
