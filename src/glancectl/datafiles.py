"""Image data files: where image bytes hit the disk.

Data for an image is written to ``tmp/`` under the home while it streams
in, fsynced, and only then renamed to ``data/<id>`` (or ``staging/<id>``)
under the store lock. A crash mid-stream leaves a temp file whose owner's
lease is dead; ``operations.recovery`` sweeps it on the next write.

The copy loop overlaps reading, hashing and writing: one thread reads
while three others run md5, sha512 and the write (hashlib and os.write
release the GIL on large buffers), so the costs add up to the slowest of
them, not their sum, and a write waiting for the disk holds up no hash.
"""

from __future__ import annotations

import errno
import os
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from glancectl.errors import InvalidValue
from glancectl.storage import (
    TEMP_MARKER,
    create_temp,
    ensure_dir,
    fsync_dir,
    remove_quietly,
)
from glancectl.store import Store, checked_uuid

CHUNK_SIZE = 4 * 1024 * 1024
# Buffers in flight: one being read, the rest queued for the sinks. A chunk's buffer is free
# again only when every sink is done with it, so this is how far the hashes can run ahead
# of a write the disk holds up (5 chunks: ~25 ms of md5) before reading stops. 24 MiB.
PIPELINE_DEPTH = 6
Sink = Callable[[memoryview], None]


def _fill(readinto: Callable[[memoryview], int], view: memoryview) -> int:
    """Read until ``view`` is full or the source ends; pipes and sockets return short reads."""
    got = 0
    while got < len(view):
        n = readinto(view[got:])
        if not n:
            break
        got += n
    return got


def pump(
    readinto: Callable[[memoryview], int],
    sinks: Sequence[Sink],
    *,
    on_chunk: Callable[[int], None] = lambda total: None,
) -> int:
    """Stream everything from ``readinto`` through every sink, in order; return the byte count.

    Each sink runs on its own single thread, so it sees the chunks in order,
    while the caller's thread is already reading the next chunk. ``on_chunk``
    runs on the caller's thread with the running total (for limits and
    progress); raising there stops the stream.
    """
    import mmap  # only the data path pays for threads and page-aligned buffers
    from concurrent.futures import ThreadPoolExecutor

    executors = [ThreadPoolExecutor(1, thread_name_prefix="glancectl-sink") for _ in sinks]
    # Anonymous maps start on a page boundary, as a direct write needs (see _Writer).
    free = deque(mmap.mmap(-1, CHUNK_SIZE) for _ in range(PIPELINE_DEPTH))
    in_flight: deque = deque()
    total = 0

    def retire_oldest() -> None:
        futures, buffer = in_flight.popleft()
        try:
            for future in futures:
                future.result()
        finally:
            free.append(buffer)

    try:
        while True:
            if not free:
                retire_oldest()
            buffer = free.popleft()
            n = _fill(readinto, memoryview(buffer))
            if n == 0:
                free.append(buffer)
                break
            total += n
            on_chunk(total)
            chunk = memoryview(buffer)[:n]
            in_flight.append(([ex.submit(sink, chunk) for ex, sink in zip(executors, sinks)], buffer))
        while in_flight:
            retire_oldest()
    finally:
        for ex in executors:
            ex.shutdown(wait=True, cancel_futures=True)
    return total


@dataclass(frozen=True)
class Received:
    size: int
    checksum: str  # md5 hex, Glance's legacy checksum
    os_hash_value: str  # sha512 hex
    temp_path: Path


DIRECT_ALIGN = 4096  # a direct write's offset, length and buffer: whole pages and sectors


