"""/v2/images: each handler parses, calls one operation, and renders ``records.image_view``."""

from __future__ import annotations

from typing import Iterator

import falcon

from glancectl import records
from glancectl.api import parsing
from glancectl.api.patch import parse as parse_patch
from glancectl.operations import data as data_ops
from glancectl.operations import images as ops
from glancectl.operations import importing
from glancectl.operations import locations as location_ops
from glancectl.operations import tasks as task_ops

# cheroot's writer copies all that is left of a write before each send (cheroot/makefile.py),
# so a 1 MiB chunk cost several times its size in copies; a piece one send takes costs one.
SEND_PIECE = 128 * 1024


def _pieces(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks`` in pieces of at most ``SEND_PIECE`` bytes (bytes, as WSGI asks)."""
    for chunk in chunks:
        view = memoryview(chunk)
        for start in range(0, len(view), SEND_PIECE):
            yield bytes(view[start:start + SEND_PIECE])


IMPORT_METHODS_HEADER = {"OpenStack-image-import-methods": ",".join(importing.IMPORT_METHODS)}
# A PATCH's location operations, each one operation call: (store, settings, image id, value).
LOCATION_CHANGES = {
    "add": lambda store, settings, image_id, entry: location_ops.add_location(
        store, settings, image_id, entry["url"], entry.get("metadata")),
    "remove": lambda store, settings, image_id, index: location_ops.remove_location_at(
        store, image_id, index),
    "replace": location_ops.replace_locations,
}


class Images:
    """GET (list) and POST (create) /v2/images."""

    def __init__(self, backend):
        self.backend = backend

    def on_get(self, req, resp):
        page_limit = parsing.limit(req)
        found = ops.list_images(self.backend.store(), parsing.image_filter(req),
                                sort=parsing.sort(req), marker=req.get_param("marker"),
                                limit=page_limit)
        resp.media = parsing.paged(req, "images", "images",
                                   [records.image_view(r) for r in found], page_limit)

    def on_post(self, req, resp):
        spec = ops.spec_from_json(parsing.json_object(req), what="image")
        record = ops.create_image(self.backend.store(), self.backend.settings, spec)
        resp.status = falcon.HTTP_201
        resp.location = f"{req.prefix}/v2/images/{record['id']}"
        resp.set_headers(IMPORT_METHODS_HEADER)
        resp.media = records.image_view(record)


class Image:
    """One image: /v2/images/{image_id} and its sub-resources (Falcon route suffixes)."""

    def __init__(self, backend):
        self.backend = backend

    def _live(self, image_id: str) -> tuple:
        """The store, and the image as Glance finds it (404 once deleted)."""
        store = self.backend.store()
        return store, ops.get_api_image(store, image_id)

    def on_get(self, req, resp, image_id):
        resp.media = records.image_view(self._live(image_id)[1])

    def on_patch(self, req, resp, image_id):
        document = parsing.json_body(req, parsing.JSON_PATCH,
                                     **{"Accept-Patch": ", ".join(parsing.JSON_PATCH)})
        patch = parse_patch(document)
        store, record = self._live(image_id)
        if not patch.changes.is_empty():
            record = ops.update_image(store, self.backend.settings, record["id"], patch.changes)
        for op, value in patch.locations:
            record = LOCATION_CHANGES[op](store, self.backend.settings, record["id"], value)
        resp.media = records.image_view(record)

    def on_delete(self, req, resp, image_id):
        store, record = self._live(image_id)
        ops.delete_image(store, self.backend.settings, record["id"])
        resp.status = falcon.HTTP_204

    # -- data ------------------------------------------------------------------
    def _receive(self, req, resp, image_id, write) -> None:
        """Stream the request body into the image with ``write`` (upload or stage)."""
        store, record = self._live(image_id)
        with parsing.RequestBody(req, self.backend.stopping) as body:
            write(store, self.backend.settings, record["id"], body)
        resp.status = falcon.HTTP_204

    def on_put_file(self, req, resp, image_id):
        self._receive(req, resp, image_id, data_ops.upload)

    def on_get_file(self, req, resp, image_id):
        store, record = self._live(image_id)
        chunks = data_ops.data_chunks(store, record)
        if chunks is None:
            resp.status = falcon.HTTP_204
            return
        resp.content_type = parsing.OCTET_STREAM
        if record.get("size") is not None:
            resp.content_length = record["size"]
        if record.get("checksum"):
            resp.set_header("Content-MD5", record["checksum"])
        resp.stream = _pieces(chunks)

    def on_put_stage(self, req, resp, image_id):
        self._receive(req, resp, image_id, importing.stage)

    def on_post_import(self, req, resp, image_id):
        method = parsing.json_object(req).get("method") or {}
        store, record = self._live(image_id)
        if not isinstance(method, dict):
            method = {"name": method}
        _, task, lease = importing.start_import(store, self.backend.settings, record["id"],
                                                method.get("name"), method.get("uri"))
        self.backend.start_worker(store, task, lease)
        resp.status = falcon.HTTP_202

    # -- actions, tags, locations, tasks --------------------------------------------
    def on_post_deactivate(self, req, resp, image_id):
        store, record = self._live(image_id)
        ops.deactivate_image(store, record["id"])
        resp.status = falcon.HTTP_204

    def on_post_reactivate(self, req, resp, image_id):
        store, record = self._live(image_id)
        ops.reactivate_image(store, record["id"])
        resp.status = falcon.HTTP_204

    def on_get_locations(self, req, resp, image_id):
        record = self._live(image_id)[1]
        resp.media = [{"url": loc["url"], "metadata": loc.get("metadata") or {}}
                      for loc in record.get("locations") or []]

    def on_post_locations(self, req, resp, image_id):
        body = parsing.json_object(req)
        store, record = self._live(image_id)
        location_ops.add_location(store, self.backend.settings, record["id"], body.get("url"),
                                  body.get("metadata"))
        resp.status = falcon.HTTP_202

    def on_get_tasks(self, req, resp, image_id):
        store, record = self._live(image_id)
        found = task_ops.list_tasks(store, self.backend.settings, image_id=record["id"], whole=True)
        resp.media = {"tasks": [records.task_view(t) for t in found]}


class Tag:
    """PUT/DELETE /v2/images/{image_id}/tags/{tag}."""

    def __init__(self, backend):
        self.backend = backend

    def _change(self, image_id: str, wanted: ops.ImageChanges, resp) -> None:
        store = self.backend.store()
        record = ops.get_api_image(store, image_id)
        ops.update_image(store, self.backend.settings, record["id"], wanted)
        resp.status = falcon.HTTP_204

    def on_put(self, req, resp, image_id, tag):
        self._change(image_id, ops.ImageChanges(add_tags=[tag]), resp)

    def on_delete(self, req, resp, image_id, tag):
        self._change(image_id, ops.ImageChanges(remove_tags=[tag]), resp)
