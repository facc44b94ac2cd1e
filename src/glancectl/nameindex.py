"""The name index: image name -> IDs, so a lookup by name reads two small files, not every shard.

Layout under ``names/``::

    manifest.json   {"version": 1, "shards": {"<xx>": [inode, size, mtime_ns, ctime_ns], ...},
                     "names": {"<yy>": crc32 of <yy>.json, ...}}
    <yy>.json       {"<name>": ["<id>", ...], ...}; yy = crc32(name) & 0xff in hex

The index is derived data, kept by the writers under the store lock. The
manifest records the identity of every image shard the index describes.
Every shard write replaces the file (a new inode), so a shard written by
anything that did not update the index -- an older glancectl, ``doctor
--repair`` restoring a backup, a crash between the shard and the index --
no longer matches, and the index counts as stale:

- readers then scan the shards as before (a read never writes);
- the next writer, holding the lock, rebuilds it from the shards;
- ``doctor`` reports it and ``--repair`` rebuilds it.

The manifest also holds a checksum of every name file, checked on each
lookup, so the index needs no fsync: whatever a crash loses or tears reads
as stale, never as an answer. (A change is durable once its shard is.)

Names may repeat (Glance allows it), and an entry lists every image with
that name, deleted ones included; callers read each record and check it.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from glancectl.errors import GlancectlError
from glancectl.storage import collector_paused, create_temp, ensure_dir, remove_quietly, shard_identity

INDEX_VERSION = 1
MANIFEST = "manifest.json"
SHARD_SUFFIX = ".json"


def _crc32(data: bytes) -> int:
    import zlib  # here, not at the top: a lookup by ID never needs it (start-up of `image show`)

    return zlib.crc32(data)


class _Unusable(Exception):
    """An index file is missing where it must exist, or does not parse."""


def name_shard(name: str) -> str:
    return f"{_crc32(name.encode('utf-8', 'surrogatepass')) & 0xFF:02x}"


class NameIndex:
    def __init__(self, directory: str | os.PathLike, table):
        """``table``: the ShardedTable of images this index describes."""
        self.directory = Path(directory)
        self.table = table

    # -- reading ---------------------------------------------------------------
    def _read(self, path: Path, crc: int | None = None) -> dict:
        """A JSON object from an index file; with ``crc``, only if its bytes still have it."""
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            if crc is None:
                raise _Unusable(path) from None
            raw = b"{}"  # the manifest's checksum of a name file that holds no names
        except OSError as exc:
            raise _Unusable(path) from exc
        if crc is not None and _crc32(raw) != crc:
            raise _Unusable(path)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise _Unusable(path) from exc
        if not isinstance(data, dict):
            raise _Unusable(path)
        return data

    def _name_file(self, key: str) -> Path:
        return self.directory / f"{key}{SHARD_SUFFIX}"

    def _names(self, manifest: dict, key: str) -> dict:
        return self._read(self._name_file(key), manifest["names"].get(key, _crc32(b"{}")))

    def shard_identities(self) -> dict[str, list[int]]:
        """The identity of every image shard file as it is now."""
        found = {}
        try:
            entries = os.scandir(self.table.directory)
        except (FileNotFoundError, NotADirectoryError):
            return found
        with entries:
            for entry in entries:
                stem, suffix = entry.name[:-len(SHARD_SUFFIX)], entry.name[-len(SHARD_SUFFIX):]
                if suffix == SHARD_SUFFIX and len(stem) == self.table.prefix_len:
                    found[stem] = shard_identity(entry.stat(follow_symlinks=False))
        return found

    def _manifest(self) -> dict:
        manifest = self._read(self.directory / MANIFEST)
        if (manifest.get("version") != INDEX_VERSION or not isinstance(manifest.get("shards"), dict)
                or not isinstance(manifest.get("names"), dict)):
            raise _Unusable(self.directory / MANIFEST)
        return manifest

    def _fresh_manifest(self) -> dict | None:
        try:
            manifest = self._manifest()
        except _Unusable:
            return None
        return manifest if manifest["shards"] == self.shard_identities() else None

    def is_fresh(self) -> bool:
        return self._fresh_manifest() is not None

    def lookup(self, name: str) -> list[str] | None:
        """The IDs of images that had ``name`` when last written, or None if the index cannot be trusted."""
        manifest = self._fresh_manifest()
        if manifest is None:
            return None
        try:
            ids = self._names(manifest, name_shard(name)).get(name, [])
        except _Unusable:
            return None
        return ids if isinstance(ids, list) else None

    def expected(self) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[int]]]:
        """(the name shards, the shard identities) the image shards call for now.

        Raises StoreCorrupt if an image shard does not parse.
        """
        shards: dict[str, dict[str, list[str]]] = {}
        identities = {}
        with collector_paused():
            self._scan(shards, identities)
        return shards, identities

    def _scan(self, shards: dict, identities: dict) -> None:
        for path in self.table.shard_paths():
            identities[path.stem] = shard_identity(os.stat(path, follow_symlinks=False))
            data = self.table.storage(path, bulk=True).read() or {}
            for doc in data.get(self.table.name, {}).values():
                name = doc.get("name") if isinstance(doc, dict) else None
                if isinstance(name, str) and isinstance(doc.get("id"), str):
                    shards.setdefault(name_shard(name), {}).setdefault(name, []).append(doc["id"])

    def problem(self) -> str | None:
        """What is wrong with the index compared with the shards, or None. Raises StoreCorrupt."""
        shards, identities = self.expected()
        if not identities:
            return None  # no images: nothing to index
        try:
            manifest = self._manifest()
        except _Unusable:
            return "missing or unreadable, so lookups by name read every shard"
        if manifest["shards"] != identities:
            return ("out of date (shards were written without it: an older glancectl, a restored "
                    "backup or a crash), so lookups by name read every shard")
        for key in set(shards) | {p.stem for p in self._name_shard_paths()}:
            try:
                stored = self._names(manifest, key)
            except _Unusable:
                return f"{key}{SHARD_SUFFIX} is unreadable or not what the manifest says"
            if _normalised(stored) != _normalised(shards.get(key, {})):
                return f"{key}{SHARD_SUFFIX} does not match the image records"
        return None

    def _name_shard_paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [p for p in self.directory.glob(f"*{SHARD_SUFFIX}") if len(p.stem) == 2]

    # -- writing (under the store lock) ------------------------------------------
    def rebuild(self) -> int:
        """Write the whole index from the shards; returns how many names it holds."""
        shards, identities = self.expected()
        ensure_dir(self.directory)
        remove_quietly(self.directory / MANIFEST)  # until the new one is written: stale
        checksums = {key: _write(self._name_file(key), _dump(names)) for key, names in shards.items()}
        for path in self._name_shard_paths():
            if path.stem not in shards:
                remove_quietly(path)
        _write(self.directory / MANIFEST,
               _dump({"version": INDEX_VERSION, "shards": identities, "names": checksums}))
        return sum(len(names) for names in shards.values())

    @contextmanager
    def changing(self, *shard_paths: Path) -> Iterator[list]:
        """Around writes of the image shards ``shard_paths``, under the store lock.

        The writer appends ``(id, name before, name after)`` for each record it
        changes. Afterwards the index is brought up to date, or rebuilt when it
        was stale before the write. The index is only a help: if it cannot be
        written, the manifest goes, readers scan, and the change itself stands.
        """
        try:
            manifest = self._fresh_manifest()
        except OSError:
            manifest = None
        changes: list[tuple[str, str | None, str | None]] = []
        yield changes
        try:
            try:
                if manifest is None:
                    raise _Unusable(self.directory / MANIFEST)
                self._apply(manifest, changes)  # each name file once, however many shards changed
                for path in shard_paths:
                    manifest["shards"][path.stem] = shard_identity(os.stat(path, follow_symlinks=False))
                _write(self.directory / MANIFEST, _dump(manifest))
            except _Unusable:
                self.rebuild()
        except (GlancectlError, OSError):
            try:
                remove_quietly(self.directory / MANIFEST)
            except OSError:
                pass  # the manifest no longer matches the shard just written, which is enough

    def _apply(self, manifest: dict, changes: list) -> None:
        edits: dict[str, list[tuple[str, str, bool]]] = {}
        for record_id, before, after in changes:
            if before == after:
                continue
            if isinstance(before, str):
                edits.setdefault(name_shard(before), []).append((before, record_id, False))
            if isinstance(after, str):
                edits.setdefault(name_shard(after), []).append((after, record_id, True))
        for key, edit in edits.items():
            names = self._names(manifest, key)
            for name, record_id, present in edit:
                ids = [i for i in names.get(name, []) if i != record_id]
                if present:
                    ids.append(record_id)
                if ids:
                    names[name] = ids
                else:
                    names.pop(name, None)
            if names:
                ensure_dir(self.directory)
                manifest["names"][key] = _write(self._name_file(key), _dump(names))
            else:
                remove_quietly(self._name_file(key))
                manifest["names"].pop(key, None)


def _normalised(names: dict) -> dict:
    return {name: sorted(ids) for name, ids in names.items() if ids}


def _dump(value) -> bytes:
    # A lone surrogate in a name (only a hand edit makes one) as the JSON escape it stands for.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def _write(path: Path, payload: bytes) -> int:
    """Replace ``path`` (unsynced: the manifest's checksums catch a loss); returns the crc32."""
    fd, tmp = create_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    return _crc32(payload)
