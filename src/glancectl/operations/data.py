"""Image data in and out: upload (queued -> saving -> active), download, verification.

The lock is held only for the status changes at each end, never while
bytes stream, so other commands keep working during a long upload. The
uploader holds the image's lease throughout, which is how a crashed
upload is told apart from a slow one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

from glancectl import datafiles, lifecycle, records
from glancectl.config import Settings
from glancectl.datafiles import Received
from glancectl.errors import (
    Conflict,
    DataError,
    GlancectlError,
    InProgress,
    InvalidValue,
    LimitExceeded,
    NoData,
    NotFound,
    Refused,
    SourceError,
    StoreUnavailable,
)
from glancectl.lifecycle import ImageStatus
from glancectl.operations.images import ImageSpec, create_image, editing, move
from glancectl.operations.recovery import settle_dead_writer, settle_if_abandoned
from glancectl.operations.tasks import check_no_active_task
from glancectl.operations.usage import stored_bytes
from glancectl.store import Lease, Store

Progress = Callable[[int], None]  # called with the running byte count


HEX_DIGITS = frozenset("0123456789abcdef")
# The digest each expectation is, and its length in hex digits.
DIGESTS = {"checksum": ("md5", 32), "os_hash_value": ("sha512", 128)}


def _checked_digest(value: str | None, field: str) -> str | None:
    """A digest the user gave, lower-cased; refused before any byte is read if it cannot be one."""
    if value is None:
        return None
    algo, length = DIGESTS[field]
    if not isinstance(value, str) or len(value) != length or not set(value.lower()) <= HEX_DIGITS:
        raise InvalidValue(f"{field} {value!r} is not an {algo} digest: "
                           f"expected {length} hexadecimal digits.")
    return value.lower()


@dataclass(frozen=True)
class Expectations:
    """What the user says the data must be (--size, --checksum, --hash).

    Checked as it is built, so a malformed value is a usage error on every
    face, before anything changes.
    """

    size: int | None = None
    checksum: str | None = None
    os_hash_value: str | None = None

    def __post_init__(self):
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int)
                                      or self.size < 0):
            raise InvalidValue(f"size must be a whole number of bytes, 0 or more; got {self.size!r}")
        for field in DIGESTS:
            object.__setattr__(self, field, _checked_digest(getattr(self, field), field))

    def mismatches(self, got) -> list[str]:
        """What differs in ``got`` (anything with size, checksum and os_hash_value)."""
        found = []
        if self.size is not None and self.size != got.size:
            found.append(f"size {got.size} does not match the expected size {self.size}")
        if self.checksum is not None and self.checksum != got.checksum:
            found.append(f"checksum {got.checksum} does not match the expected {self.checksum}")
        if self.os_hash_value is not None and self.os_hash_value != got.os_hash_value:
            found.append(
                f"os_hash_value {got.os_hash_value} does not match the expected {self.os_hash_value}"
            )
        return found


def check_declared_size(expect: Expectations, source) -> None:
    """A source whose size is known up front (a file, a Content-Length) must have the size
    the user declared; refused before anything changes."""
    if expect.size is not None and source.size is not None and source.size != expect.size:
        raise DataError(
            f"Image data failed verification: {source.description} holds {source.size} bytes, "
            f"not the expected size {expect.size}; nothing was changed.")


def reading_at_most(readinto: Callable[[memoryview], int], most: int) -> Callable[[memoryview], int]:
    """``readinto`` that hands out no more than ``most`` bytes in all, then reports the end.

    With ``most`` one past a limit, the byte that crosses it is the last one
    read: a source that never ends (``/dev/zero``) is not drained.
    """
    done = 0

    def read(buf) -> int:
        nonlocal done
        room = most - done
        if room <= 0:
            return 0
        n = readinto(buf[:room] if len(buf) > room else buf)
        done += n
        return n

    return read


@dataclass(frozen=True)
class Ingested:
    received: Received
    virtual_size: int | None


def _quota_left(store: Store, settings: Settings, owner: str, image_id: str) -> int | None:
    if not settings.user_storage_quota:
        return None
    return settings.user_storage_quota - stored_bytes(store.images.all(), owner, except_id=image_id)


def limit_checker(settings: Settings, quota_left: int | None, progress: Progress | None) -> Progress:
    """Refuse the moment a limit is crossed, not after reading everything."""
    cap = settings.image_size_cap

    def check(total: int) -> None:
        if total > cap:
            raise LimitExceeded(f"Denying attempt to upload image larger than {cap} bytes.")
        if quota_left is not None and total > quota_left:
            raise LimitExceeded(
                f"Denying attempt to upload image because it exceeds the quota: "
                f"the remaining storage quota is {max(quota_left, 0)} bytes."
            )
        if progress is not None:
            progress(total)

    return check


def ingest(
    store: Store,
    settings: Settings,
    record: dict,
    source,
    *,
    expect: Expectations = Expectations(),
    progress: Progress | None = None,
) -> Ingested:
    """Stream ``source`` into a temp file for ``record``: hash, inspect, enforce limits.

    Raises DataError when whole data fails verification; the caller decides
    what status that means. The temp file is removed on any failure.
    """
    from glancectl.inspection import StreamInspector  # only the data path pays for it

    quota_left = _quota_left(store, settings, record.get("owner"), record["id"])
    limits = limit_checker(settings, quota_left, progress)
    for stated in (expect.size, source.size):
        if stated is not None:
            limit_checker(settings, quota_left, None)(stated)
    # What the data must not outgrow: the size the user declared, else the size the source
    # announced (a file that grows while it is read is not the file that was given).
    declared = expect.size if expect.size is not None else source.size

    def check(total: int) -> None:
        if declared is not None and total > declared:
            raise DataError(f"Image data failed verification: {source.description} sent more than "
                            f"the {'expected' if expect.size is not None else 'announced'} size "
                            f"of {declared} bytes; it was stopped there.")
        limits(total)

    ceiling = min(x for x in (declared, settings.image_size_cap, quota_left) if x is not None)
    inspector = StreamInspector(
        record.get("disk_format"), container_format=record.get("container_format")
    )
    fd, temp_path = datafiles.new_data_temp(store, record["id"])
    try:
        try:
            received = datafiles.receive(
                reading_at_most(source.readinto, max(ceiling, 0) + 1), fd, temp_path,
                extra_sinks=[inspector.feed],
                on_chunk=check,
            )
        finally:
            os.close(fd)
        problems = expect.mismatches(received)
        if problems:
            raise DataError("Image data failed verification: " + "; ".join(problems) + ".")
        inspection = inspector.finish(received.size)
        return Ingested(received, inspection.virtual_size)
    except BaseException:
        datafiles.discard(temp_path)
        raise


def digest_fields(got) -> dict:
    """The record's size and hashes for data read whole (``got`` has size, checksum, os_hash_value)."""
    return {"size": got.size, "checksum": got.checksum, "os_hash_algo": "sha512",
            "os_hash_value": got.os_hash_value}


