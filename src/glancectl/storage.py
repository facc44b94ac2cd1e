"""Crash-safe file primitives: atomic JSON files for TinyDB, owner-only files, the lock.

Every byte glancectl keeps reaches the disk through this module or through
``datafiles`` beside it. Writes go to a temporary file in the same
directory, are fsynced, renamed over the target and the directory is
fsynced, so a reader or a crash sees the old file or the new one, never a
mix.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import time
from contextlib import contextmanager
from itertools import repeat
from typing import TYPE_CHECKING, Callable, Iterator

from tinydb.storages import Storage

from glancectl.errors import StoreCorrupt, StoreUnavailable

if TYPE_CHECKING:
    from pathlib import Path

TEMP_MARKER = ".tmp-"  # every temporary file's name contains this, so doctor can find them
DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only, refusing a symlink in its place."""
    try:
        os.makedirs(path, mode=DIR_MODE, exist_ok=True)
    except FileExistsError:
        pass
    if path.is_symlink() or not path.is_dir():
        raise StoreUnavailable(f"{path} is not a directory (a symlink or file is in its place)")
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_temp(directory: Path, stem: str) -> tuple[int, Path]:
    """Open a new owner-only temporary file next to its final place.

    O_EXCL and O_NOFOLLOW mean a planted file or symlink is never written through.
    """
    for _ in range(100):
        path = directory / f".{stem}{TEMP_MARKER}{os.getpid()}-{os.urandom(4).hex()}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        except FileExistsError:
            continue
        return fd, path
    raise StoreUnavailable(f"could not create a temporary file in {directory}")


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_atomic(path: Path, payload: bytes, *, keep_previous: bool = True) -> os.stat_result:
    """Replace ``path`` with ``payload`` atomically and durably; the status of the file written.

    With ``keep_previous`` the old good copy is kept as ``path.bak`` (a hard
    link, so it costs no copy) for ``doctor --repair``. The status is that of
    the very file written, once in place (the rename moves its ctime), whatever
    another program may have put at ``path`` since.
    """
    directory = path.parent
    fd, tmp = create_temp(directory, path.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            if keep_previous and path.exists():
                backup = path.with_name(path.name + ".bak")
                link_tmp = directory / f".{backup.name}{TEMP_MARKER}{os.getpid()}-{os.urandom(4).hex()}"
                os.link(path, link_tmp, follow_symlinks=False)
                os.replace(link_tmp, backup)
                # If a crash between the two renames left .bak and path one inode, the
                # rename above was a no-op (POSIX) and link_tmp is still there.
                remove_quietly(link_tmp)
            os.replace(tmp, path)
            written = os.fstat(handle.fileno())
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(directory)
    return written


def read_json(path: str | Path, *, bulk: bool = False):
    """Parse a store file, or None when it does not exist. Never guesses at a bad file.

    ``bulk``: one of many files read in a row (listings, scrub): parsed with
    orjson when it is installed, which is several times quicker.
    """
    raw, _ = read_bytes(path)
    return None if raw is None else parse_json(raw, path, bulk=bulk)


def read_bytes(path: str | Path) -> tuple[bytes | None, os.stat_result | None]:
    """A store file's bytes and the status of the very file read; (None, None) if there is none."""
    try:
        raw, st = _read_bytes(path)
    except FileNotFoundError:
        return None, None
    except PermissionError:
        raise StoreUnavailable(f"permission denied reading store file {path}") from None
    except IsADirectoryError:
        raise StoreCorrupt(path, "a directory is in its place") from None
    except NotADirectoryError:
        raise StoreCorrupt(os.path.dirname(path), "not a directory") from None
    return raw, st


def parse_json(raw: bytes, path: str | Path, *, bulk: bool = False):
    """The JSON document of a store file's bytes, or StoreCorrupt naming ``path``."""
    if not raw or raw.isspace():  # not strip(): that copies the whole file
        raise StoreCorrupt(path, "file is empty")
    if bulk:
        try:
            return bulk_loads()(raw)
        except ValueError:
            pass  # what orjson refuses (a lone surrogate, a huge integer) json may read: it decides
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreCorrupt(path, f"invalid JSON: {exc}") from None


def shard_identity(st: os.stat_result) -> list[int]:
    """What changes with every write of a file: glancectl's writes make a new inode each time,
    and any other write moves its times (its ctime, which no file call can set back)."""
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read_bytes(path: str | Path) -> tuple[bytes, os.stat_result]:
    """A whole file and its status, in as few system calls as it takes: a listing reads every
    shard, and ``open()``'s buffered file object costs more than the read of a small file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        raw = os.read(fd, size + 1)  # short of size + 1: the whole file
        if len(raw) > size:  # it grew since fstat: read on to the end
            rest = [raw]
            while rest[-1]:
                rest.append(os.read(fd, 1 << 16))
            raw = b"".join(rest)
        return raw, os.fstat(fd)  # after: an edit in place while reading shows in it
    finally:
        os.close(fd)


def bulk_loads() -> Callable[[bytes], object]:
    """The quickest JSON parser installed: orjson, else the standard library's."""
    try:
        import orjson
    except ImportError:
        return json.loads
    return orjson.loads


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while many records are read.

    Records are plain dicts and lists, freed by reference counting; the
    collector would only walk the growing heap again and again (it doubled
    the time of a 100,000-image listing).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class AtomicJSONStorage(Storage):
    """TinyDB storage that never leaves a torn file and never hides a bad one.

    ``check(path, document)`` raises StoreCorrupt when a well-formed
    document holds records of the wrong shape; every read goes through it,
    including the one TinyDB makes before a write. ``stat`` is the status of
    the file the last read read, and ``checked`` what ``check`` returned of it.
    ``on_write(path, document, payload, stat)`` runs after each write, with
    the bytes written and the status of the file now in place.
    """

    def __init__(self, path: str | Path, check: Callable[[str | Path, dict], None] | None = None, *,
                 bulk: bool = False,
                 on_write: Callable[[str | Path, dict, bytes, os.stat_result], None] | None = None):
        self.path = path  # as given: a read by ID passes a string (see store.Store.root)
        self.check = check
        self.bulk = bulk
        self.on_write = on_write
        self.stat: os.stat_result | None = None
        self.checked: object = None

    def read(self):
        raw, self.stat = read_bytes(self.path)
        return None if raw is None else self.parse(raw)

    def parse(self, raw: bytes) -> dict:
        """The document in a file's bytes, checked, as this storage reads them."""
        try:
            return self._checked(parse_json(raw, self.path, bulk=self.bulk))
        except StoreCorrupt:
            if not self.bulk:
                raise
            # orjson reads an integer past 64 bits as a float: the exact parser decides.
            return self._checked(parse_json(raw, self.path))

    def _checked(self, data) -> dict:
        if not (isinstance(data, dict) and all(map(isinstance, data.values(), repeat(dict)))):
            raise StoreCorrupt(self.path, "not a TinyDB document")
        if self.check is not None:
            self.checked = self.check(self.path, data)
        return data

    def write(self, data) -> None:
        from pathlib import Path  # a write names its files by Path; a read needs none

        path = Path(self.path)
        ensure_dir(path.parent)
        # A lone surrogate (only a hand edit makes one) as the JSON escape it was read from.
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        payload = text.encode("utf-8", "backslashreplace")
        written = write_atomic(path, payload)
        if self.on_write is not None:
            self.on_write(self.path, data, payload, written)

    def close(self) -> None:
        pass


class StoreLock:
    """One exclusive flock on a lock file that is never replaced.

    flock is released by the kernel when the holder dies, so a killed
    process can never leave the store locked.
    """

    MAX_POLL = 0.05  # seconds between a waiting writer's tries, at the longest

    def __init__(self, path: Path, timeout: float):
        self.path = path
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
        except PermissionError:
            raise StoreUnavailable(f"permission denied opening lock file {self.path}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreUnavailable(f"lock file {self.path} is a symlink; refusing it") from None
            if exc.errno == errno.EISDIR:
                raise StoreUnavailable(
                    f"lock file {self.path} is a directory; 'glancectl doctor --repair' moves it aside"
                ) from None
            raise
        deadline = time.monotonic() + self.timeout
        delay = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StoreUnavailable(
                        f"store is busy: another glancectl held {self.path} for "
                        f"{self.timeout:g} s; nothing was changed. Retry, or raise --lock-timeout."
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, self.MAX_POLL)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