class _Writer:
    """Writes whole chunks to a file descriptor, however the kernel splits them.

    With ``direct`` (a regular file of ours, written from ``pump``'s
    page-aligned chunks) the writes bypass the page cache (O_DIRECT): the
    disk takes the bytes straight from the chunk, without the copy into the
    cache and the kernel's writeback work (0.6-1.9 s of CPU per GiB on a
    2-core VM, against 0.2-0.3 s direct: as much as a hash). A file system
    that refuses O_DIRECT, and the last chunk when its length is not whole
    pages, are written through the cache. There, each chunk's writeback
    starts as soon as it is written (fadvise DONTNEED starts it on Linux,
    like sync_file_range), so the closing fsync has little left to wait
    for. Either way the data is only called durable after that fsync, as
    before.
    """

    def __init__(self, fd: int, *, direct: bool = False):
        self.fd = fd
        self.offset = 0
        self.early_writeback = hasattr(os, "posix_fadvise")
        self.direct = direct and _set_direct(fd, True)

    def __call__(self, chunk: memoryview) -> None:
        start, length = self.offset, len(chunk)
        if self.direct and length % DIRECT_ALIGN:
            self._through_the_cache()
        while chunk:
            try:
                written = os.write(self.fd, chunk)
            except OSError as exc:
                if not (self.direct and exc.errno == errno.EINVAL):
                    raise
                self._through_the_cache()  # this file system wants other alignment
                continue
            chunk = chunk[written:]
            if chunk and self.direct:  # a short write leaves the rest off the page boundary
                self._through_the_cache()
        self.offset += length
        if self.early_writeback and not self.direct:
            try:
                os.posix_fadvise(self.fd, start, length, os.POSIX_FADV_DONTNEED)
            except OSError:  # a pipe or a device: nothing to write back
                self.early_writeback = False

    def _through_the_cache(self) -> None:
        _set_direct(self.fd, False)
        self.direct = False


def _set_direct(fd: int, on: bool) -> bool:
    """Turn O_DIRECT on or off for ``fd``; False where the system or file system has none."""
    if not hasattr(os, "O_DIRECT"):
        return False
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | os.O_DIRECT) if on else (flags & ~os.O_DIRECT))
    except OSError:
        return False
    return True


def temp_dir(store: Store) -> Path:
    return store.home / "tmp"


def new_data_temp(store: Store, image_id: str) -> tuple[int, Path]:
    """A temp file named for its image, so recovery can tell whose it is."""
    return create_temp(ensure_dir(temp_dir(store)), checked_uuid(image_id))


def temp_owner(path: Path) -> str | None:
    """The image id a data temp file belongs to, or None for a foreign file."""
    name = path.name
    if not name.startswith(".") or TEMP_MARKER not in name:
        return None
    try:
        return checked_uuid(name[1:].split(TEMP_MARKER, 1)[0])
    except InvalidValue:
        return None


def receive(
    readinto: Callable[[memoryview], int],
    fd: int,
    temp_path: Path,
    *,
    extra_sinks: Sequence[Sink] = (),
    on_chunk: Callable[[int], None] = lambda total: None,
) -> Received:
    """Stream data into the open temp file ``fd``, hashing it on the way, and fsync it.

    md5, sha512 and the write each have a thread: md5 is the slowest of
    them, and a thread of its own keeps it from waiting on the disk.
    ``extra_sinks`` (the format inspector) ride on the sha512 thread, the
    lighter hash.
    """
    import hashlib

    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()

    def sha512_and_inspect(chunk: memoryview) -> None:
        sha512.update(chunk)
        for sink in extra_sinks:
            sink(chunk)

    size = pump(readinto, [md5.update, sha512_and_inspect, _Writer(fd, direct=True)],
                on_chunk=on_chunk)
    os.fsync(fd)
    return Received(size, md5.hexdigest(), sha512.hexdigest(), temp_path)


@dataclass(frozen=True)
class Digest:
    size: int
    checksum: str  # md5 hex
    os_hash_value: str  # sha512 hex


