"""Sidecars: a file derived from each shard, kept beside it by the writers, trusted by a
listing only while it fits the very shard file it was made from.

A listing that reads every shard spends its time on work that the writers,
who touch one shard at a time, can do once: ``renderings`` keep each image's
JSON, ``summaries`` each record's listed fields. Each sidecar is one file per
shard, ``<directory>/<xx><suffix>``::

    {"version": V, "shard": [inode, size, mtime_ns, ctime_ns], "shard_crc32": <of the shard>,
     "crc32": <of the kind's own fields ("...") and the body>, ...}
    <body>

Derived data, like the name index (``nameindex``): every write of a shard
derives its sidecar again and replaces the file, under the store lock,
unsynced. A sidecar counts only while its header names the identity of the
very shard file read and the sidecar's version, and its checksum holds. So a
shard written without it -- by an older glancectl, by doctor restoring a
backup, by hand, or before a crash between the two files -- is read whole by
the listing, never shown stale, and a torn or lost sidecar reads as stale
too. A listing never writes; ``doctor`` reports stale sidecars and
``--repair`` writes them.

The identity changes with every write of the shard that comes after the
sidecar was made: each write of a shard makes a new inode, and any other
write moves its ctime -- to a later tick of the file system's clock. Within
one tick (a whole second on some file systems, a few milliseconds on older
kernels) an edit may leave all four the same, even the inode number, which
a file renamed into place can take over from the one it replaced. So a
sidecar made no later than the tick of the shard's ctime (a "racy" one, as
git says of its index) is trusted only after the shard's bytes are read and
their checksum is the one the header names.
"""

from __future__ import annotations

import json
import os
import stat
import zlib
from pathlib import Path
from typing import Callable, Iterable

from glancectl.errors import GlancectlError
from glancectl.storage import (
    bulk_loads, create_temp, ensure_dir, read_bytes, remove_quietly, shard_identity,
)

Encoded = tuple[bytes, dict]  # a sidecar's body, and what its header says of it besides


