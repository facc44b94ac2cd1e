"""Settling what a dead process left half-done.

A process writing an image's data holds that image's lease (a flock the
kernel drops when the process dies), so "no live lease" is proof, not a
guess by age, that a saving/uploading/importing image has been abandoned.

Reads (``image show``) call ``settled`` on every image they return, so this module
is on their start-up path; the functions that touch data files import
``datafiles`` themselves, as only a write or a dead writer needs it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from glancectl import lifecycle, records
from glancectl.errors import GlancectlError
from glancectl.lifecycle import ImageStatus
from glancectl.storage import TEMP_MARKER, remove_quietly
from glancectl.store import Store

if TYPE_CHECKING:
    from glancectl.config import Settings

ABANDONED_MESSAGE = "the process writing its data ended before finishing"
KEEPS_DATA = frozenset({ImageStatus.ACTIVE, ImageStatus.DEACTIVATED, ImageStatus.PENDING_DELETE})


def is_abandoned(store: Store, record: dict) -> bool:
    status = record["status"]
    if status not in lifecycle.IN_FLIGHT_STATUSES or store.lease_is_live(record["id"]):
        return False
    # A staged image waits for its import with no process behind it; that is not stuck.
    return not (status == ImageStatus.UPLOADING and store.staging_path(record["id"]).exists())


def settle_if_abandoned(store: Store, record: dict) -> dict:
    """Return an abandoned in-flight image to queued, removing the data it was receiving.

    Only temp files go here: a data or staging file is removed only when a
    dead lease proves its writer put it there (``settle_dead_writer``).
    """
    if not is_abandoned(store, record):
        return record
    from glancectl.operations.images import move  # images imports us for find

    for temp in data_temps(store, record["id"]):
        remove_quietly(temp)
    return move(store, record, ImageStatus.QUEUED, locations=[], status_reason=ABANDONED_MESSAGE)


def settled(store: Store, record: dict) -> dict:
    """A read's view of an image: one whose writer died is settled first, as the next write would.

    Only an in-flight record is probed, and the lock is taken only when no
    live process holds its lease, so reads stay lock-free while nothing died.
    """
    if not is_abandoned(store, record):
        return record
    with store.writing():
        settle_dead_writer(store, record["id"])
        return store.images.get(record["id"]) or record


def owns_data(store: Store, record: dict) -> bool:
    """Whether ``data/<id>`` is this record's: in flight, or holding data in the store."""
    status = record["status"]
    if status in lifecycle.IN_FLIGHT_STATUSES:
        return True
    from glancectl import datafiles  # see the module docstring

    own = datafiles.store_location(store, record["id"])
    return status in KEEPS_DATA and any(loc.get("url") == own for loc in record.get("locations") or [])


def owns_staged(record: dict) -> bool:
    return record["status"] in (ImageStatus.UPLOADING, ImageStatus.IMPORTING)


def data_temps(store: Store, image_id: str) -> list:
    """The temp files holding data being received for an image."""
    from glancectl import datafiles  # see the module docstring

    directory = datafiles.temp_dir(store)
    if not directory.is_dir() or directory.is_symlink():
        return []
    return [p for p in directory.iterdir() if datafiles.temp_owner(p) == image_id]


def sweep(store: Store, settings: Settings | None = None) -> list[str]:
    """Run under the store lock on every write: clear what dead writers left.

    Record temp files (and meta.json's, in the home) can only belong to a
    dead process, because records are only written under the lock we hold.
    Data temps belong to whoever holds their image's lease. A lease file
    whose holder is gone marks a writer that died, even one that died
    before writing a byte, or a task whose owner died; with ``settings``
    (a failed task's expiry needs them) such a task is failed here.
    All these directories are small, so this is cheap.
    """
    from glancectl import datafiles  # see the module docstring

    done: list[str] = []
    for directory in (store.home, store.images.directory, store.tasks.directory,
                      store.images.names.directory, store.images.renderings.directory,
                      store.images.summaries.directory):
        if directory.is_dir() and not directory.is_symlink():
            for entry in os.scandir(directory):
                if TEMP_MARKER in entry.name:
                    remove_quietly(directory / entry.name)
                    done.append(f"removed temporary file {entry.path}")
    directory = datafiles.temp_dir(store)
    if directory.is_dir() and not directory.is_symlink():
        for path in list(directory.iterdir()):
            owner = datafiles.temp_owner(path)
            if owner is None or store.lease_is_live(owner):
                continue
            remove_quietly(path)
            done.append(f"removed partial data {path}")
            done += _settle(store, owner)
    for owner in store.dead_leases():
        if store.images.get(owner) is not None:
            done += settle_dead_writer(store, owner)
            continue
        task = store.tasks.get(owner)
        if task is not None and not lifecycle.is_final_task_status(task["status"]):
            if settings is None:
                continue  # whoever looks at the task next fails it
            from glancectl.operations.tasks import settle_if_dead  # tasks need recovery

            task = settle_if_dead(store, settings, task)  # clears the lease when it fails it
            if lifecycle.is_final_task_status(task["status"]):
                done.append(f"task {owner} had lost its owner; it is now {task['status']}")
                continue
        # Left by a worker killed just after its task ended, or by 'task run' killed
        # while claiming a task that waits for it: the task itself is fine.
        if store.clear_lease(owner):
            done.append(f"removed the lease a dead worker left for {owner}")
    done += _refresh_derived_data(store)
    return done


def _refresh_derived_data(store: Store) -> list[str]:
    """A writer killed mid-change (or an older glancectl, or a copy of the store) can leave
    the name index stale, and the sidecars with it: all are written again."""
    names = store.images.names
    try:
        if names.is_fresh():
            return []
        names.rebuild()
    except (GlancectlError, OSError):
        return []  # a damaged shard: doctor reports it, and lookups by name scan meanwhile
    store.images.rebuild_sidecars()
    store.tasks.rebuild_sidecars()
    return ["rebuilt the name index, the renderings and the summaries"]


def settle_dead_writer(store: Store, image_id: str) -> list[str]:
    """Settle an image whose data writer is gone, and clear the lease it left.

    A lease file left behind proves its holder died mid-write, so a data or
    staging file the (settled) record does not own is that writer's,
    committed but never recorded, and goes. Without that proof it stays, for
    ``doctor`` to judge: it may be the data of a record that was edited or
    restored from a backup.
    """
    done = _settle(store, image_id)
    record = store.images.get(image_id)
    if record is not None and store.has_dead_lease(image_id):
        from glancectl import datafiles  # see the module docstring

        unowned = datafiles.remove_image_data(
            store, image_id, data=not owns_data(store, record), staged=not owns_staged(record))
        done += [f"removed {path}, which the dead writer of {image_id} left" for path in unowned]
    store.clear_lease(image_id)
    return done


def _settle(store: Store, image_id: str) -> list[str]:
    record = store.images.get(image_id)
    if record is None or settle_if_abandoned(store, record) is record:
        return []
    return [f"image {records.image_label(record)} went back to queued"]
