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
from typing import Callable, Iterator

from glancectl import datafiles, lifecycle, records
from glancectl.config import Settings
from glancectl.datafiles import Received
from glancectl.errors import (
    Conflict, DataError, GlancectlError, InProgress, LimitExceeded, NoData, Refused,
)
from glancectl.lifecycle import ImageStatus
from glancectl.operations.images import editing, move
from glancectl.operations.recovery import settle_dead_writer, settle_if_abandoned
from glancectl.operations.tasks import check_no_active_task
from glancectl.store import Lease, Store

Progress = Callable[[int], None]  # called with the running byte count


@dataclass(frozen=True)
class Expectations:
    """What the user says the data must be (--size, --checksum, --hash)."""

    size: int | None = None
    checksum: str | None = None
    os_hash_value: str | None = None

    def mismatches(self, got: Received) -> list[str]:
        found = []
        if self.size is not None and self.size != got.size:
            found.append(f"size {got.size} does not match the expected size {self.size}")
        if self.checksum is not None and self.checksum.lower() != got.checksum:
            found.append(f"checksum {got.checksum} does not match the expected {self.checksum}")
        if self.os_hash_value is not None and self.os_hash_value.lower() != got.os_hash_value:
            found.append(
                f"os_hash_value {got.os_hash_value} does not match the expected {self.os_hash_value}"
            )
        return found


@dataclass(frozen=True)
class Ingested:
    received: Received
    virtual_size: int | None


def storage_used(store: Store, owner: str, *, besides: str | None = None) -> int:
    """Bytes that count against ``owner``'s user_storage_quota (all but image ``besides``)."""
    return sum(
        r.get("size") or 0
        for r in store.images.all()
        if r.get("owner") == owner and r["id"] != besides
        and r["status"] not in (ImageStatus.DELETED, ImageStatus.KILLED)
    )


def _quota_left(store: Store, settings: Settings, owner: str, image_id: str) -> int | None:
    if not settings.user_storage_quota:
        return None
    return settings.user_storage_quota - storage_used(store, owner, besides=image_id)


def _limit_checker(settings: Settings, quota_left: int | None, progress: Progress | None) -> Progress:
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
    for declared in (expect.size, source.size):
        if declared is not None:
            _limit_checker(settings, quota_left, None)(declared)
    inspector = StreamInspector(
        record.get("disk_format"), container_format=record.get("container_format")
    )
    fd, temp_path = datafiles.new_data_temp(store, record["id"])
    try:
        try:
            received = datafiles.receive(
                source.readinto, fd, temp_path,
                extra_sinks=[inspector.feed],
                on_chunk=_limit_checker(settings, quota_left, progress),
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


def _data_fields(store: Store, record: dict, got: Ingested) -> dict:
    return {
        "size": got.received.size,
        "virtual_size": got.virtual_size,
        "checksum": got.received.checksum,
        "os_hash_algo": "sha512",
        "os_hash_value": got.received.os_hash_value,
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
            if current is None or current["status"] != record["status"]:
                now = current["status"] if current else "gone"
                raise Conflict(
                    f"image {records.image_label(record)} became {now} while its data was "
                    "being written; the data was discarded."
                )
            quota_left = _quota_left(store, settings, current.get("owner"), current["id"])
            _limit_checker(settings, quota_left, None)(got.received.size)
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
    if datafiles.store_location(store, record["id"]) in locations:
        return sources.open_path(store.data_path(record["id"]))
    if locations:
        return sources.open_url(locations[0])
    return None  # active with no data: created with --size 0


def _verifier(record: dict):
    """(expected digest, hasher) for reading an image back: os_hash_value, else md5, else none."""
    import hashlib

    if record.get("os_hash_value"):
        return record["os_hash_value"], hashlib.new(record.get("os_hash_algo") or "sha512")
    if record.get("checksum"):
        return record["checksum"], hashlib.md5(usedforsecurity=False)
    return None, None


def _check_digest(expected: str | None, hasher) -> None:
    if hasher is not None and hasher.hexdigest() != expected:
        raise DataError(f"Corrupt image download. Hash was {hasher.hexdigest()} expected {expected}")


def download(store: Store, record: dict, write: Callable[[memoryview], None], *,
             progress: Progress | None = None) -> None:
    """Stream an image's data to ``write``, verifying os_hash_value (or md5) as it goes."""
    source = data_source_for(store, record)
    if source is None:
        return
    expected, hasher = _verifier(record)
    sinks = [write] + ([hasher.update] if hasher else [])
    with source:
        datafiles.pump(source.readinto, sinks, on_chunk=progress or (lambda total: None))
    _check_digest(expected, hasher)


def data_chunks(store: Store, record: dict, chunk_size: int = 1024 * 1024) -> Iterator[bytes] | None:
    """``download`` for a caller that pulls (a web server): None when the image has no data.

    The refusals happen here, before the first byte; a hash mismatch raises
    after the last chunk, so the reader sees a cut-off stream, never bad data
    reported as good.
    """
    source = data_source_for(store, record)
    if source is None:
        return None
    expected, hasher = _verifier(record)

    def chunks() -> Iterator[bytes]:
        with source:
            while True:
                buffer = bytearray(chunk_size)
                n = source.readinto(memoryview(buffer))
                if not n:
                    break
                chunk = bytes(memoryview(buffer)[:n])
                if hasher is not None:
                    hasher.update(chunk)
                yield chunk
        _check_digest(expected, hasher)

    return chunks()


def usage(store: Store, settings: Settings, owner: str) -> dict:
    """Glance's quota usage for ``owner``: sizes in MiB as Glance counts them; -1 means no limit."""
    mib = 1024 * 1024
    live = [r for r in store.images.all() if r.get("owner") == owner
            and r["status"] not in (ImageStatus.DELETED, ImageStatus.KILLED)]
    staged = sum(store.staging_path(r["id"]).stat().st_size for r in live
                 if r["status"] == ImageStatus.UPLOADING and store.staging_path(r["id"]).exists())
    quota = settings.user_storage_quota
    return {
        "image_size_total": {"limit": quota // mib if quota else -1,
                             "usage": storage_used(store, owner) // mib},
        "image_count_total": {"limit": -1, "usage": len(live)},
        "image_stage_total": {"limit": -1, "usage": staged // mib},
        "image_count_uploading": {"limit": -1, "usage": sum(
            r["status"] in lifecycle.IN_FLIGHT_STATUSES for r in live)},
    }
