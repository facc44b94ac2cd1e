"""Version discovery and /v2/info: what keystoneauth and the clients ask before anything else."""

from __future__ import annotations

import falcon

from glancectl import records
from glancectl.operations import importing
from glancectl.operations import usage as usage_ops

# What Glance 33 lists with several stores and no image cache: 2.17 current.
VERSIONS = (("2.17", "CURRENT"),) + tuple(
    (f"2.{minor}", "SUPPORTED") for minor in (15, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
# The store ids glancectl's location metadata names: its own files, and http(s) read in place.
STORES = [{"id": "file", "default": "true"}, {"id": "http", "read-only": "true"}]


def versions_body(req: falcon.Request) -> dict:
    href = f"{req.prefix}/v2/"
    return {"versions": [{"id": f"v{version}", "status": status,
                          "links": [{"rel": "self", "href": href}]}
                         for version, status in VERSIONS]}


class Versions:
    """``/`` answers 300 Multiple Choices, ``/versions`` 200, as in Glance."""

    def on_get(self, req, resp):
        resp.status = falcon.HTTP_300
        resp.media = versions_body(req)

    def on_get_explicit(self, req, resp):
        resp.media = versions_body(req)


class Info:
    def __init__(self, backend):
        self.backend = backend

    def on_get_import(self, req, resp):
        resp.media = importing.import_info()

    def on_get_stores(self, req, resp):
        resp.media = {"stores": STORES}

    def on_get_usage(self, req, resp):
        resp.media = usage_ops.glance_usage(self.backend.store(), self.backend.settings,
                                            records.current_owner())
