"""Renderings: each image's JSON as ``image list -f json`` prints it, kept beside its shard.

Building every image's Glance view and encoding it took most of a long JSON
listing's time, so the writers keep it. Layout under ``rendered/``::

    <xx>.items   one header line, then each record's rendering in the shard's order:
                 {"version": VERSION, "shard": [inode, size, mtime_ns, ctime_ns],
                  "crc32": <of what follows>, "lengths": [n, ...]}
                 <rendering of record 1><rendering of record 2>...

Derived data, like the name index (``nameindex``): every write of an image
shard renders its records again (as a listing would render them read back
from the file) and replaces the file, under the store lock, unsynced. A
rendering counts only while its header names the identity of the very shard
file the listing read (each write of a shard makes a new inode, and any
other write moves its ctime), this version of the rendering and as many
records, and its checksum holds. So a shard written without it -- by an
older glancectl, by doctor restoring a backup, by hand, or before a crash
between the two files -- is rendered afresh by the listing, never shown
stale, and a torn or lost rendering reads as stale too. A listing never
writes; ``doctor`` reports stale renderings and ``--repair`` writes them.
"""

from __future__ import annotations

import json
import os
import stat
import zlib
from itertools import accumulate
from pathlib import Path
from typing import Callable, Iterable, Mapping

from glancectl import records
from glancectl.errors import GlancectlError
from glancectl.jsontext import ListItems, list_items, orjson_items
from glancectl.storage import bulk_loads, create_temp, ensure_dir, remove_quietly, shard_identity

# Bump whenever the rendering changes (records.image_view, jsontext.list_items): a
# rendering of another version is stale. tests/test_renderings.py pins the rendering.
VERSION = 2
SUFFIX = ".items"


def image_items(stored: Iterable[Mapping]) -> list[bytes]:
    """Each image's Glance view as an element of a JSON list: what a rendering holds."""
    return list_items(map(records.image_view, stored))


class ImageItems(ListItems):
    """A listing's ``keep`` for ``image list -f json``: each image's item, which the listing
    may read from the renderings rather than make (``operations.images.list_images``)."""

    def __init__(self):
        super().__init__(records.image_view)


class Renderings:
    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def path(self, shard_path: str | os.PathLike) -> str:
        stem = os.path.basename(shard_path)[:-len(".json")]
        return os.path.join(self.directory, stem + SUFFIX)

    # -- reading ---------------------------------------------------------------
    def read(self, shard_path: str | os.PathLike, shard_stat: os.stat_result | None,
             count: int) -> list[memoryview] | None:
        """The renderings of the ``count`` records of the shard file whose status is
        ``shard_stat`` (the file as read), or None if there are none that fit it."""
        if shard_stat is None:
            return None
        try:
            # Not through a symlink, and never waiting on a FIFO someone put there.
            fd = os.open(self.path(shard_path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:  # none yet, a symlink in its place, unreadable: render afresh
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    return None
                text = handle.read()
        except OSError:  # an I/O error
            return None
        end = text.find(b"\n")
        try:
            fields = bulk_loads()(text[:end])
            lengths = fields["lengths"]
            fresh = (end > 0 and fields["version"] == VERSION
                     and fields["shard"] == shard_identity(shard_stat)
                     and type(lengths) is list and len(lengths) == count
                     and set(map(type, lengths)) <= {int} and min(lengths, default=0) >= 0
                     and sum(lengths) == len(text) - end - 1)
        except (ValueError, TypeError, KeyError):
            return None
        body = memoryview(text)[end + 1:]
        if not fresh or fields.get("crc32") != zlib.crc32(body):
            return None
        ends = list(accumulate(lengths, initial=0))
        return list(map(body.__getitem__, map(slice, ends[:-1], ends[1:])))

    def problem(self, shards: Iterable[tuple[str, os.stat_result, list]]) -> str | None:
        """What is wrong with the renderings of ``shards`` ((path, status, records) of each
        image shard as read now), or None."""
        stale = sum(self.read(path, st, len(stored)) != image_items(stored)
                    for path, st, stored in shards)
        if not stale:
            return None
        return (f"missing or out of date for {stale} image shard{'s' if stale != 1 else ''}, "
                "so 'image list -f json' renders those images on every listing")

    # -- writing (under the store lock) ------------------------------------------
    def rebuild(self, shards: Iterable[tuple[str, os.stat_result, list]]) -> int:
        """Render every shard of ``shards`` ((path, status, records) of each, as read now);
        how many. Raises what stopped any (doctor --repair reports it), after the others."""
        written, failed = 0, []
        for path, st, stored in shards:
            try:
                self._write(path, stored, st)
                written += 1
            except (GlancectlError, OSError) as exc:
                failed.append(f"{self.path(path)}: {exc.strerror if isinstance(exc, OSError) else exc}")
        if failed:
            raise RenderingsUnwritable(f"wrote {written}; could not write {len(failed)} "
                                       f"({failed[0]}{', ...' if len(failed) > 1 else ''})")
        return written

    def write(self, shard_path: str | os.PathLike, stored: list, shard_stat: os.stat_result,
              read_back: Callable[[], list]) -> None:
        """Render ``stored``, the records just written to the shard file whose status is
        ``shard_stat``. A listing renders them as it reads them back, ``read_back()``, which
        differs only where orjson cannot write a value as it is (an integer past 64 bits,
        read back as a float), so only then are they read back. Only a help: if it cannot be
        written, the old file no longer fits the shard, and the change itself stands."""
        try:
            items = orjson_items(map(records.image_view, stored))
            self._write_items(shard_path, items or image_items(read_back()), shard_stat)
        except Exception:  # noqa: BLE001 -- whatever went wrong, the write it follows stands
            pass

    def _write(self, shard_path: str | os.PathLike, stored: list, shard_stat: os.stat_result) -> None:
        self._write_items(shard_path, image_items(stored), shard_stat)

    def _write_items(self, shard_path: str | os.PathLike, items: list[bytes],
                     shard_stat: os.stat_result) -> None:
        body = b"".join(items)
        header = {"version": VERSION, "shard": shard_identity(shard_stat), "crc32": zlib.crc32(body),
                  "lengths": list(map(len, items))}
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


class RenderingsUnwritable(GlancectlError):
    """Some renderings could not be written (doctor --repair says which)."""
