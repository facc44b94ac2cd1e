"""Which local image is which image in a remote Glance, for `image push` and `image pull`.

Kept in ``<home>/remotes.json``, beside the image records and never in them:
a link is glancectl's bookkeeping, not a property of the user's image. A
remote Glance is known by its image endpoint URL, which stays the same
whatever the clouds.yaml entry that reaches it is called.
"""

from __future__ import annotations

import json

from glancectl.errors import StoreCorrupt
from glancectl.storage import read_json, write_atomic
from glancectl.store import Store

LINKS_FILE = "remotes.json"


def _path(store: Store):
    return store.home / LINKS_FILE


def _load(store: Store) -> list[dict]:
    path = _path(store)
    data = read_json(path)
    if data is None:
        return []
    if not (isinstance(data, dict) and isinstance(data.get("links"), list)
            and all(isinstance(link, dict) for link in data["links"])):
        raise StoreCorrupt(path, "not a list of remote links")
    return data["links"]


def find(store: Store, endpoint: str, *, local_id: str | None = None,
         remote_id: str | None = None) -> dict | None:
    """The link of ``local_id`` or of ``remote_id`` on ``endpoint``, if there is one."""
    for link in _load(store):
        if link.get("endpoint") != endpoint:
            continue
        if (local_id is not None and link.get("local_id") == local_id) or (
                remote_id is not None and link.get("remote_id") == remote_id):
            return link
    return None


def _write(store: Store, links: list[dict]) -> None:
    write_atomic(_path(store), json.dumps({"links": links}, indent=1).encode())


def link(store: Store, endpoint: str, local_id: str, remote_id: str) -> None:
    """Record that ``local_id`` is ``remote_id`` on ``endpoint``, replacing older links of either."""
    with store.writing():
        links = [entry for entry in _load(store) if not _same_endpoint_either(entry, endpoint, local_id, remote_id)]
        links.append({"endpoint": endpoint, "local_id": local_id, "remote_id": remote_id})
        _write(store, links)


def unlink(store: Store, endpoint: str, local_id: str, remote_id: str) -> None:
    with store.writing():
        links = _load(store)
        kept = [entry for entry in links if not (
            entry.get("endpoint") == endpoint and entry.get("local_id") == local_id
            and entry.get("remote_id") == remote_id)]
        if kept != links:
            _write(store, kept)


def _same_endpoint_either(entry: dict, endpoint: str, local_id: str, remote_id: str) -> bool:
    return entry.get("endpoint") == endpoint and (
        entry.get("local_id") == local_id or entry.get("remote_id") == remote_id)
