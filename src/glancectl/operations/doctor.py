"""`glancectl doctor`: check the store, say what is wrong, repair what is safe.

The checks, in the order ``--repair`` applies them (a repair can change what
a later check sees, so each check runs after the previous one's repairs):

    record-file   meta.json and every shard parse and hold records of the right shape; a
                  damaged or missing shard comes back from its .bak; a newer schema stops doctor
    symlink       nothing inside the store is a symlink (glancectl never writes through one)
    stuck-image   saving/uploading/importing with no live writer -> queued
    stuck-task    processing with no live worker -> failure
    temp-file     temporary files and lease files of dead processes
    orphan-data   data/ and staging/ files no live record owns -> quarantine/<time>/
    data          active and deactivated images' data files exist with the recorded size
    hash          (--verify-data) and match the recorded os_hash_value and checksum
    permissions   everything owner-only
    name-index    names/ (image name -> IDs) matches the image records; rebuilt if not
    renderings    rendered/ (each image's JSON for listings) fits the image shards; written if not
    summaries     summaries/ (each image's and task's listed fields) fits the shards; written if not
    quarantine    (--purge-quarantine) what earlier repairs quarantined, deleted

Everything but hashing runs under the store lock, so a live writer is never
mistaken for a dead one. Hashing runs without it (a large store would hold
up every writer); a mismatch is confirmed under the lock before it is
reported. Nothing here deletes a record file, a record or image data:
a damaged file is kept beside its restored copy; data no record owns is
moved to the quarantine folder, and data a record may still own (one in a
damaged copy or the .bak of its record file, one whose shard is unreadable,
one pointing at it by location) is only reported.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from glancectl import datafiles, lifecycle
from glancectl.config import Settings
from glancectl.errors import GlancectlError, NewerSchema, StoreCorrupt, StoreUnavailable
from glancectl.lifecycle import ImageStatus, TaskStatus
from glancectl.operations import recovery
from glancectl.storage import (
    DIR_MODE,
    FILE_MODE,
    TEMP_MARKER,
    ensure_dir,
    fsync_dir,
    read_json,
    remove_quietly,
    write_atomic,
)
from glancectl.store import SCHEMA_VERSION, SHARD_PREFIX_LEN, ShardedTable, Store, canonical_uuid_or_none

if TYPE_CHECKING:
    from glancectl.sidecars import Sidecars

CHECKS = ("record-file", "symlink", "stuck-image", "stuck-task", "temp-file", "orphan-data",
          "data", "hash", "permissions", "name-index", "renderings", "summaries",
          "quarantine")
DAMAGED_MARKER = ".damaged-"  # a damaged file kept beside the copy restored in its place
QUARANTINE = "quarantine"  # in the home: data no record owns, until --purge-quarantine
ALL_SHARDS = "*"  # in ``unreadable``: the table's directory itself is unusable
SCRATCH_DIRS = ("tmp", "leases")  # hold nothing but in-progress work; safe to clear
_RECORD_ID = re.compile(rb'"id"\s*:\s*"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"')
_HAS_DATA = frozenset({ImageStatus.ACTIVE, ImageStatus.DEACTIVATED})
_IMAGE_STATUSES = frozenset(s.value for s in ImageStatus)


@dataclass(frozen=True)
class Finding:
    check: str  # one of CHECKS
    subject: str  # a path relative to the home, or a record id
    problem: str
    action: str  # what --repair did, or would do, or what only a person can do
    fixed: bool = False


@dataclass
class Report:
    home: Path
    exists: bool
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # images, tasks, data files, bytes hashed
    quarantined: int = 0  # files waiting in the quarantine folder

    @property
    def needs_attention(self) -> list[Finding]:
        return [f for f in self.findings if not f.fixed]


@dataclass(frozen=True)
class _Problem:
    check: str
    subject: str
    problem: str
    remedy: str  # what the fix does, or (without a fix) what a person must do
    fix: Callable[[], str] | None = None  # does the repair; returns what it did


def diagnose(store: Store, settings: Settings, *, verify_data: bool = False,
             repair: bool = False, purge_quarantine: bool = False) -> Report:
    report = Report(store.home, store.exists())
    if not report.exists:
        return report
    doctor = _Doctor(store, settings, report)
    blocked = doctor.lock_file()
    if blocked is not None:
        report.findings.append(_resolve(blocked, repair))
        if not report.findings[-1].fixed:
            return report  # nothing can be checked safely without the lock
    checks = [doctor.record_files, doctor.symlinks, doctor.stuck_images, doctor.stuck_tasks,
              doctor.temp_files, doctor.orphans, doctor.data_files, doctor.permissions,
              doctor.name_index, doctor.renderings, doctor.summaries]
    with store.holding_lock():
        for check in checks:
            for problem in check():
                report.findings.append(_resolve(problem, repair))
            if doctor.stop:
                return report
        if purge_quarantine:
            report.findings += [_resolve(problem, True) for problem in doctor.purge_quarantine()]
        report.quarantined = _quarantined(store.home / QUARANTINE)
    if verify_data:
        for problem in doctor.hashes():
            report.findings.append(_resolve(problem, repair))
    return report


def _resolve(problem: _Problem, repair: bool) -> Finding:
    def finding(action: str, fixed: bool = False) -> Finding:
        return Finding(problem.check, problem.subject, problem.problem, action, fixed)

    if problem.fix is None:
        return finding(f"needs you: {problem.remedy}")
    if not repair:
        return finding(f"--repair will {problem.remedy}")
    try:
        return finding(problem.fix(), fixed=True)
    except (GlancectlError, OSError) as exc:
        return finding(f"repair failed: {exc}")


class _Doctor:
    def __init__(self, store: Store, settings: Settings, report: Report):
        self.store = store
        self.settings = settings
        self.home = store.home
        self.report = report
        self.unreadable: dict[str, set[str]] = {"images": set(), "tasks": set()}  # shard prefixes
        self.to_hash: list[tuple[dict, Path, tuple[int, int]]] = []
        self.stop = False  # set when going on could harm the store
        self.copies: dict[Path, dict[str, dict | None]] = {}  # kept copies of record files, read once
        self.quarantine = self.home / QUARANTINE / _stamp()  # where this run moves unowned data

    def rel(self, path: Path | str) -> str:
        return os.path.relpath(path, self.home)

    # -- reading what can be read -------------------------------------------
    def records(self, table: ShardedTable) -> Iterator[dict]:
        """Every record in the shards that parse; the others are record-file findings."""
        try:
            paths = table.shard_paths()
        except StoreCorrupt:
            return  # a record-file finding
        for path in paths:
            try:
                data = table.storage(path).read() or {}
            except StoreCorrupt:
                continue
            yield from data.get(table.name, {}).values()

    def images_by_id(self) -> dict[str, dict]:
        return {r["id"]: r for r in self.records(self.store.images)}

    # -- record-file -------------------------------------------------------
    def record_files(self) -> Iterator[_Problem]:
        meta = self.store.meta_path
        try:
            self.store.schema_version()
        except NewerSchema as exc:
            self.stop = True  # a newer glancectl's store: judging or changing it here could harm it
            yield _Problem("record-file", self.rel(meta), str(exc),
                           "use a glancectl that understands it; nothing else was checked")
            return
        except StoreCorrupt as exc:
            yield _Problem("record-file", self.rel(meta), f"unreadable: {exc.reason}",
                           f"rewrite it as schema version {SCHEMA_VERSION}, keeping the damaged copy",
                           lambda: self._rewrite_meta(meta))
        for table in (self.store.images, self.store.tasks):
            try:
                paths = table.shard_paths()
            except StoreCorrupt:
                self.unreadable[table.name].add(ALL_SHARDS)
                yield _Problem("record-file", self.rel(table.directory),
                               f"not a directory; every {table.name} command exits 7",
                               "move it aside and put the directory back (from a backup of the "
                               "home); until then all data is kept")
                continue
            for path in paths:
                try:
                    table.storage(path).read()
                except StoreCorrupt as exc:
                    yield self._damaged_shard(table, path, exc.reason)
            yield from self._missing_shards(table)

    def _missing_shards(self, table: ShardedTable) -> Iterator[_Problem]:
        """A shard gone while its previous copy is still there: its records are lost until restored."""
        for backup in sorted(table.directory.glob("*.json.bak")):
            path = backup.with_name(backup.name.removesuffix(".bak"))
            if len(path.stem) != SHARD_PREFIX_LEN or os.path.lexists(path):
                continue
            self.unreadable[table.name].add(path.stem)
            good = self._good_copy(table, backup)
            problem = f"missing, but its previous copy {backup.name} is there"
            if good is None:
                yield _Problem("record-file", self.rel(path), problem,
                               f"{backup.name} is unreadable too: repair it by hand; its data is kept")
                continue
            kept = _ids(good, table)
            yield _Problem("record-file", self.rel(path), problem,
                           f"restore it from {backup.name} ({plural(len(kept), 'record')})",
                           lambda path=path, backup=backup, kept=kept: self._restore(table, path, backup, kept))

    def _good_copy(self, table: ShardedTable, backup: Path) -> dict | None:
        if backup.is_symlink():
            return None
        try:
            return table.storage(backup).read()
        except StoreCorrupt:
            return None

    def _damaged_shard(self, table: ShardedTable, path: Path, reason: str) -> _Problem:
        backup = path.with_name(path.name + ".bak")
        problem = f"unreadable: {reason}; every {table.name} command touching it exits 7"
        self.unreadable[table.name].add(path.stem)  # until restored: its records are unknown
        good = self._good_copy(table, backup)
        if good is None:
            return _Problem("record-file", self.rel(path), problem,
                            f"no good previous copy ({backup.name} is missing or unreadable), so it "
                            "was left untouched: repair it by hand, or move it aside to drop its records")
        kept = _ids(good, table)
        return _Problem("record-file", self.rel(path), problem,
                        f"restore it from {backup.name} ({plural(len(kept), 'record')}), keeping the damaged copy",
                        lambda: self._restore(table, path, backup, kept))

    def _restore(self, table: ShardedTable, path: Path, backup: Path, kept: set) -> str:
        if not os.path.lexists(path):
            write_atomic(path, backup.read_bytes(), keep_previous=False)
            self.unreadable[table.name].discard(path.stem)
            return f"restored from {backup.name} ({plural(len(kept), 'record')}); changes after it are lost"
        named = _named_ids(path)
        damaged = self._keep_damaged(path)
        write_atomic(path, backup.read_bytes(), keep_previous=False)
        self.unreadable[table.name].discard(path.stem)
        lost = sorted(named - kept)
        what = (f"lost: {', '.join(lost)} (named in the damaged copy, absent from the backup); "
                "any other change in the last write to it is undone too") if lost else (
            "no record is missing, but the last change written to it is undone")
        return (f"restored from {backup.name} ({plural(len(kept), 'record')}); {what}; "
                f"damaged copy kept as {damaged.name}")

    def _rewrite_meta(self, meta: Path) -> str:
        damaged = self._keep_damaged(meta)
        write_atomic(meta, b'{"schema_version": %d}' % SCHEMA_VERSION, keep_previous=False)
        return f"rewrote it as schema version {SCHEMA_VERSION}; damaged copy kept as {damaged.name}"

    @staticmethod
    def _keep_damaged(path: Path) -> Path:
        """Keep a damaged file beside the good copy about to replace it; a directory is moved aside whole."""
        damaged = path.with_name(f"{path.name}{DAMAGED_MARKER}{_stamp()}")
        if path.is_dir() and not path.is_symlink():
            os.rename(path, damaged)
        else:
            os.link(path, damaged, follow_symlinks=False)
        return damaged

    # -- lock-file ------------------------------------------------------------
    def lock_file(self) -> _Problem | None:
        """store.lock must be a file every writer can flock; a directory there blocks every write."""
        lock = self.home / "store.lock"
        if not lock.is_dir() or lock.is_symlink():
            return None  # a symlink is a symlink finding, and the lock refuses it
        return _Problem("record-file", self.rel(lock), "a directory, not the lock file; every write exits 7",
                        "move it aside (glancectl makes a new lock file)",
                        lambda: f"moved aside as {self._keep_damaged(lock).name}")

    # -- symlink -----------------------------------------------------------
    def symlinks(self) -> Iterator[_Problem]:
        for top, dirs, files in os.walk(self.home):
            for name in dirs + files:
                path = Path(top, name)
                if not path.is_symlink():
                    continue
                problem = f"a symlink (to {os.readlink(path)}) inside the store; glancectl never writes through it"
                if self.rel(top) in SCRATCH_DIRS:
                    yield _Problem("symlink", self.rel(path), problem, "remove it",
                                   lambda path=path: _removed(path))
                else:
                    yield _Problem("symlink", self.rel(path), problem,
                                   "replace it with the real file or directory, or remove it")

    # -- stuck-image, stuck-task --------------------------------------------
    def stuck_images(self) -> Iterator[_Problem]:
        for record in self.records(self.store.images):
            if recovery.is_abandoned(self.store, record):
                yield _Problem("stuck-image", record["id"],
                               f"{record['status']} with no live writer (the process died)",
                               "return it to queued and remove the data it was receiving",
                               lambda image_id=record["id"]: self._settle_image(image_id))

    def _settle_image(self, image_id: str) -> str:
        recovery.settle_dead_writer(self.store, image_id)
        kept = [self.rel(p) for p in (self.store.data_path(image_id), self.store.staging_path(image_id))
                if p.exists()]
        return "returned to queued; partial data removed" + (
            f"; {', '.join(kept)} kept: no dead writer is proven to have left it (see orphan-data)"
            if kept else "")

    def stuck_tasks(self) -> Iterator[_Problem]:
        from glancectl.operations import tasks  # the task runner owns what abandoned means

        for task in self.records(self.store.tasks):
            if tasks.is_abandoned(self.store, task):
                owner = "worker" if task["status"] == TaskStatus.PROCESSING else "creator or worker"
                yield _Problem("stuck-task", task["id"],
                               f"{task['status']} with no live process owning it (its {owner} died)",
                               "mark it failed, saying why",
                               lambda task=task: self._settle_task(task))

    def _settle_task(self, task: dict) -> str:
        from glancectl.operations import tasks  # the task runner owns what a failure means

        settled = tasks.settle_if_dead(self.store, self.settings, task)
        return f"now {settled['status']}: {settled.get('message') or ''}".rstrip(": ")

    # -- temp-file ----------------------------------------------------------
    def temp_files(self) -> Iterator[_Problem]:
        scratch = datafiles.temp_dir(self.store)
        for top, dirs, files in os.walk(self.home):
            for name in files:
                path = Path(top, name)
                if path.is_symlink() or not (TEMP_MARKER in name or Path(top) == scratch):
                    continue
                owner = datafiles.temp_owner(path)
                if Path(top) == scratch and owner is not None and self.store.lease_is_live(owner):
                    continue  # an upload in progress
                yield _Problem("temp-file", self.rel(path), "left by a process that died",
                               "remove it", lambda path=path: _removed(path))
        in_flight = {r["id"] for r in self.records(self.store.images)
                     if r["status"] in lifecycle.IN_FLIGHT_STATUSES}
        in_flight |= {t["id"] for t in self.records(self.store.tasks)
                      if t["status"] in (TaskStatus.PENDING, TaskStatus.PROCESSING)}
        for record_id in self.store.dead_leases():
            if record_id not in in_flight:  # those are stuck-image/stuck-task findings
                path = self.store.lease_dir / f"{record_id}.lock"
                yield _Problem("temp-file", self.rel(path), "the lease file of a process that died",
                               "remove it", lambda record_id=record_id: self._clear_lease(record_id))

    def _clear_lease(self, record_id: str) -> str:
        return "removed" if self.store.clear_lease(record_id) else "left: a live process holds it now"

    # -- orphan-data ----------------------------------------------------------
    def orphans(self) -> Iterator[_Problem]:
        """Data no live record owns. It is only ever moved to quarantine, and not even that
        while any record, live or in a kept copy of its record file, may own it."""
        images = self.images_by_id()
        pointed_at = {loc.get("url"): r["id"] for r in images.values()
                      for loc in r.get("locations") or [] if isinstance(loc, dict)}
        for directory, owns in ((self.store.data_dir, recovery.owns_data),
                                (self.store.staging_dir, lambda store, record: recovery.owns_staged(record))):
            if not directory.is_dir() or directory.is_symlink():
                continue
            for path in sorted(directory.iterdir()):
                if path.is_symlink():
                    continue  # a symlink finding
                image_id = canonical_uuid_or_none(path.name)
                record = images.get(image_id)
                if record is not None and owns(self.store, record):
                    continue
                if image_id is not None and self.store.lease_is_live(image_id):
                    continue
                claim = self._claim(path, image_id, record, owns, pointed_at)
                yield self._orphan(path, record, claim)

    def _claim(self, path: Path, image_id: str | None, record: dict | None, owns,
               pointed_at: dict) -> tuple[str, str] | None:
        """(why some record may still own ``path``, what to do), or None when none can."""
        pointer = pointed_at.get(path.as_uri())
        if pointer not in (None, image_id):  # its own record's location is judged by its status
            return (f"image {pointer} has it as a location",
                    f"remove that location (glancectl image location remove {pointer} ...) or the file")
        if image_id is None:
            return None
        moved = _elsewhere_own_location(self.store, record) if record is not None else None
        if moved is not None:  # what a copied or moved store keeps: never quarantined
            own = datafiles.store_location(self.store, image_id)
            return (f"its image's location {moved} is this file's place in a store at another "
                    "path (is this store a copy, or moved?)",
                    f"make this store's copy the image's: glancectl image location add {image_id} "
                    f"{own}, then glancectl image location remove {image_id} {moved}")
        if self.unreadable["images"] & {image_id[:2], ALL_SHARDS}:
            return ("its record's shard is unreadable",
                    "repair the shard first (see its record-file finding); the data waits for it")
        shard = self.store.images.shard_path(image_id)
        # A damaged copy is newer than the record file restored in its place; a .bak is
        # older, so it speaks only for a record the live file lacks.
        copies = sorted(shard.parent.glob(f"{shard.name}{DAMAGED_MARKER}*"))
        if record is None:
            copies.append(shard.with_name(shard.name + ".bak"))
        for copy in copies:
            if image_id not in (found := self._records_in_copy(copy)):
                continue
            old = found[image_id]
            held = (f"names image {image_id} (it does not parse)" if old is None
                    else f"has image {image_id} as {_shown_status(old)}")
            if old is not None and not _may_own(self.store, old, owns):
                continue
            if copy.name.endswith(".bak"):
                advice = (f"{self.rel(shard)} lacks that record (edited or lost?): put it back from "
                          f"{self.rel(copy)}, or move the file out of the store yourself")
            else:
                advice = (f"take what you need from {self.rel(copy)}, then remove that copy; "
                          "--repair then moves the file to quarantine")
            return f"{self.rel(copy)} {held}", advice
        return None

    def _records_in_copy(self, copy: Path) -> dict[str, dict | None]:
        """The image records a kept copy holds by id; None for an id it names but cannot give."""
        if copy not in self.copies:
            named = dict.fromkeys(_named_ids(copy)) if copy.is_file() and not copy.is_symlink() else {}
            try:
                document = read_json(copy) if named else None
            except StoreCorrupt:
                document = None
            table = document.get("images") if isinstance(document, dict) else None
            for doc in table.values() if isinstance(table, dict) else ():
                if isinstance(doc, dict) and doc.get("id") in named:
                    named[doc["id"]] = doc
            self.copies[copy] = named
        return self.copies[copy]

    def _orphan(self, path: Path, record: dict | None, claim: tuple[str, str] | None) -> _Problem:
        rel = self.rel(path)
        if claim is not None:
            why, advice = claim
            return _Problem("orphan-data", rel, f"no live record owns it, but {why}, so it is kept",
                            advice)
        if not path.is_file():
            why = "not a data file"
        else:
            why = "no record owns it" if record is None else f"its image is {record['status']}"
        return _Problem("orphan-data", rel, why,
                        f"move it to {self.rel(self.quarantine)}/ (deleted only by --purge-quarantine)",
                        lambda: self._quarantine(path))

    def _quarantine(self, path: Path) -> str:
        folder = self.quarantine / path.parent.name
        for directory in (self.quarantine.parent, self.quarantine, folder):
            ensure_dir(directory)
        target = folder / path.name
        if os.path.lexists(target):
            raise StoreUnavailable(f"{self.rel(target)} is already there; the file was left in place")
        os.rename(path, target)
        fsync_dir(path.parent)
        fsync_dir(folder)
        return f"moved to {self.rel(target)}"

    # -- name-index -------------------------------------------------------------
    def name_index(self) -> Iterator[_Problem]:
        """Checked after every repair that rewrites a shard; a damaged shard hides it."""
        index = self.store.images.names
        if self.unreadable["images"]:
            return  # its names are unknown until it is restored (a record-file finding)
        try:
            problem = index.problem()
        except StoreCorrupt:
            return
        if problem:
            yield _Problem("name-index", self.rel(index.directory), f"the name index is {problem}",
                           "rebuild it from the image records",
                           lambda: f"rebuilt ({plural(index.rebuild(), 'name')})")

    # -- sidecars ---------------------------------------------------------------
    def renderings(self) -> Iterator[_Problem]:
        yield from self._sidecars("renderings", self.store.images, self.store.images.renderings)

    def summaries(self) -> Iterator[_Problem]:
        for table in (self.store.images, self.store.tasks):
            yield from self._sidecars("summaries", table, table.summaries)

    def _sidecars(self, check: str, table: ShardedTable, sidecars: Sidecars) -> Iterator[_Problem]:
        """Checked after every repair that rewrites a shard, as the name index is."""
        if self.unreadable[table.name]:
            return  # a record-file finding comes first
        try:
            problem = sidecars.problem(table.shard_reads())
        except StoreCorrupt:
            return
        if problem:
            yield _Problem(check, self.rel(sidecars.directory), f"the {check} are {problem}",
                           f"write them from the {table.name[:-1]} records",
                           lambda: f"written for {plural(sidecars.rebuild(table.shard_reads()), 'shard')}")

    def purge_quarantine(self) -> Iterator[_Problem]:
        """What earlier repairs quarantined, deleted for good: asked for by --purge-quarantine."""
        top = self.quarantine.parent
        if not top.is_dir() or top.is_symlink():
            return
        for entry in sorted(top.iterdir()):
            yield _Problem("quarantine", self.rel(entry),
                           f"held in quarantine: {_quarantine_size(entry)}", "delete it",
                           lambda entry=entry: _deleted_tree(entry))

    # -- data, hash ----------------------------------------------------------
    def data_files(self) -> Iterator[_Problem]:
        self.report.checked = {"images": 0, "tasks": sum(1 for _ in self.records(self.store.tasks)),
                               "data_files": 0, "bytes_hashed": 0}
        for record in self.records(self.store.images):
            self.report.checked["images"] += 1
            if record["status"] not in _HAS_DATA or not recovery.owns_data(self.store, record):
                continue
            self.report.checked["data_files"] += 1
            path = self.store.data_path(record["id"])
            advice = (f"delete the image, or remove its location {datafiles.store_location(self.store, record['id'])} "
                      "(which requeues it) and upload the data again")
            try:
                st = path.lstat()
            except FileNotFoundError:
                yield _Problem("data", record["id"], f"its data file {self.rel(path)} is missing", advice)
                continue
            if not stat.S_ISREG(st.st_mode):
                yield _Problem("data", record["id"], f"{self.rel(path)} is not a regular file", advice)
            elif st.st_size != record.get("size"):
                yield _Problem("data", record["id"],
                               f"{self.rel(path)} holds {st.st_size} bytes; the record says {record.get('size')}",
                               advice)
            else:
                self.to_hash.append((record, path, (st.st_dev, st.st_ino)))

    def hashes(self) -> Iterator[_Problem]:
        """Hash outside the lock; report a mismatch only if it still stands under the lock."""
        suspects = []
        for record, path, identity in self.to_hash:
            wrong = self._hash_mismatch(record, path, identity)
            if wrong:
                suspects.append((record, path, identity, wrong))
        if not suspects:
            return
        with self.store.holding_lock():
            for record, path, identity, wrong in suspects:
                current = self.store.images.get(record["id"])
                if current is None or current.get("os_hash_value") != record.get("os_hash_value") \
                        or _identity(path) != identity:
                    continue  # it changed while we hashed: not the file we judged
                yield _Problem("hash", record["id"], f"{self.rel(path)}: {wrong}",
                               "the bytes are corrupt: delete the image and upload it again")

    def _hash_mismatch(self, record: dict, path: Path, identity: tuple[int, int]) -> str | None:
        wanted = {}
        if record.get("os_hash_value"):
            wanted["os_hash_value"] = (hashlib.new(record.get("os_hash_algo") or "sha512"),
                                       record["os_hash_value"])
        if record.get("checksum"):
            wanted["checksum"] = (hashlib.md5(usedforsecurity=False), record["checksum"])
        if not wanted:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None  # deleted since: nothing to judge
        with os.fdopen(fd, "rb", buffering=0) as handle:
            if _identity_of(os.fstat(fd)) != identity:
                return None
            self.report.checked["bytes_hashed"] += datafiles.pump(
                handle.readinto, [h.update for h, _ in wanted.values()])
        wrong = [f"{name} is {h.hexdigest()}, the record says {expected}"
                 for name, (h, expected) in wanted.items() if h.hexdigest() != expected]
        return "; ".join(wrong) or None

    # -- permissions ---------------------------------------------------------
    def permissions(self) -> Iterator[_Problem]:
        for top, dirs, files in os.walk(self.home):
            paths = [Path(top)] if Path(top) == self.home else []
            paths += [Path(top, name) for name in dirs + files]
            for path in paths:
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
                    continue
                if TEMP_MARKER in path.name:
                    continue  # a temp-file finding, or a live writer's (created owner-only)
                wanted = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
                yield _Problem("permissions", self.rel(path) if path != self.home else ".",
                               f"mode {stat.S_IMODE(st.st_mode):04o} lets others in",
                               f"chmod it to {wanted:04o}",
                               lambda path=path, wanted=wanted: _chmod(path, wanted))


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _ids(document: dict, table: ShardedTable) -> set[str]:
    return {doc["id"] for doc in document.get(table.name, {}).values()}


def _named_ids(path: Path) -> set[str]:
    """The record ids a file names, read as bytes: it may not parse."""
    try:
        return {m.decode() for m in _RECORD_ID.findall(path.read_bytes())}
    except (IsADirectoryError, FileNotFoundError):
        return set()


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _elsewhere_own_location(store: Store, record: dict) -> str | None:
    """A location of ``record`` naming where a store at another path keeps this image's data
    (``file://.../data/<id>``): a store copied or moved keeps its records' old locations."""
    own = datafiles.store_location(store, record["id"])
    for location in record.get("locations") or []:
        url = location.get("url") if isinstance(location, dict) else None
        if (isinstance(url, str) and url != own and url.startswith("file://")
                and url.endswith(f"/{store.data_dir.name}/{record['id']}")):
            return url
    return None


def _may_own(store: Store, record: dict, owns) -> bool:
    """Whether a record from a kept copy may own its data; one we cannot judge may."""
    if record.get("status") not in _IMAGE_STATUSES:
        return True
    try:
        return owns(store, record)
    except (TypeError, AttributeError):  # a copy of the wrong shape
        return True


def _shown_status(record: dict) -> str:
    status = record.get("status")
    return str(status) if status in _IMAGE_STATUSES else f"{status!r} (not a known status)"


def _quarantined(top: Path) -> int:
    if not top.is_dir() or top.is_symlink():
        return 0
    return sum(len(names) for _, _, names in os.walk(top))


def _quarantine_size(entry: Path) -> str:
    files = [Path(top, name) for top, _, names in os.walk(entry) for name in names]
    total = sum(p.lstat().st_size for p in files)
    return f"{plural(len(files), 'file')}, {total} bytes"


def _deleted_tree(entry: Path) -> str:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)  # never follows a symlink inside it
    else:
        remove_quietly(entry)
    fsync_dir(entry.parent)
    return "deleted"


def _identity_of(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        return _identity_of(path.lstat())
    except FileNotFoundError:
        return None


def _removed(path: Path) -> str:  # only ever temp files, leases and symlinks: never data
    remove_quietly(path)
    return "removed"


def _chmod(path: Path, mode: int) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    return f"chmod {mode:04o}"