def measure(readinto: Callable[[memoryview], int], *,
            on_chunk: Callable[[int], None] = lambda total: None) -> Digest:
    """Size and hashes of data kept elsewhere (a location), read once and not stored:
    what Glance's location API records with do_secure_hash."""
    import hashlib

    md5, sha512 = hashlib.md5(usedforsecurity=False), hashlib.sha512()
    size = pump(readinto, [md5.update, sha512.update], on_chunk=on_chunk)
    return Digest(size, md5.hexdigest(), sha512.hexdigest())


def commit(temp_path: Path, final_path: Path) -> None:
    """Put a complete, synced temp file in its final place, durably."""
    ensure_dir(final_path.parent)
    os.replace(temp_path, final_path)
    fsync_dir(final_path.parent)
    fsync_dir(temp_path.parent)


def discard(temp_path: Path | None) -> None:
    if temp_path is not None:
        remove_quietly(temp_path)


def remove_image_data(store: Store, image_id: str, *, data: bool = True, staged: bool = True) -> list[Path]:
    """Remove the store-managed data and (or) any staged data of an image; return what went."""
    return remove_images_data(store, [image_id], data=data, staged=staged)


def remove_images_data(store: Store, image_ids: Iterable[str], *, data: bool = True,
                       staged: bool = True) -> list[Path]:
    """``remove_image_data`` for many images, syncing each directory once; return what went.

    A store directory replaced by a symlink holds nothing of ours, so it is
    never unlinked through (``doctor`` reports the symlink).
    """
    image_ids = list(image_ids)
    removed = []
    for wanted, path_of in ((data, store.data_path), (staged, store.staging_path)):
        for image_id in image_ids if wanted else ():
            path = path_of(image_id)
            if path.parent.is_symlink():
                continue
            if path.exists() or path.is_symlink():
                remove_quietly(path)
                removed.append(path)
    for directory in {path.parent for path in removed}:
        fsync_dir(directory)
    return removed


def store_location(store: Store, image_id: str) -> str:
    """The location URL of data the store itself holds, as Glance's file store records it."""
    return store.data_path(image_id).as_uri()


class OutputFile:
    """A user's download target, written whole or not at all.

    Bytes go to a temp file beside PATH and replace it only after the hash
    verified; a symlink at PATH is refused rather than silently written through.
    A device or a named pipe (``/dev/null``, ``<(...)``) is written in place:
    replacing it with a regular file would break it.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None
        self._temp: Path | None = None

    def __enter__(self) -> "OutputFile":
        if self.path.is_symlink():
            raise InvalidValue(
                f"{self.path} is a symlink; refusing to write through it. Remove it or choose another path."
            )
        if self.path.is_dir():
            raise InvalidValue(f"{self.path} is a directory")
        with self._users_path():
            if self.path.exists() and not self.path.is_file():
                self._fd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW)
            else:
                directory = self.path.parent
                if not directory.is_dir():
                    raise InvalidValue(f"directory {directory} does not exist")
                self._fd, self._temp = create_temp(directory, self.path.name)
                os.fchmod(self._fd, 0o666 & ~_umask())
        self._writer = _Writer(self._fd, direct=self._temp is not None)
        return self

    def write(self, chunk: memoryview) -> None:
        with self._users_path():
            self._writer(chunk)

    @contextmanager
    def _users_path(self):
        """Failing to write the user's own path is a usage error (2), not the store's (7)."""
        try:
            yield
        except OSError as exc:
            raise InvalidValue(f"cannot write {self.path}: {exc.strerror or exc}; "
                               "nothing was written there. Choose a path you can write.") from None

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._temp is None:  # a device or pipe: nothing to sync or rename
            os.close(self._fd)
            return
        try:
            if exc_type is None:
                with self._users_path():
                    os.fsync(self._fd)
        except BaseException:
            remove_quietly(self._temp)
            raise
        finally:
            os.close(self._fd)
        if exc_type is None:
            try:
                with self._users_path():
                    os.replace(self._temp, self.path)
                    fsync_dir(self.path.parent)
            finally:
                remove_quietly(self._temp)  # a no-op once renamed
        else:
            remove_quietly(self._temp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
