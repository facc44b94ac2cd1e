#!/usr/bin/env python3
"""Send the same requests to a real Glance 33 and to `glancectl serve`; compare the status codes.

The real Glance is the one the push/pull tests use (tests/realglance.py: built once into a
cached virtualenv, run on loopback with no Keystone). Prints every request with both
statuses, and the bodies where they differ; exits 1 on a difference that is not one of the
documented ones (README, "How glancectl differs from Glance").

    python3 scripts/serve_vs_glance.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "src")]

import requests  # noqa: E402

from tests import realglance  # noqa: E402
from tests.glanceserver import start_server  # noqa: E402

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
DATA = {"Content-Type": "application/octet-stream"}
# Glance lets an admin (its unauthenticated context is one) download a deactivated image;
# glancectl refuses everyone (README: "One owner").
DOCUMENTED = {"GET file of a deactivated image"}


def conversation(base: str) -> list[tuple[str, int, str]]:
    said: list[tuple[str, int, str]] = []

    def ask(label: str, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        response = requests.request(method, base + path, headers=headers, timeout=60, **kwargs)
        said.append((label, response.status_code, response.text[:240].replace(base, "")))
        return response

    def patch(label: str, image_id: str, *operations: dict) -> None:
        ask(label, "PATCH", f"/v2/images/{image_id}", data=json.dumps(list(operations)),
            headers=PATCH)

    ask("GET /", "GET", "/")
    ask("GET /versions", "GET", "/versions")
    image = ask("POST /v2/images", "POST", "/v2/images", json={
        "name": "a", "disk_format": "raw", "container_format": "bare"}).json()["id"]
    ask("GET file of a queued image", "GET", f"/v2/images/{image}/file")
    ask("PUT file as text/plain", "PUT", f"/v2/images/{image}/file", data=b"abc",
        headers={"Content-Type": "text/plain"})
    ask("PUT file", "PUT", f"/v2/images/{image}/file", data=b"abcd", headers=DATA)
    ask("PUT file again", "PUT", f"/v2/images/{image}/file", data=b"abcd", headers=DATA)
    ask("GET file", "GET", f"/v2/images/{image}/file")
    ask("PATCH as application/json", "PATCH", f"/v2/images/{image}", data="[]",
        headers={"Content-Type": "application/json"})
    patch("PATCH /status (read-only)", image, {"op": "replace", "path": "/status", "value": "x"})
    patch("PATCH add a property", image, {"op": "add", "path": "/foo", "value": "bar"})
    patch("PATCH remove a missing property", image, {"op": "remove", "path": "/nope"})
    ask("deactivate", "POST", f"/v2/images/{image}/actions/deactivate")
    ask("GET file of a deactivated image", "GET", f"/v2/images/{image}/file")
    ask("reactivate", "POST", f"/v2/images/{image}/actions/reactivate")
    ask("PUT tag", "PUT", f"/v2/images/{image}/tags/t1")
    ask("DELETE a missing tag", "DELETE", f"/v2/images/{image}/tags/zz")
    ask("list, bad sort key", "GET", "/v2/images?sort=nope")
    ask("list, negative limit", "GET", "/v2/images?limit=-1")
    ask("list, unknown marker", "GET", "/v2/images?marker=00000000-0000-0000-0000-000000000009")
    ask("GET a missing image", "GET", "/v2/images/00000000-0000-0000-0000-000000000009")
    ask("POST min_ram as a string", "POST", "/v2/images", json={"min_ram": "x"})
    other = ask("POST a protected image", "POST", "/v2/images",
                json={"name": "q", "protected": True}).json()["id"]
    ask("reactivate a queued image", "POST", f"/v2/images/{other}/actions/reactivate")
    ask("deactivate a queued image", "POST", f"/v2/images/{other}/actions/deactivate")
    ask("import glance-direct, not staged", "POST", f"/v2/images/{other}/import",
        json={"method": {"name": "glance-direct"}})
    ask("import into an active image", "POST", f"/v2/images/{image}/import",
        json={"method": {"name": "glance-direct"}})
    ask("DELETE a protected image", "DELETE", f"/v2/images/{other}")
    ask("list, limit 1", "GET", "/v2/images?limit=1")
    ask("GET /v2/info/import", "GET", "/v2/info/import")
    ask("POST a task of an unknown type", "POST", "/v2/tasks", json={"type": "nope", "input": {}})
    ask("DELETE", "DELETE", f"/v2/images/{image}")
    ask("GET a deleted image", "GET", f"/v2/images/{image}")
    ask("DELETE a deleted image", "DELETE", f"/v2/images/{image}")
    return said


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="serve-vs-glance-"))
    glance = realglance.start(root / "glance")
    serve = start_server(root / "serve")
    try:
        theirs, ours = conversation(glance.endpoint), conversation(serve.url)
    finally:
        glance.stop()
        serve.stop()
    unexpected = 0
    for (label, status, body), (_, mine, my_body) in zip(theirs, ours):
        if status == mine:
            print(f"   {status}  {label}")
            continue
        known = label in DOCUMENTED
        unexpected += not known
        print(f"{'~~' if known else '!!'} {status} vs {mine}  {label}"
              f"{' (documented)' if known else ''}\n     Glance: {body!r}\n     serve:  {my_body!r}")
    print(f"\n{len(theirs)} requests, {unexpected} unexpected differences")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