def _data_fields(store: Store, record: dict, got: Ingested) -> dict:
    return {
        **digest_fields(got.received),
        "virtual_size": got.virtual_size,
        "locations": [records.location_entry(datafiles.store_location(store, record["id"]))],
        "status_reason": None,
    }


def check_uploadable(record: dict, target: str = ImageStatus.SAVING) -> None:
    """Glance's refusals before any byte is read."""
    status = record["status"]
    if status in (ImageStatus.SAVING, ImageStatus.IMPORTING):
        raise InProgress(
            f"Image has active task: image {records.image_label(record)} is {status}.",
            hint=lifecycle.NEXT_STEP_HINTS[ImageStatus(status)],
        )
    if status == target == ImageStatus.UPLOADING:
        raise Refused(
            f"Image {records.image_label(record)} already has staged data (it is uploading); "
            "data can be staged only once.",
            hint=f"Import it with 'glancectl image import {record['id']} --method glance-direct', "
                 "or delete the image and create it again to stage other data.")
    lifecycle.check_image_transition(status, target, image=record)


@dataclass(frozen=True)
class Write:
    """One way of writing an image's data: the status it writes in, where it ends, and where."""

    via: ImageStatus  # the status while bytes stream
    to: ImageStatus  # the status once they are in place (the same status: only the data moves)
    bad_data: ImageStatus  # where whole data that fails verification leaves the image
    staged: bool = False  # the bytes go to the staging area, not the store
    what: str = "upload"


