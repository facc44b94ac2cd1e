"""The store: image and task records in sharded TinyDB files, the data directories, the lock.

Layout under the home::

    store.lock              flock'd by every writer; never replaced
    meta.json               {"schema_version": N}
    images/<xx>.json        TinyDB files; an image lives in the shard named by its id's first two hex digits
    tasks/<xx>.json         the same for tasks
    names/                  the name index of the images (``nameindex``)
    rendered/<xx>.items     each image shard's sidecar: its images' JSON (``renderings``)
    summaries/<xx>.<table>  each shard's sidecar: what a listing reads of its records (``summaries``)
    data/<image id>         image data, complete and synced
    staging/<image id>      data staged for an interoperable import
    leases/<id>.lock        flock'd by the process writing that image's data while it lives

TinyDB rewrites a whole file on each write, so a single-record write costs
one shard (1/256 of the records), which keeps it flat as the store grows.
Readers take no lock: files are only ever replaced atomically.
"""

from __future__ import annotations

import errno
import fcntl
import operator
import os
import uuid
from contextlib import contextmanager, nullcontext
from functools import cache, cached_property, partial
from itertools import chain, compress, repeat
from types import NoneType
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from tinydb import Query, TinyDB

from glancectl.errors import GlancectlError, InvalidValue, NewerSchema, StoreCorrupt, StoreUnavailable
from glancectl.lifecycle import ImageStatus, TaskStatus
from glancectl.records import IMAGE_LISTED_FIELDS, TASK_LISTED_FIELDS
from glancectl.storage import (
    AtomicJSONStorage,
    FILE_MODE,
    StoreLock,
    collector_paused,
    ensure_dir,
    read_json,
    write_atomic,
)

if TYPE_CHECKING:
    from pathlib import Path

    from glancectl.nameindex import NameIndex
    from glancectl.renderings import Renderings
    from glancectl.sidecars import Sidecars
    from glancectl.summaries import Summaries

SCHEMA_VERSION = 1
SHARD_PREFIX_LEN = 2  # 256 shards
DEFAULT_LOCK_TIMEOUT = 30.0
UUID_LEN = 36


def _as_path(root: str) -> Path:
    from pathlib import Path  # only where a Path is wanted: see Store.root

    return Path(root)


def shard_name(record_id: str) -> str:
    """The file, in its table's directory, that holds the record ``record_id``."""
    return f"{checked_uuid(record_id)[:SHARD_PREFIX_LEN]}.json"


def checked_uuid(value: str) -> str:
    """The canonical form of a UUID; the only kind of string ever joined into a path."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError):
        raise InvalidValue(f"'{value}' is not a valid UUID") from None


class Shard(list):
    """One shard's records, with ``columns``: the values ``check_shape`` took from them and
    checked, field by field in record order (the id, the status, the typed fields, and
    created_ns with 0 where a record has none; often the nullable fields too), so that a
    listing need not take them again.

    Whoever replaces a record makes a plain list (``list(shard)``) first: a copy has
    no columns, and so none that could tell of a record no longer there.
    """

    __slots__ = ("columns",)

    def __init__(self, records: Iterable[dict], columns: dict[str, Sequence]):
        super().__init__(records)
        self.columns = columns


class ColumnRecords:
    """One shard's records held as columns (field -> its values in record order), as its
    summary keeps them (``summaries``): a listing takes what it needs from the columns
    (``listing.select_batches``, ``listing.FieldValues``), and a record is made (a dict of
    every field) only when one is asked for. Like a ``Shard``'s, the columns hold created_ns
    as 0 where a record has none.
    """

    __slots__ = ("columns", "_fields")

    def __init__(self, columns: dict[str, list]):
        self.columns = columns
        self._fields = tuple(columns)

    def __len__(self) -> int:
        return len(self.columns["id"])

    def __getitem__(self, index: int) -> dict:
        return dict(zip(self._fields, [values[index] for values in self.columns.values()]))

    def __iter__(self) -> Iterator[dict]:
        return map(dict, map(zip, repeat(self._fields), zip(*self.columns.values())))

    def values_of(self, fields: Sequence[str]) -> Iterator[tuple] | None:
        """Each record's values of ``fields``, as a tuple; None unless they are all held."""
        if not all(map(self.columns.__contains__, fields)):
            return None
        return zip(*map(self.columns.__getitem__, fields))

    def compress(self, chosen: Iterable[bool]) -> ColumnRecords:
        """The records ``chosen`` marks, as ``itertools.compress`` picks them."""
        chosen = list(chosen)
        return ColumnRecords({name: list(compress(values, chosen))
                              for name, values in self.columns.items()})