class Sidecars:
    """One kind of sidecar, in ``directory``. A kind says how a shard's records are encoded
    (``encode``) and how a fitting body is read (``decode``)."""

    VERSION: int  # bumped whenever the encoding changes: a sidecar of another version is stale
    SUFFIX: str
    SHARDS: str  # the shards they come from, as doctor names them ("image shard")
    IF_STALE: str  # what a listing does for a shard whose sidecar does not fit

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def path(self, shard_path: str | os.PathLike) -> str:
        stem = os.path.basename(shard_path)[:-len(".json")]
        return os.path.join(self.directory, stem + self.SUFFIX)

    def encode(self, stored: list) -> Encoded | None:
        """The sidecar of records ``stored`` as read from their shard, or None where none can
        be made that reads back as they do (the listing then reads the shard)."""
        raise NotImplementedError

    def decode(self, fields: dict, body: memoryview, count: int | None):
        """What a fitting sidecar holds, from its header ``fields`` and ``body`` (of ``count``
        records, when the caller knows), or None if it does not hold up."""
        raise NotImplementedError

    # -- reading ---------------------------------------------------------------
    def read(self, shard_path: str | os.PathLike, shard_stat: os.stat_result | None,
             count: int | None = None):
        """``decode`` of the sidecar of the shard file whose status is ``shard_stat`` (the file
        as read), or None if there is none that fits it."""
        found = self._fitting(shard_path, shard_stat)
        if found is None:
            return None
        try:
            return self.decode(*found, count)
        except (ValueError, TypeError, KeyError):
            return None

    def _fitting(self, shard_path: str | os.PathLike,
                 shard_stat: os.stat_result | None) -> tuple[dict, memoryview] | None:
        """The header and body of the sidecar, if it names this version and that shard file,
        and its checksum holds (and, if it is racy, the shard's does)."""
        if shard_stat is None:
            return None
        try:
            # Not through a symlink, and never waiting on a FIFO someone put there.
            fd = os.open(self.path(shard_path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # none yet, a symlink in its place, unreadable: read the shard
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                made = os.fstat(handle.fileno())
                if not stat.S_ISREG(made.st_mode):
                    return None
                text = handle.read()
        except OSError:  # an I/O error
            return None
        end = text.find(b"\n")
        try:
            fields = bulk_loads()(text[:end])
            fresh = (end > 0 and type(fields) is dict and fields.get("version") == self.VERSION
                     and fields.get("shard") == shard_identity(shard_stat))
        except ValueError:
            return None
        body = memoryview(text)[end + 1:]
        if not fresh or fields.get("crc32") != checksum(fields, body):
            return None
        if made.st_mtime_ns <= shard_stat.st_ctime_ns and not _holds(shard_path, fields):
            return None  # racy, and the shard is not what it was made from
        return fields, body

    def problem(self, shards: Iterable[tuple[str, os.stat_result, list]]) -> str | None:
        """What is wrong with the sidecars of ``shards`` ((path, status, records) of each shard
        as read now), or None."""
        stale = 0
        for path, st, stored in shards:
            expected = self.encode(stored)
            if expected is None:
                continue  # none can be made: the listing reads this shard whole
            found = self._fitting(path, st)
            body, fields = expected
            stale += found is None or found[1] != body or any(
                found[0].get(key) != value for key, value in fields.items())
        if not stale:
            return None
        return (f"missing or out of date for {stale} {self.SHARDS}{'s' if stale != 1 else ''}, "
                f"so {self.IF_STALE}")

    # -- writing (under the store lock) ------------------------------------------
    def rebuild(self, shards: Iterable[tuple[str, os.stat_result, list]]) -> int:
        """Write the sidecar of every shard of ``shards`` ((path, status, records) of each, as
        read now) that can have one; how many. Raises what stopped any (doctor --repair
        reports it), after the others."""
        written, failed = 0, []
        for path, st, stored in shards:
            try:
                encoded = self.encode(stored)
                if encoded is None:
                    continue
                raw, now = read_bytes(path)  # the bytes ``stored`` came from, for shard_crc32
                if now is None or shard_identity(now) != shard_identity(st):
                    raise SidecarsUnwritable("its shard changed while it was read")
                self._write(path, encoded, st, zlib.crc32(raw))
                written += 1
            except (GlancectlError, OSError) as exc:
                failed.append(f"{self.path(path)}: {exc.strerror if isinstance(exc, OSError) else exc}")
        if failed:
            raise SidecarsUnwritable(f"wrote {written}; could not write {len(failed)} "
                                     f"({failed[0]}{', ...' if len(failed) > 1 else ''})")
        return written

    def write(self, shard_path: str | os.PathLike, stored: list, payload: bytes,
              shard_stat: os.stat_result, read_back: Callable[[], list]) -> None:
        """Derive the sidecar of ``stored``, the records just written to the shard file whose
        status is ``shard_stat`` as ``payload``; ``read_back()`` gives them as a listing reads
        them back. Only a help: if it cannot be written, the old file no longer fits the
        shard, and the change itself stands."""
        try:
            encoded = self.encode_written(stored, read_back)
            if encoded is not None:
                self._write(shard_path, encoded, shard_stat, zlib.crc32(payload))
        except Exception:  # noqa: BLE001 -- whatever went wrong, the write it follows stands
            pass

    def encode_written(self, stored: list, read_back: Callable[[], list]) -> Encoded | None:
        """``encode`` of records as written, which may differ from ``read_back()`` only where
        the encoding says so."""
        return self.encode(stored)

    def _write(self, shard_path: str | os.PathLike, encoded: Encoded,
               shard_stat: os.stat_result, shard_crc32: int) -> None:
        body, fields = encoded
        header = {"version": self.VERSION, "shard": shard_identity(shard_stat),
                  "shard_crc32": shard_crc32, "crc32": checksum(fields, body), **fields}
        ensure_dir(self.directory)
        target = self.path(shard_path)
        fd, tmp = create_temp(self.directory, os.path.basename(target))
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
                handle.write(body)
            os.replace(tmp, target)
        except BaseException:
            remove_quietly(tmp)
            raise


_HEADER_KEYS = frozenset(("version", "shard", "shard_crc32", "crc32"))


def checksum(fields: dict, body) -> int:
    """The header's crc32: of the fields a kind adds ("lengths", "count") and the body, since
    a damaged "lengths" would cut a whole body in the wrong places."""
    own = {key: value for key, value in fields.items() if key not in _HEADER_KEYS}
    covered = json.dumps(own, sort_keys=True, separators=(",", ":")).encode()
    return zlib.crc32(body, zlib.crc32(covered))


def _holds(shard_path: str | os.PathLike, fields: dict) -> bool:
    """Whether the shard file is still the one the sidecar ``fields`` name, bytes and all."""
    try:
        raw, st = read_bytes(shard_path)
    except GlancectlError:  # unreadable now: the listing's own read says so
        return False
    return (raw is not None and shard_identity(st) == fields["shard"]
            and zlib.crc32(raw) == fields.get("shard_crc32"))


class SidecarsUnwritable(GlancectlError):
    """Some sidecars could not be written (doctor --repair says which)."""