UPLOAD = Write(ImageStatus.SAVING, ImageStatus.ACTIVE, ImageStatus.KILLED)


def upload(
    store: Store,
    settings: Settings,
    ref: str,
    source,
    *,
    expect: Expectations = Expectations(),
    progress: Progress | None = None,
) -> dict:
    """queued -> saving -> active; killed on bad data; back to queued on interruption."""
    return write_data(store, settings, ref, source, UPLOAD, expect=expect, progress=progress)


def write_data(
    store: Store,
    settings: Settings,
    ref: str,
    source,
    how: Write,
    *,
    expect: Expectations = Expectations(),
    progress: Progress | None = None,
    task_id: str | None = None,
) -> dict:
    """Stream ``source`` into an image the way ``how`` says; back to queued on interruption.

    ``task_id`` is the import task doing the write, which the image's import
    lock lets through; any other writer is refused while an import is active.
    """
    check_declared_size(expect, source)
    with editing(store, ref, scrub_time=settings.scrub_time) as record:
        record = settle_if_abandoned(store, record)
        check_no_active_task(store, settings, record, own=task_id)
        check_uploadable(record, how.via)
        lease = store.take_lease(record["id"])
        try:
            record = move(store, record, how.via)
        except BaseException:
            lease.release()
            raise
    try:
        got = ingest(store, settings, record, source, expect=expect, progress=progress)
    except DataError as exc:
        end_write(store, record, lease, how.bad_data, reason=str(exc))
        raise
    except BaseException as exc:
        end_write(store, record, lease, ImageStatus.QUEUED, reason=f"{how.what} interrupted: {exc!r}")
        raise
    final_path = (store.staging_path if how.staged else store.data_path)(record["id"])
    return finish_write(store, settings, record, lease, got, final_path, how.to)


def create_with_data(
    store: Store,
    settings: Settings,
    spec: ImageSpec,
    source,
    how: Write = UPLOAD,
    *,
    expect: Expectations = Expectations(),
    progress: Progress | None = None,
) -> dict:
    """``image create --file``: a new image with its data, or no image at all.

    Whatever stops the write (bad data, a limit, a full disk, an unwritable
    ``tmp/``, Ctrl-C, SIGTERM), the record it made is removed again.
    """
    lifecycle.check_new_image_takes_data(spec.disk_format, spec.container_format)
    check_declared_size(expect, source)
    record = create_image(store, settings, spec)
    try:
        return write_data(store, settings, record["id"], source, how, expect=expect,
                          progress=progress)
    except BaseException:
        _forget_new_image(store, record["id"])
        raise


def _forget_new_image(store: Store, image_id: str) -> None:
    """Remove an image whose first write failed, if it is still as that failure left it."""
    try:
        with store.writing():
            current = store.images.get(image_id)
            if (current is not None and current["status"] in (ImageStatus.QUEUED, ImageStatus.KILLED)
                    and not store.lease_is_live(image_id)):
                store.images.remove([image_id])
                datafiles.remove_image_data(store, image_id)
    except (GlancectlError, OSError):
        pass  # the store cannot take the change: the image stays queued, and the error stands


@contextmanager
def _recording_outcome(store: Store, image_id: str, lease: Lease):
    """Release the lease only once the write's outcome is recorded.

    If recording fails (a full disk, a store directory replaced by a
    symlink, a record that moved), the lease is dropped but its file kept,
    which marks a dead writer: the image is settled back to queued here if
    it can be, else by the next command's recovery sweep. Never left saving.
    """
    try:
        yield
    except BaseException:
        lease.abandon()
        try:
            settle_dead_writer(store, image_id)
        except (GlancectlError, OSError):
            pass  # the lease file stays behind, so the next command's sweep retries
        raise
    lease.release()


