"""`glancectl serve`: interoperable import, tasks, locations, info — through openstacksdk."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from tests.glanceserver import glance_server, sdk  # noqa: F401  (fixtures)
from tests.httpserver import http_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
DATA = os.urandom(1024 * 1024 + 3)
WAIT = 60  # seconds; bounded by time, for a busy machine


def _wait_status(glance_server, image_id: str, wanted: str) -> dict:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        image = glance_server.get(f"/v2/images/{image_id}").json()
        if image["status"] == wanted:
            return image
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} is {image['status']}, not {wanted}, after {WAIT}s")


def _image_task_ended(glance_server, image_id: str) -> dict:
    """The image's one task, once it has ended."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        tasks = glance_server.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[0]["status"] in ("success", "failure"):
            assert len(tasks) == 1
            return tasks[0]
        time.sleep(0.1)
    raise AssertionError(f"the task of image {image_id} has not ended after {WAIT}s")


def test_sdk_stage_and_import_glance_direct(sdk, glance_server, tmp_path):
    path = tmp_path / "staged.raw"
    path.write_bytes(DATA)
    image = sdk.image.create_image(name="direct", filename=str(path), disk_format="raw",
                                   container_format="bare", use_import=True)
    task = _image_task_ended(glance_server, image.id)
    assert (task["type"], task["status"]) == ("api_image_import", "success")
    image = glance_server.get(f"/v2/images/{image.id}").json()
    assert image["status"] == "active"
    assert image["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert glance_server.get(f"/v2/images/{image['id']}/file").content == DATA


def test_stage_then_import_status_codes(glance_server):
    image = glance_server.create(name="codes")
    staged = glance_server.request("PUT", f"/v2/images/{image['id']}/stage", data=DATA,
                                   headers={"Content-Type": "application/octet-stream"})
    assert staged.status_code == 204
    assert glance_server.get(f"/v2/images/{image['id']}").json()["status"] == "uploading"
    not_staged = glance_server.create(name="not-staged")
    refused = glance_server.request("POST", f"/v2/images/{not_staged['id']}/import",
                                    json={"method": {"name": "glance-direct"}})
    assert refused.status_code == 409  # Glance's code for it
    assert refused.json()["message"] == (
        "Image needs to be staged before 'glance-direct' method can be used.")
    started = glance_server.request("POST", f"/v2/images/{image['id']}/import",
                                    json={"method": {"name": "glance-direct"}})
    assert started.status_code == 202
    _wait_status(glance_server, image["id"], "active")


def test_sdk_web_download(sdk, glance_server, http_server):
    url = http_server.add("/web.raw", DATA)
    image = sdk.image.create_image(name="web", disk_format="raw", container_format="bare",
                                   use_import=True, import_method="web-download", uri=url)
    image = _wait_status(glance_server, image.id, "active")
    assert image["size"] == len(DATA)
    assert [r.path for r in http_server.requests if r.method == "GET"] == ["/web.raw"]


def test_web_download_of_a_missing_url_fails_the_task_and_requeues(glance_server, http_server):
    image = glance_server.create(name="web-404")
    url = http_server.add_status("/missing.raw", 404)
    started = glance_server.request("POST", f"/v2/images/{image['id']}/import",
                                    json={"method": {"name": "web-download", "uri": url}})
    assert started.status_code == 202
    task = _image_task_ended(glance_server, image["id"])
    assert task["status"] == "failure" and "404" in task["message"]
    assert glance_server.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_sdk_import_task(sdk, glance_server, http_server):
    url = http_server.add("/task.raw", DATA)
    task = sdk.image.create_task(type="import", input={
        "import_from": url, "import_from_format": "raw",
        "image_properties": {"name": "from-task", "container_format": "bare"}})
    task = sdk.image.wait_for_task(task, status="success", wait=WAIT)
    image = sdk.image.get_image(task.result["image_id"])
    assert (image.name, image.status, image.size) == ("from-task", "active", len(DATA))
    listed = glance_server.get("/v2/tasks?type=import").json()
    assert task.id in [t["id"] for t in listed["tasks"]]
    assert listed["schema"] == "/v2/schemas/tasks"
    bad = glance_server.request("POST", "/v2/tasks", json={"type": "nope", "input": {}})
    assert bad.status_code == 400
    assert bad.json()["message"] == (
        "'nope' is not one of ['import', 'api_image_import', 'location_import']. "
        "Provided type of task is unsupported: nope.")


def test_locations(glance_server, http_server):
    url = http_server.add("/located.raw", DATA)
    image = glance_server.create(name="located")
    added = glance_server.request("POST", f"/v2/images/{image['id']}/locations",
                                  json={"url": url, "metadata": {"k": "v"}})
    assert added.status_code == 202
    assert glance_server.get(f"/v2/images/{image['id']}/locations").json() == [
        {"url": url, "metadata": {"k": "v", "store": "http"}}]
    assert glance_server.get(f"/v2/images/{image['id']}").json()["status"] == "active"
    # The seed's rule: removing the last location takes the image back to queued.
    removed = glance_server.request(
        "PATCH", f"/v2/images/{image['id']}",
        data=json.dumps([{"op": "remove", "path": "/locations/0"}]),
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert removed.status_code == 200
    assert (removed.json()["status"], removed.json()["locations"]) == ("queued", [])


def test_info(glance_server):
    methods = glance_server.get("/v2/info/import").json()["import-methods"]
    assert methods["value"] == ["glance-direct", "web-download"]
    assert glance_server.get("/v2/info/stores").json()["stores"] == [
        {"id": "file", "default": "true"}, {"id": "http", "read-only": "true"}]
    usage = glance_server.get("/v2/info/usage").json()["usage"]
    assert usage["image_count_total"]["usage"] >= 0
    assert usage["image_size_total"]["limit"] == -1


def test_schemas_describe_what_the_server_returns(glance_server, http_server):
    import jsonschema

    image = glance_server.create(name="schema", tags=["t"], hw_disk_bus="scsi")
    assert glance_server.upload(image["id"], DATA).status_code == 204
    listed = glance_server.get("/v2/images?limit=1000").json()
    jsonschema.validate(listed, glance_server.get("/v2/schemas/images").json())
    image_schema = glance_server.get("/v2/schemas/image").json()
    assert image_schema["name"] == "image"
    assert image_schema["additionalProperties"] == {"type": "string"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**image, "disk_format": "floppy"}, image_schema)
    made = glance_server.request("POST", "/v2/tasks", json={"type": "import", "input": {
        "import_from": http_server.add("/schema.raw", DATA), "import_from_format": "raw",
        "image_properties": {"name": "schema-task"}}})
    assert made.status_code == 201
    tasks = glance_server.get("/v2/tasks").json()
    jsonschema.validate(tasks, glance_server.get("/v2/schemas/tasks").json())
    one = glance_server.get(f"/v2/tasks/{tasks['tasks'][0]['id']}").json()
    jsonschema.validate(one, glance_server.get("/v2/schemas/task").json())
