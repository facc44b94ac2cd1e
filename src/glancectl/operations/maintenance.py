"""Housekeeping Glance runs from cron: scrub delayed deletes, purge old records."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from glancectl import datafiles, lifecycle, records
from glancectl.config import Settings
from glancectl.lifecycle import ImageStatus
from glancectl.storage import StoreLock
from glancectl.store import Store


@dataclass(frozen=True)
class Action:
    kind: str  # "image" or "task"
    id: str
    name: str | None
    what: str  # what was (or, with --dry-run, would be) done


def _older_than(stamp: str | None, cutoff: datetime) -> bool:
    return stamp is not None and records.parse_time(stamp) <= cutoff


# The lock is let go at least this often, for longer than a waiting writer's
# longest poll (storage.StoreLock), so a cron-sized scrub never starves a user.
LOCK_TURN = 1.0
SHARDS_PER_BATCH = 64  # shards written per batch: the name index is updated once per batch


def batches(table, record_ids) -> list[list[str]]:
    """The IDs in batches of whole shards."""
    groups = table.by_shard(record_ids)
    return [[i for ids in groups[start:start + SHARDS_PER_BATCH] for i in ids]
            for start in range(0, len(groups), SHARDS_PER_BATCH)]


def in_turns(store: Store, items: list, work: Callable[[object], None]) -> None:
    """``work(item)`` for each item under the store lock, letting go of it every LOCK_TURN seconds."""
    index = 0
    while index < len(items):
        with store.writing():
            began = time.monotonic()
            while index < len(items) and time.monotonic() - began < LOCK_TURN:
                work(items[index])
                index += 1
        if index < len(items):
            time.sleep(2 * StoreLock.MAX_POLL)


def scrub(store: Store, settings: Settings, *, dry_run: bool = False, now: datetime | None = None) -> list[Action]:
    """pending_delete images older than scrub_time -> deleted, and their data removed.

    A batch of shards at a time: one write per shard, and the lock is let go between turns.
    """
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(seconds=settings.scrub_time)
    due = [
        r for r in store.images.all()
        if r["status"] == ImageStatus.PENDING_DELETE and _older_than(r.get("deleted_at"), cutoff)
    ]
    if dry_run or not due:
        return [_scrubbed(r) for r in due]
    actions: list[Action] = []

    def scrub_batch(ids: list[str]) -> None:
        done = store.images.update_each(ids, _to_deleted)
        datafiles.remove_images_data(store, [r["id"] for r in done])
        actions.extend(_scrubbed(r) for r in done)

    in_turns(store, batches(store.images, [r["id"] for r in due]), scrub_batch)
    return actions


def _to_deleted(record: dict) -> dict | None:
    if record["status"] != ImageStatus.PENDING_DELETE:
        return None  # another process got there first
    changes = lifecycle.image_status_changes(record, ImageStatus.DELETED)
    changes["updated_at"] = records.utcnow()
    return changes


def _scrubbed(record: dict) -> Action:
    return Action("image", record["id"], record.get("name"), "data removed, status deleted")


def purge(store: Store, settings: Settings, *, age_in_days: int, dry_run: bool = False,
          now: datetime | None = None) -> list[Action]:
    """Remove deleted image records older than ``age_in_days`` and expired tasks, for good.

    A batch of shards at a time, letting go of the lock between turns, like ``scrub``.
    """
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=age_in_days)
    images = [
        r for r in store.images.all()
        if r["status"] == ImageStatus.DELETED and _older_than(r.get("deleted_at"), cutoff)
    ]
    tasks = [t for t in store.tasks.all() if _older_than(t.get("expires_at"), now)]
    actions = [Action("image", r["id"], r.get("name"), "record purged") for r in images]
    actions += [Action("task", t["id"], t.get("type"), "expired task purged") for t in tasks]
    if not dry_run and actions:
        work = [(store.images, ids) for ids in batches(store.images, [r["id"] for r in images])]
        work += [(store.tasks, ids) for ids in batches(store.tasks, [t["id"] for t in tasks])]
        in_turns(store, work, lambda batch: batch[0].remove(batch[1]))
    return actions
