"""Housekeeping Glance runs from cron: scrub delayed deletes, purge old records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from glancectl import datafiles, records
from glancectl.config import Settings
from glancectl.lifecycle import ImageStatus
from glancectl.operations.images import move
from glancectl.store import Store


@dataclass(frozen=True)
class Action:
    kind: str  # "image" or "task"
    id: str
    name: str | None
    what: str  # what was (or, with --dry-run, would be) done


def _older_than(stamp: str | None, cutoff: datetime) -> bool:
    return stamp is not None and records.parse_time(stamp) <= cutoff


def scrub(store: Store, settings: Settings, *, dry_run: bool = False, now: datetime | None = None) -> list[Action]:
    """pending_delete images older than scrub_time -> deleted, and their data removed."""
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(seconds=settings.scrub_time)
    due = [
        r for r in store.images.all()
        if r["status"] == ImageStatus.PENDING_DELETE and _older_than(r.get("deleted_at"), cutoff)
    ]
    if dry_run or not due:
        return [_scrubbed(r) for r in due]
    actions = []
    with store.writing():
        for record in due:
            current = store.images.get(record["id"])
            if current is None or current["status"] != ImageStatus.PENDING_DELETE:
                continue  # another process got there first
            move(store, current, ImageStatus.DELETED)
            datafiles.remove_image_data(store, current["id"])
            actions.append(_scrubbed(current))
    return actions


def _scrubbed(record: dict) -> Action:
    return Action("image", record["id"], record.get("name"), "data removed, status deleted")


def purge(store: Store, settings: Settings, *, age_in_days: int, dry_run: bool = False,
          now: datetime | None = None) -> list[Action]:
    """Remove deleted image records older than ``age_in_days`` and expired tasks, for good."""
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
        with store.writing():
            store.images.remove([r["id"] for r in images])
            store.tasks.remove([t["id"] for t in tasks])
    return actions