def end_write(store: Store, record: dict, lease: Lease, status: str, *, reason: str) -> None:
    """Record how an unsuccessful data write ended, if the image is still ours."""
    with store.writing(), _recording_outcome(store, record["id"], lease):
        current = store.images.get(record["id"])
        if current is not None and current["status"] == record["status"]:
            move(store, current, status, status_reason=reason)


def finish_write(store: Store, settings: Settings, record: dict, lease: Lease, got: Ingested,
                 final_path, status: str) -> dict:
    """Put the data in place and the record in ``status``, together, under the lock.

    With ``status`` the record's own (staging), only the data moves. The
    storage quota is checked again here, under the lock: two uploads that
    streamed side by side must not overrun it together.
    """
    with store.writing(), _recording_outcome(store, record["id"], lease):
        try:
            current = store.images.get(record["id"])
            if current is None or current["status"] == ImageStatus.DELETED:
                raise NotFound(f"Image {records.image_label(record)} was deleted while its data "
                               "was being written; the data was discarded.")
            if current["status"] != record["status"]:
                raise Conflict(
                    f"image {records.image_label(record)} became {current['status']} while its "
                    "data was being written; the data was discarded."
                )
            quota_left = _quota_left(store, settings, current.get("owner"), current["id"])
            limit_checker(settings, quota_left, None)(got.received.size)
            if status == current["status"]:
                datafiles.commit(got.received.temp_path, final_path)
                return current
            lifecycle.check_image_transition(current["status"], status, image=current)
            datafiles.commit(got.received.temp_path, final_path)
            fields = _data_fields(store, current, got) if status == ImageStatus.ACTIVE else {}
            return move(store, current, status, **fields)
        finally:
            datafiles.discard(got.received.temp_path)  # a no-op once committed


def data_source_for(store: Store, record: dict):
    """Open where an active image's bytes are: the store's own file, or its first location."""
    from glancectl import sources

    status = record["status"]
    label = records.image_label(record)
    if status == ImageStatus.DEACTIVATED:
        raise Refused(
            f"The requested image has been deactivated. Image data download is forbidden. "
            f"Image {label} is deactivated.",
            hint=f"Reactivate it first: glancectl image reactivate {record['id']}",
        )
    if status != ImageStatus.ACTIVE:
        if status == ImageStatus.QUEUED:
            raise NoData(
                f"Image {label} has no data: it is queued.",
                hint=f"Upload data first: glancectl image upload {record['id']} --file PATH",
            )
        raise NoData(f"Image {label} is {status}; only active images have data to download.",
                      hint=lifecycle.NEXT_STEP_HINTS.get(ImageStatus(status)))
    locations = [location["url"] for location in record.get("locations") or []]
    own = datafiles.store_location(store, record["id"])
    try:
        if own in locations:
            return open_store_file(store.data_path(record["id"]))
        if locations:
            return sources.open_url(locations[0])
    except SourceError as exc:
        # Nothing the user asked for is wrong: the image's data cannot be read where it is.
        where = "its data file in the store" if own in locations else f"its location {locations[0]}"
        hint = ("Check the store with 'glancectl doctor --verify-data'." if own in locations else
                f"If the data moved, remove the location ('glancectl image location remove "
                f"{record['id']} {locations[0]}') and add one that works.")
        raise StoreUnavailable(f"The data of image {label} cannot be read from {where}: {exc}.",
                               hint=hint) from None
    return None  # active with no data: created with --size 0


def open_store_file(path):
    """Open data the store holds, never through a symlink planted in its place or its folder's."""
    from glancectl import sources

    try:
        if path.parent.is_symlink():
            raise sources.SymlinkRefused(f"{path.parent} is a symlink; refusing to follow it")
        return sources.open_path(path, follow_symlinks=False)
    except sources.SymlinkRefused as exc:
        raise StoreUnavailable(f"{exc}; the store's data may have been tampered with.",
                               hint="Run 'glancectl doctor' to inspect the store.") from None


