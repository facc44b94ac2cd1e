"""Image data files: where bytes hit the disk (data/ and staging/ under the home)."""

from __future__ import annotations

from glancectl.storage import fsync_dir, remove_quietly
from glancectl.store import Store


def remove_image_data(store: Store, image_id: str) -> None:
    """Remove the store-managed data and any staged data of an image."""
    for path in (store.data_path(image_id), store.staging_path(image_id)):
        if path.exists() or path.is_symlink():
            remove_quietly(path)
            fsync_dir(path.parent)