class ShardedTable:
    """One logical TinyDB table spread over 256 files, keyed by the record's UUID.

    With ``index_dir``, a name index (``nameindex``) is kept beside it by every write;
    with ``renderings_dir``, each shard's renderings (``renderings``); with
    ``summaries_dir``, each shard's summary of its records' ``listed_fields``
    (``summaries``). The last two are sidecars (``sidecars``).
    """

    prefix_len = SHARD_PREFIX_LEN

    def __init__(self, root: str, name: str, statuses: frozenset[str],
                 typed_fields: tuple[tuple[str, type, type | None], ...] = (),
                 nullable_fields: tuple[tuple[str, type], ...] = (),
                 on_change: Callable[[], None] = lambda: None, index_dir: str | None = None,
                 renderings_dir: str | None = None, summaries_dir: str | None = None,
                 listed_fields: tuple[str, ...] = ()):
        """``root``: the table's directory as a string (see ``Store.root``).

        ``typed_fields``: (field, its type, a list's item type) that every record holds.
        ``nullable_fields``: (field, its type) that a record may hold as null or not at all.
        ``on_change`` is called after each write that changed a record.
        """
        self.root = root
        self.name = name
        self._index_dir = index_dir
        self._renderings_dir = renderings_dir
        self._summaries_dir = summaries_dir
        self.listed_fields = listed_fields
        self.statuses = frozenset(str(s) for s in statuses)  # plain str: the cheapest lookup
        self.typed_fields = typed_fields
        self.nullable_fields = nullable_fields
        self._checked_fields = ("id", "status", *(field for field, _, _ in typed_fields))
        self._checked_values = operator.itemgetter(*self._checked_fields)
        self._all_fields = (*self._checked_fields, *(field for field, _ in nullable_fields),
                            "created_ns")
        self._all_values = operator.itemgetter(*self._all_fields)
        self.on_change = on_change

    @cached_property
    def directory(self) -> Path:
        return _as_path(self.root)

    @cached_property
    def names(self) -> NameIndex | None:
        """The name index, made on first use: a read by ID never needs it (start-up)."""
        if self._index_dir is None:
            return None
        from glancectl.nameindex import NameIndex

        return NameIndex(self._index_dir, self)

    @cached_property
    def renderings(self) -> Renderings | None:
        """The shards' renderings, made on first use: a read by ID never needs them."""
        if self._renderings_dir is None:
            return None
        from glancectl.renderings import Renderings

        return Renderings(self._renderings_dir)

    @cached_property
    def summaries(self) -> Summaries | None:
        """The shards' summaries, made on first use: a read by ID never needs them. Their
        values may only be of the types the shape check allows (``check_shape``)."""
        if self._summaries_dir is None:
            return None
        from glancectl.summaries import Summaries

        kinds = {"id": frozenset({str}), "created_ns": frozenset({int})}
        kinds.update((field, frozenset({kind})) for field, kind, item in self.typed_fields
                     if field in self.listed_fields and item is None)
        kinds.update((field, frozenset({kind, NoneType})) for field, kind in self.nullable_fields
                     if field in self.listed_fields)
        return Summaries(self._summaries_dir, self.name, fields=self.listed_fields,
                         statuses=self.statuses, kinds=kinds)

    @property
    def sidecars(self) -> tuple[Sidecars, ...]:
        return tuple(kind for kind in (self.renderings, self.summaries) if kind is not None)

    def shard_path(self, record_id: str) -> Path:
        return self.directory / shard_name(record_id)

    def shard_paths(self) -> list[Path]:
        return [self.directory / name for name in self._shard_names()]

    def _shard_names(self) -> list[str]:
        if not self.directory.is_dir():
            if os.path.lexists(self.directory):  # a file there is not an empty table
                raise StoreCorrupt(self.directory, "not a directory")
            return []
        # Names, not Path.glob: a listing reads every shard, and glob costs a Path per entry.
        try:
            names = os.listdir(self.directory)
        except PermissionError:  # never an empty table: a listing would say there is nothing
            raise StoreUnavailable(f"permission denied reading store directory {self.directory}") from None
        suffix = ".json"
        return [name for name in sorted(names)
                if len(name) == SHARD_PREFIX_LEN + len(suffix) and name.endswith(suffix)]

    def storage(self, path: str | Path, *, bulk: bool = False) -> AtomicJSONStorage:
        """A shard's file for TinyDB and whole-document reads: like ``shards``, it checks
        the records' shape on the way in."""
        return AtomicJSONStorage(path, check=self.check_shape, bulk=bulk)

    def check_shape(self, path: str | Path, document: dict) -> dict[str, Sequence]:
        """Every record has a 36-character id of this shard, a known status and its typed
        fields of their type (a list's items too), or the file is corrupt: a listing sorts
        and shows them, and would otherwise fail half way on a value of another type.

        Only what every command relies on is checked, and in bulk, so listing
        a large store stays fast; a path is only ever built from an id after
        ``checked_uuid``. Only a shard that fails is walked record by record,
        to say which record is wrong. Returns the columns it took (see ``Shard``).
        """
        table = document.get(self.name)
        if not table:
            return {}
        prefix = os.path.basename(path)[:SHARD_PREFIX_LEN]
        records = table.values()
        try:  # one pass in C takes every checked field as a column; a few C calls check each
            try:  # the nullable fields and created_ns too, when every record has them
                columns = dict(zip(self._all_fields, zip(*map(self._all_values, records))))
                fields_ok = all(_all_of_type_or_null(columns[field], kind)
                                for field, kind in self.nullable_fields)
            except KeyError:  # older records, or damage: each field that may be missing alone
                columns = dict(zip(self._checked_fields, zip(*map(self._checked_values, records))))
                columns["created_ns"] = list(map(dict.get, records, repeat("created_ns"), repeat(0)))
                fields_ok = all(_all_of_type_or_null(map(dict.get, records, repeat(field)), kind)
                                for field, kind in self.nullable_fields)
            ids = columns["id"]
            joined = "\n".join(ids)  # TypeError unless every id is a string
            fields_ok = fields_ok and self.statuses.issuperset(columns["status"]) and all(
                _all_of_type(columns[field], kind, item) for field, kind, item in self.typed_fields)
            # created_ns a whole number (0 where a record has none).
            fields_ok = fields_ok and not set(map(type, columns["created_ns"])) - {int}
        except (KeyError, TypeError):  # a record that is not an object, lacks a field, or holds a list
            columns, fields_ok, ids, joined = {}, False, (), ""
        count = len(ids)
        # Every id UUID_LEN long: none longer, and all of them together that long each.
        if (not fields_ok or not "".join(table).isdigit()
                or max(map(len, ids), default=0) != UUID_LEN or len(joined) != (UUID_LEN + 1) * count - 1
                or not joined.startswith(prefix) or joined.count("\n" + prefix) != count - 1):
            self._name_bad_record(path, table, prefix)
        return columns

    def _name_bad_record(self, path: str | Path, table: dict, prefix: str) -> None:
        for key, doc in table.items():
            if type(doc) is not dict:
                raise StoreCorrupt(path, f"record {_shown(key)} is not a JSON object")
            record_id, status = doc.get("id"), doc.get("status")
            if not (type(record_id) is str and record_id.startswith(prefix)
                    and len(record_id) == UUID_LEN):
                raise StoreCorrupt(path, f"record {_shown(key)} has no id of this shard "
                                         f"(a UUID starting {prefix}): {_shown(record_id)}")
            if type(status) is not str or status not in self.statuses:
                raise StoreCorrupt(path, f"record {record_id} has an unknown status {_shown(status)}")
            if not key.isdigit():
                raise StoreCorrupt(path, f"record {record_id} is under a key that is not a number")
            if type(doc.get("created_ns", 0)) is not int:
                raise StoreCorrupt(path, f"record {record_id} has created_ns "
                                         f"{_shown(doc['created_ns'])}, not a whole number")
            for field, kind, item in self.typed_fields:
                if field not in doc or not _all_of_type([doc[field]], kind, item):
                    what = _JSON_NAMES[kind] + (f" of {_JSON_NAMES[item]}s" if item else "")
                    raise StoreCorrupt(path, f"record {record_id} has {field} "
                                             f"{_shown(doc.get(field))}, not a {what}")
            for field, kind in self.nullable_fields:
                if type(doc.get(field)) not in (kind, NoneType):
                    raise StoreCorrupt(path, f"record {record_id} has {field} {_shown(doc[field])}, "
                                             f"not a {_JSON_NAMES[kind]} or null")
        raise StoreCorrupt(path, "its records are not of the expected shape")

    @contextmanager
    def _db(self, path: Path) -> Iterator:
        db = TinyDB(path, storage=AtomicJSONStorage, check=self.check_shape, on_write=self._written)
        try:
            yield db.table(self.name)
        finally:
            db.close()

    def _written(self, path: str | Path, document: dict, payload: bytes,
                 written: os.stat_result) -> None:
        """After ``document`` was written to shard ``path`` as ``payload``: derive its sidecars
        from its records, as a listing reads them back from ``payload`` where that differs."""
        if not self.sidecars:
            return
        stored = list(document.get(self.name, {}).values())

        @cache
        def read_back() -> list[dict]:
            return list(self.storage(path, bulk=True).parse(payload).get(self.name, {}).values())

        for sidecars in self.sidecars:
            sidecars.write(path, stored, payload, written, read_back)

    def rebuild_sidecars(self) -> None:
        """Derive every shard's sidecars again; only a help, as each one is."""
        for sidecars in self.sidecars:
            try:
                sidecars.rebuild(self.shard_reads())
            except (GlancectlError, OSError):
                pass

    def get(self, record_id: str) -> dict | None:
        # By a string path, not shard_path's Path: see Store.root.
        data = self.storage(os.path.join(self.root, shard_name(record_id))).read() or {}
        for doc in data.get(self.name, {}).values():
            if doc.get("id") == record_id:
                return doc
        return None

    def all(self) -> Iterator[dict]:
        """Every record, shard by shard; each shard is a consistent snapshot."""
        for records in self.shards():
            yield from records

    def shards(self) -> Iterator[Shard]:
        """Every shard's records, a list at a time: a listing works on a whole list in C
        rather than on one record at a time."""
        for _, _, records in self.shard_reads():
            yield records

    def rendered_shards(self, *, summarised: bool = False) -> Iterator[tuple[
            Shard | ColumnRecords, Callable[[], list | None], Callable[[], tuple[Shard, Callable]]]]:
        """Every shard's records, each with a call that reads their renderings (None where
        there are none that fit: a listing reads them only for a shard it shows) and one that
        reads the shard whole again, with its own such call. With ``summarised``, the records
        as ``summarised_shards`` gives them."""
        shards = self.summarised_shards() if summarised else self.shard_reads()
        for path, st, records in shards:
            yield records, partial(self.renderings.read, path, st, len(records)), partial(
                self._rendered_whole, path)

    def _rendered_whole(self, path: str) -> tuple[Shard, Callable[[], list | None]]:
        _, st, records = self._shard_read(path)
        return records, partial(self.renderings.read, path, st, len(records))

    def whole_shard(self, path: str) -> tuple[Shard, None]:
        """A shard's records, read whole (for ``rendered_shards``'s like: no renderings)."""
        return self._shard_read(path)[2], None

    def summarised_shards(self) -> Iterator[tuple[str, os.stat_result | None, Shard | ColumnRecords]]:
        """``shard_reads``, but where a shard's summary fits it (``summaries``) its records
        as the columns the summary holds, and the shard left unread."""
        summaries = self.summaries
        with collector_paused():
            for name in self._shard_names():
                path = os.path.join(self.root, name)
                if summaries is not None:
                    try:
                        st = os.stat(path)
                        summarised = summaries.read(path, st)
                    except OSError:  # gone meanwhile, or unreadable: the read says which
                        summarised = None
                    if summarised is not None:
                        yield path, st, summarised
                        continue
                yield self._shard_read(path)

    def shard_reads(self) -> Iterator[tuple[str, os.stat_result | None, Shard]]:
        """(path, the status of the file read, its records) of every shard."""
        with collector_paused():
            for name in self._shard_names():
                yield self._shard_read(os.path.join(self.root, name))  # no Path: one a shard adds up

    def _shard_read(self, path: str) -> tuple[str, os.stat_result | None, Shard]:
        storage = self.storage(path, bulk=True)
        data = storage.read() or {}  # checked before any record is used
        return path, storage.stat, Shard(data.get(self.name, {}).values(), storage.checked or {})

    def named(self, name: str) -> list[dict]:
        """Every record named ``name``: through the name index when it is fresh, else a scan."""
        ids = self.names.lookup(name) if self.names is not None else None
        if ids is None:
            return [r for r in self.all() if r.get("name") == name]
        found = (self.get(record_id) for record_id in dict.fromkeys(ids))
        return [r for r in found if r is not None and r.get("name") == name]

    def _changing(self, *paths: Path):
        """Collects (id, name before, name after) for the name index around shard writes."""
        return self.names.changing(*paths) if self.names is not None else nullcontext([])

    def insert(self, record: dict) -> None:
        path = self.shard_path(record["id"])
        with self._changing(path) as renamed, self._db(path) as table:
            table.insert(record)
            renamed.append((record["id"], None, record.get("name")))
        self.on_change()

    def update(self, record_id: str, fields: dict, *, expect_status: str | None = None) -> bool:
        """Write ``fields``; with ``expect_status``, only if the record is still in it."""
        q = Query().id == record_id
        if expect_status is not None:
            q = q & (Query().status == expect_status)
        path = self.shard_path(record_id)
        names_before: dict[str, object] = {}

        def change(doc: dict) -> None:
            names_before[doc["id"]] = doc.get("name")
            doc.update(fields)

        with self._changing(path) as renamed, self._db(path) as table:
            updated = bool(table.update(change, q))
            renamed.extend((rid, old, fields.get("name", old)) for rid, old in names_before.items())
        if updated:
            self.on_change()
        return updated

    def by_shard(self, record_ids: Iterable[str]) -> list[list[str]]:
        """The IDs grouped by the shard that holds them, shard by shard."""
        groups: dict[Path, list[str]] = {}
        for rid in record_ids:
            groups.setdefault(self.shard_path(rid), []).append(rid)
        return [groups[path] for path in sorted(groups)]

    def update_each(self, record_ids: list[str], change: Callable[[dict], dict | None]) -> list[dict]:
        """One write per shard: ``change(record)`` gives the fields to write, or None to leave it.

        Returns the records as written. The caller holds the lock.
        """
        done: list[dict] = []
        groups = self.by_shard(record_ids)

        def apply(doc: dict) -> None:
            fields = change(doc)
            if fields:
                doc.update(fields)
                done.append(dict(doc))

        with self._changing(*(self.shard_path(ids[0]) for ids in groups)) as renamed:
            for ids in groups:
                wanted = set(ids)
                with self._db(self.shard_path(ids[0])) as table:
                    table.update(apply, lambda doc: doc.get("id") in wanted)
            renamed.extend((d["id"], d.get("name"), d.get("name")) for d in done)
        if done:
            self.on_change()
        return done

    def remove(self, record_ids: list[str]) -> int:
        by_shard: dict[Path, set[str]] = {}
        for rid in record_ids:
            by_shard.setdefault(self.shard_path(rid), set()).add(rid)
        gone: list[dict] = []
        with self._changing(*by_shard) as renamed:
            for path, ids in by_shard.items():

                def doomed(doc: dict, ids=ids) -> bool:
                    if doc.get("id") in ids:
                        gone.append(doc)
                        return True
                    return False

                with self._db(path) as table:
                    table.remove(doomed)
            renamed.extend((doc["id"], doc.get("name"), None) for doc in gone)
        if gone:
            self.on_change()
        return len(gone)