class _Reading(NamedTuple):
    source: object
    readinto: Callable[[memoryview], int]  # stops at the byte past the record's size, raising
    expected: str | None  # the digest the data must have, if the record has one
    hasher: object


def _read_back(store: Store, record: dict) -> _Reading | None:
    """Open an image's data to read it back, refusing bytes it can already tell are wrong.

    A source whose size is not the record's is refused before the first
    byte; one that runs past it raises at that byte, before it is handed on.
    None when the image has no data.
    """
    import hashlib

    source = data_source_for(store, record)
    if source is None:
        return None
    size, label = record.get("size"), records.image_label(record)
    if size is not None and source.size is not None and source.size != size:
        source.close()
        raise DataError(f"Corrupt image download: {source.description} holds {source.size} "
                        f"bytes but image {label} has {size}; nothing was written.")
    readinto = source.readinto
    if size is not None:
        bounded, seen = reading_at_most(source.readinto, size + 1), 0

        def readinto(buf) -> int:
            nonlocal seen
            n = bounded(buf)
            seen += n
            if seen > size:
                raise DataError(f"Corrupt image download: {source.description} holds more than "
                                f"the {size} bytes image {label} has; stopped there.")
            return n

    if record.get("os_hash_value"):
        return _Reading(source, readinto, record["os_hash_value"],
                        hashlib.new(record.get("os_hash_algo") or "sha512"))
    if record.get("checksum"):
        return _Reading(source, readinto, record["checksum"], hashlib.md5(usedforsecurity=False))
    return _Reading(source, readinto, None, None)


def _check_digest(reading: _Reading) -> None:
    if reading.hasher is not None and reading.hasher.hexdigest() != reading.expected:
        raise DataError(f"Corrupt image download. Hash was {reading.hasher.hexdigest()} "
                        f"expected {reading.expected}")


def download(store: Store, record: dict, write: Callable[[memoryview], None], *,
             progress: Progress | None = None) -> None:
    """Stream an image's data to ``write``, verifying os_hash_value (or md5) as it goes.

    Bytes already known to be wrong never reach ``write`` (see ``_read_back``).
    A hash mismatch can only be known at the end, after the bytes were written.
    """
    reading = _read_back(store, record)
    if reading is None:
        return
    sinks = [write] + ([reading.hasher.update] if reading.hasher else [])
    with reading.source:
        datafiles.pump(reading.readinto, sinks, on_chunk=progress or (lambda total: None))
    _check_digest(reading)


def data_chunks(store: Store, record: dict, chunk_size: int = 1024 * 1024) -> Iterator[bytes] | None:
    """``download`` for a caller that pulls (a web server): None when the image has no data.

    The refusals happen here, before the first byte; a hash mismatch raises
    after the last chunk, so the reader sees a cut-off stream, never bad data
    reported as good.
    """
    reading = _read_back(store, record)
    if reading is None:
        return None

    def chunks() -> Iterator[bytes]:
        from concurrent.futures import ThreadPoolExecutor

        # Hash each chunk on a thread of its own while the server sends it (hashlib lets go
        # of the GIL), one chunk at a time and in order.
        hashing = ThreadPoolExecutor(1, thread_name_prefix="glancectl-hash")
        hashed = None
        try:
            with reading.source:
                while True:
                    buffer = bytearray(chunk_size)
                    n = reading.readinto(memoryview(buffer))
                    if not n:
                        break
                    chunk = bytes(memoryview(buffer)[:n])
                    if reading.hasher is not None:
                        if hashed is not None:
                            hashed.result()
                        hashed = hashing.submit(reading.hasher.update, chunk)
                    yield chunk
            if hashed is not None:
                hashed.result()
        finally:
            hashing.shutdown(wait=True)
        _check_digest(reading)

    return chunks()
