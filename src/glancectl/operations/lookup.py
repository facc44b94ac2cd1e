"""Finding an image by ID or name: the read nearly every command starts with.

Apart from ``operations.images`` (which re-exports these), so that `image show`
loads only this and not the rest of the image operations (bench/startup.py).
"""

from __future__ import annotations

from glancectl import lifecycle, records
from glancectl.errors import InvalidValue, NotFound
from glancectl.operations import recovery
from glancectl.store import Store, checked_uuid


def find_image(store: Store, ref: str, *, include_deleted: bool = True) -> dict:
    """An image by ID, or by a name that matches exactly one image.

    A name means a live image first: a deleted or pending_delete image of the
    same name (its record is kept until purged) is found by name only when no
    live one is, and never with ``include_deleted=False``.
    """
    try:
        image_id = checked_uuid(ref)
    except InvalidValue:
        image_id = None  # not an ID: a name
    if image_id is not None:
        record = store.images.get(image_id)
        if record is not None and (include_deleted
                                   or record["status"] not in lifecycle.DELETED_STATUSES):
            return recovery.settled(store, record)
    named = store.images.named(ref)
    matches = [r for r in named if r["status"] not in lifecycle.DELETED_STATUSES]
    if not matches and include_deleted:
        matches = named
    if not matches:
        raise NotFound(f"No image with a name or ID of '{ref}' exists.")
    if len(matches) > 1:
        listed = ", ".join(f"{r['id']} ({r['status']})" for r in matches)
        raise InvalidValue(
            f"More than one image is named '{ref}': {listed}. Use an ID instead."
        )
    return recovery.settled(store, matches[0])


def find_live_image(store: Store, ref: str, *, scrub_time: float | None = None) -> dict:
    """For changes and data: a deleted or pending_delete image is refused as deleted.

    ``show`` still finds its record, so it is not reported missing (exit 3)
    but refused (exit 4); with ``scrub_time`` the refusal says when a
    pending_delete image will be scrubbed.
    """
    record = find_image(store, ref)
    lifecycle.check_not_deleted(record, scrub_due=records.scrub_due_at(record, scrub_time))
    return record


def get_api_image(store: Store, image_id: str) -> dict:
    """Glance's lookup: by ID only, and a deleted or pending_delete image is not found.

    Over HTTP, as in Glance, they are gone: clients wait for that 404 after a delete.
    """
    try:
        record = store.images.get(checked_uuid(image_id))
    except InvalidValue:
        record = None
    if record is None or record["status"] in lifecycle.DELETED_STATUSES:
        raise NotFound(f"No image found with ID {image_id}")
    return record