class Store:
    def __init__(
        self,
        home: str | os.PathLike,
        *,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        after_lock: Callable[["Store"], object] | None = None,
    ):
        """``after_lock`` runs each time the lock is taken (recovery of dead writers)."""
        # The home as a string: a read by ID joins it with a shard's name and opens that
        # file, and making a Path would import pathlib, which with the urllib.parse and
        # ipaddress it imports is a tenth of `image show ID`'s start-up (bench/startup.py).
        # ``home`` and every other path the store names are Paths, made on first use.
        self.root = os.fspath(home)
        self.lock_timeout = lock_timeout
        self.after_lock = after_lock
        self.changed = False  # whether this process has changed a record
        self.images = ShardedTable(os.path.join(self.root, "images"), "images", frozenset(ImageStatus),
                                   (("locations", list, dict), ("properties", dict, None),
                                    ("tags", list, str), *_TIMES),
                                   # What listings sort, compare or look up in a set.
                                   (("name", str), ("disk_format", str), ("container_format", str),
                                    ("size", int), ("checksum", str), ("os_hash_value", str)),
                                   on_change=self._note_change,
                                   index_dir=os.path.join(self.root, "names"),
                                   renderings_dir=os.path.join(self.root, "rendered"),
                                   summaries_dir=os.path.join(self.root, "summaries"),
                                   listed_fields=IMAGE_LISTED_FIELDS)
        self.tasks = ShardedTable(os.path.join(self.root, "tasks"), "tasks", frozenset(TaskStatus),
                                  _TIMES, (("type", str),), on_change=self._note_change,
                                  summaries_dir=os.path.join(self.root, "summaries"),
                                  listed_fields=TASK_LISTED_FIELDS)
        self._lock: StoreLock | None = None

    def _note_change(self) -> None:
        self.changed = True

    # -- paths -------------------------------------------------------------
    @cached_property
    def home(self) -> Path:
        return _as_path(self.root)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"

    @property
    def lease_dir(self) -> Path:
        return self.home / "leases"

    def data_path(self, image_id: str) -> Path:
        return self.data_dir / checked_uuid(image_id)

    def staging_path(self, image_id: str) -> Path:
        return self.staging_dir / checked_uuid(image_id)

    def exists(self) -> bool:
        return self.home.is_dir()

    # -- writing -----------------------------------------------------------
    def _initialise(self) -> None:
        ensure_dir(self.home)
        if self.schema_version() is None:
            write_atomic(self.meta_path, b'{"schema_version": %d}' % SCHEMA_VERSION, keep_previous=False)

    @property
    def meta_path(self) -> Path:
        return self.home / "meta.json"

    def schema_version(self) -> int | None:
        """meta.json's schema version, None before the first write; a bad or newer one raises."""
        meta = read_json(self.meta_path)
        if meta is None:
            return None
        version = meta.get("schema_version") if isinstance(meta, dict) else None
        if type(version) is not int or version < 1:
            raise StoreCorrupt(self.meta_path, f"no schema_version of 1 or more: {_shown(meta)}")
        if version > SCHEMA_VERSION:
            raise NewerSchema(
                f"{self.meta_path} says the store has schema version {version}; this glancectl "
                f"understands up to {SCHEMA_VERSION}. Upgrade glancectl."
            )
        return version

    @contextmanager
    def writing(self) -> Iterator["Store"]:
        """Hold the store lock across a whole read -> change -> write.

        Re-entrant within one process, so an operation can call another.
        """
        if self._lock is not None:
            yield self
            return
        with self.holding_lock():
            self._initialise()
            if self.after_lock is not None:
                self.after_lock(self)
            yield self

    @contextmanager
    def holding_lock(self) -> Iterator["Store"]:
        """The store lock alone, with no initialisation and no recovery (doctor's view).

        Re-entrant like ``writing``, which takes it the same way.
        """
        if self._lock is not None:
            yield self
            return
        try:
            ensure_dir(self.home)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create store home {self.home}: {exc.strerror}") from None
        lock = StoreLock(self.home / "store.lock", self.lock_timeout)
        lock.acquire()
        self._lock = lock
        try:
            yield self
        finally:
            self._lock = None
            lock.release()

    @property
    def locked(self) -> bool:
        return self._lock is not None

    # -- leases: who is writing an image's data right now -------------------
    def _lease_path(self, record_id: str) -> Path:
        return self.lease_dir / f"{checked_uuid(record_id)}.lock"

    def take_lease(self, record_id: str) -> "Lease":
        path = self._lease_path(record_id)
        ensure_dir(self.lease_dir)
        return Lease(path)

    def adopt_lease(self, record_id: str, fd: int) -> "Lease":
        """The lease another process took for ``record_id`` and handed down as ``fd``."""
        return Lease.adopt(self._lease_path(record_id), fd)

    def lease_file_exists(self, record_id: str) -> bool:
        """A lease file with no live holder marks a process that died holding it."""
        return self._lease_path(record_id).exists()

    def lease_is_live(self, record_id: str) -> bool:
        """True while some live process holds this record's lease."""
        held, fd = _probe_lease(self._lease_path(record_id), fcntl.LOCK_SH)
        if fd is not None:
            os.close(fd)
        return held

    def has_dead_lease(self, record_id: str) -> bool:
        """True when a lease file is there and no live process holds it: its holder died."""
        _, fd = _probe_lease(self._lease_path(record_id), fcntl.LOCK_SH)
        if fd is None:
            return False
        os.close(fd)
        return True

    def dead_leases(self) -> list[str]:
        """Record ids whose lease file a process left behind when it died.

        A lease file exists only while its holder lives or after it died
        without releasing, so this finds every crashed writer, whether or
        not it had created a temp file yet.
        """
        if not self.lease_dir.is_dir() or self.lease_dir.is_symlink():
            return []
        found = []
        for entry in os.scandir(self.lease_dir):
            stem = entry.name.removesuffix(".lock")
            if entry.is_file(follow_symlinks=False) and stem == canonical_uuid_or_none(stem):
                if not self.lease_is_live(stem):
                    found.append(stem)
        return found

    def clear_lease(self, record_id: str) -> bool:
        """Remove a dead lease file; a live one is left alone. True if removed.

        The file is unlinked while we hold its flock, and ``Lease`` checks it
        still owns the name after locking, so a new holder is never cut off.
        """
        path = self._lease_path(record_id)
        _, fd = _probe_lease(path, fcntl.LOCK_EX)
        if fd is None:
            return False
        try:
            if _same_file(fd, path):
                os.unlink(path)
                return True
            return False
        finally:
            os.close(fd)


