"""Storage used per owner against the quotas: `glancectl usage` and Glance's /v2/info/usage.

One rule for what counts against ``user_storage_quota`` (:func:`counts_against_quota`),
used by uploads when they check the quota and by the figures shown here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from glancectl import records
from glancectl.config import Settings
from glancectl.lifecycle import ImageStatus
from glancectl.store import Store

# Images whose data is on its way in: Glance's image_count_uploading.
_UPLOADING = frozenset({ImageStatus.SAVING, ImageStatus.UPLOADING, ImageStatus.IMPORTING})
# Gone as far as Glance's image counts go (Glance marks pending_delete rows deleted).
_NOT_COUNTED = frozenset({ImageStatus.DELETED, ImageStatus.PENDING_DELETE})
MiB = 1024**2


def counts_against_quota(record: Mapping) -> bool:
    """Data a deleted or killed image held is gone or unreadable; pending_delete data is still kept."""
    return record.get("status") not in (ImageStatus.DELETED, ImageStatus.KILLED)


def stored_bytes(images: Iterable[Mapping], owner: str, *, except_id: str | None = None) -> int:
    """Bytes ``owner``'s images hold against user_storage_quota."""
    return sum(r.get("size") or 0 for r in images
               if r.get("owner") == owner and r.get("id") != except_id and counts_against_quota(r))


@dataclass(frozen=True)
class OwnerUsage:
    owner: str
    image_count: int  # images not deleted (pending_delete counts as deleted, as in Glance)
    uploading_count: int  # saving, uploading or importing
    stored_bytes: int  # against user_storage_quota
    staged_bytes: int  # staged for an import, not yet the image's data
    largest_image: int  # the biggest image, against image_size_cap
    user_storage_quota: int  # 0: unlimited
    image_size_cap: int

    @property
    def quota_used(self) -> float | None:
        """The fraction of user_storage_quota in use; None when there is no quota."""
        return self.stored_bytes / self.user_storage_quota if self.user_storage_quota else None


def usage(store: Store, settings: Settings, *, owner: str | None = None) -> list[OwnerUsage]:
    """One row per owner with images (``owner`` alone if given), the current user always included."""
    images = list(store.images.all())
    owners = {owner} if owner else {records.current_owner(), *(r.get("owner") for r in images)}
    return [_owner_usage(store, settings, name, images) for name in sorted(o for o in owners if o)]


def owner_usage(store: Store, settings: Settings, owner: str) -> OwnerUsage:
    return _owner_usage(store, settings, owner, list(store.images.all()))


def _owner_usage(store: Store, settings: Settings, owner: str, images: list[dict]) -> OwnerUsage:
    own = [r for r in images if r.get("owner") == owner]
    return OwnerUsage(
        owner=owner,
        image_count=sum(r.get("status") not in _NOT_COUNTED for r in own),
        uploading_count=sum(r.get("status") in _UPLOADING for r in own),
        stored_bytes=stored_bytes(own, owner),
        staged_bytes=sum(_staged_size(store, r["id"]) for r in own
                         if r.get("status") in (ImageStatus.UPLOADING, ImageStatus.IMPORTING)),
        largest_image=max((r.get("size") or 0 for r in own if counts_against_quota(r)), default=0),
        user_storage_quota=settings.user_storage_quota,
        image_size_cap=settings.image_size_cap,
    )


def _staged_size(store: Store, image_id: str) -> int:
    try:
        return store.staging_path(image_id).stat().st_size
    except (OSError, ValueError):  # not staged (any more), or not an ID a path can be made of
        return 0


def glance_usage(store: Store, settings: Settings, owner: str) -> dict:
    """Glance's /v2/info/usage document for ``owner``: sizes in MiB, -1 for no limit."""
    row = owner_usage(store, settings, owner)
    quota = row.user_storage_quota // MiB if row.user_storage_quota else -1
    return {"usage": {
        "image_size_total": {"limit": quota, "usage": row.stored_bytes // MiB},
        "image_stage_total": {"limit": -1, "usage": row.staged_bytes // MiB},
        "image_count_total": {"limit": -1, "usage": row.image_count},
        "image_count_uploading": {"limit": -1, "usage": row.uploading_count},
    }}