class Lease:
    """An exclusive flock held by the process writing a record's data.

    The kernel drops it when the process dies, however it dies, so a
    stuck status can be told apart from a slow one without guessing by age.
    """

    def __init__(self, path: Path):
        self.path = path
        while True:
            fd = _open_lease(path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreUnavailable(f"another process is writing data for {path.stem}") from None
            if _same_file(fd, path):  # not unlinked as a dead lease between open and flock
                self._fd = fd
                return
            os.close(fd)

    @classmethod
    def adopt(cls, path: Path, fd: int) -> "Lease":
        """Hold a lease through ``fd``, inherited from the process that took it.

        flock belongs to the open file, not the process: once the parent
        closes its copy, the lease lives exactly as long as this one does.
        """
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a no-op on the lock we inherited
            ours = _same_file(fd, path)
        except OSError:
            ours = False
        if not ours:
            os.close(fd)
            raise StoreUnavailable(f"file descriptor {fd} does not hold the lease {path}")
        lease = cls.__new__(cls)
        lease.path, lease._fd = path, fd
        return lease

    @property
    def fd(self) -> int | None:
        return self._fd

    def release(self) -> None:
        """The write ended and its outcome is recorded: remove the lease."""
        if self._fd is not None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def abandon(self) -> None:
        """Let go but keep the file: to recovery this writer died, and its record gets settled.

        A process this one handed the lease to (``adopt``) still holds it.
        """
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _open_lease(path: Path, flags: int) -> int:
    try:
        return os.open(path, flags | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreUnavailable(f"lease file {path} is a symlink; refusing it") from None
        raise


def _probe_lease(path: Path, operation: int) -> tuple[bool, int | None]:
    """(whether a live process holds the lease, our fd holding ``operation`` if we got it)."""
    try:
        fd = _open_lease(path, os.O_RDONLY)
    except FileNotFoundError:
        return False, None
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True, None
    return False, fd


def _same_file(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino)


_JSON_NAMES = {list: "list", dict: "JSON object", str: "string", int: "whole number"}
# Every record's times: the default sort key and what every listing shows.
_TIMES = (("created_at", str, None), ("updated_at", str, None))


def _all_of_type_or_null(values: Iterable, kind: type) -> bool:
    """Every value is a ``kind`` or null; in C."""
    return not set(map(type, values)) - {kind, NoneType}


def _all_of_type(values: Sequence, kind: type, item: type | None) -> bool:
    """Every value is a ``kind``, and with ``item`` each of its elements is one; all in C."""
    if kind is str and item is None:
        try:  # join refuses anything but text (JSON holds no subclass of str): quicker than types
            "".join(values)
        except TypeError:
            return False
        return True
    if set(map(type, values)) - {kind}:
        return False
    return item is None or not set(map(type, chain.from_iterable(values))) - {item}


def _shown(value, limit: int = 60) -> str:
    """A value from a damaged file, quoted and cut short for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def canonical_uuid_or_none(value: str) -> str | None:
    """``value`` if it is a UUID in canonical form (as IDs are stored and named on disk), else None."""
    try:
        canonical = checked_uuid(value)
    except InvalidValue:
        return None
    return canonical if canonical == value else None
