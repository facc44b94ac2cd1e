"""`glancectl serve` driven by openstacksdk, and the wire details it relies on."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
from urllib.parse import urlsplit

import pytest

from tests.conftest import Glancectl
from tests.glanceserver import glance_server, sdk  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
DATA = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "disk.raw"
    path.write_bytes(DATA)
    return path


def test_version_discovery(glance_server):
    root = glance_server.get("/")
    assert root.status_code == 300
    current = [v for v in root.json()["versions"] if v["status"] == "CURRENT"]
    assert [v["links"][0]["href"] for v in current] == [glance_server.url + "/v2/"]
    explicit = glance_server.get("/versions")
    assert explicit.status_code == 200 and explicit.json() == root.json()


def test_sdk_create_upload_show_download_delete(sdk, glance_server, data_file, tmp_path):
    created = sdk.image.create_image(name="sdk-life", filename=str(data_file),
                                     disk_format="raw", container_format="bare")
    image = sdk.image.get_image(created.id)
    assert image.status == "active"
    assert image.size == len(DATA)
    assert image.checksum == hashlib.md5(DATA).hexdigest()
    assert image.hash_value == hashlib.sha512(DATA).hexdigest()

    out = tmp_path / "copy.raw"
    sdk.image.download_image(image, output=str(out))  # verifies the hash as it reads
    assert out.read_bytes() == DATA

    sdk.image.delete_image(image)
    sdk.image.wait_for_delete(image, wait=10)  # needs the 404 Glance gives a deleted image
    assert glance_server.get(f"/v2/images/{image.id}").status_code == 404
    assert sdk.image.find_image(image.id) is None


def test_sdk_list_filters_sort_and_paging(sdk, glance_server):
    made = [glance_server.create(name=f"page-{i}", tags=["paged"] + (["odd"] if i % 2 else []),
                                 **{"os_distro": f"d{i}"}) for i in range(5)]
    by_name = lambda images: [i.name for i in images]  # noqa: E731
    assert by_name(sdk.image.images(tag="paged", sort="name:asc")) == [
        "page-0", "page-1", "page-2", "page-3", "page-4"]
    assert by_name(sdk.image.images(tag=["paged", "odd"], sort="name:desc")) == ["page-3", "page-1"]
    assert by_name(sdk.image.images(name="page-2")) == ["page-2"]
    assert by_name(sdk.image.images(os_distro="d4")) == ["page-4"]
    # Paging: sdk follows the next link two at a time and still sees every image once.
    assert by_name(sdk.image.images(tag="paged", sort="name:asc", limit=2)) == [
        f"page-{i}" for i in range(5)]
    first = glance_server.get("/v2/images?tag=paged&sort=name:asc&limit=2").json()
    assert [i["name"] for i in first["images"]] == ["page-0", "page-1"]
    assert first["next"].startswith("/v2/images?") and f"marker={made[1]['id']}" in first["next"]
    assert first["schema"] == "/v2/schemas/images" and first["first"].startswith("/v2/images")
    last = glance_server.get("/v2/images?tag=paged&sort=name:asc&limit=2&marker=" + made[3]["id"])
    assert [i["name"] for i in last.json()["images"]] == ["page-4"]
    assert "next" not in last.json()
    bad = glance_server.get("/v2/images?sort=nope")
    assert bad.status_code == 400 and "Invalid sort key: 'nope'" in bad.json()["message"]


def test_sdk_update_properties_and_tags(sdk, glance_server):
    image = sdk.image.create_image(name="sdk-set", disk_format="raw", container_format="bare",
                                   os_distro="cirros", allow_duplicates=True)
    sdk.image.update_image(image, name="sdk-set-2", min_ram=512, os_version="0.6")
    sdk.image.add_tag(image, "gold")
    sdk.image.add_tag(image, "silver")
    sdk.image.remove_tag(image, "silver")
    got = glance_server.get(f"/v2/images/{image.id}").json()
    assert (got["name"], got["min_ram"], got["os_version"], got["tags"]) == (
        "sdk-set-2", 512, "0.6", ["gold"])
    # Removing a property through a JSON patch.
    patched = glance_server.request(
        "PATCH", f"/v2/images/{image.id}", data=json.dumps([{"op": "remove", "path": "/os_distro"}]),
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert patched.status_code == 200 and "os_distro" not in patched.json()
    again = glance_server.request(
        "PATCH", f"/v2/images/{image.id}", data=json.dumps([{"op": "remove", "path": "/os_distro"}]),
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    assert again.status_code == 409  # Glance 33's code for removing a missing property
    assert again.json()["message"].startswith("Property os_distro does not exist on image")


def test_patch_needs_the_json_patch_media_type(glance_server):
    image = glance_server.create(name="patch-type")
    response = glance_server.request("PATCH", f"/v2/images/{image['id']}",
                                     json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert response.status_code == 415
    assert "application/openstack-images-v2.1-json-patch" in response.headers["Accept-Patch"]
    assert glance_server.get(f"/v2/images/{image['id']}").json()["name"] == "patch-type"


def test_deactivate_refuses_download_and_reactivate_restores_it(sdk, glance_server):
    image = glance_server.create(name="held")
    assert glance_server.upload(image["id"], DATA).status_code == 204
    sdk.image.deactivate_image(image["id"])
    assert sdk.image.get_image(image["id"]).status == "deactivated"
    refused = glance_server.get(f"/v2/images/{image['id']}/file")
    assert refused.status_code == 403
    assert refused.json()["message"].startswith(
        "The requested image has been deactivated. Image data download is forbidden.")
    assert refused.json()["code"] == "403 Forbidden" and refused.json()["title"] == "Forbidden"
    sdk.image.reactivate_image(image["id"])
    assert glance_server.get(f"/v2/images/{image['id']}/file").content == DATA


def _chunked_put(url: str, path: str, chunks: list[bytes]) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.putrequest("PUT", path)
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for chunk in chunks:
        conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.send(b"0\r\n\r\n")
    status = conn.getresponse().status
    conn.close()
    return status


def test_chunked_upload_and_download_headers(glance_server):
    image = glance_server.create(name="chunked")
    chunks = [DATA[i:i + 65536] for i in range(0, len(DATA), 65536)]
    assert _chunked_put(glance_server.url, f"/v2/images/{image['id']}/file", chunks) == 204
    got = glance_server.get(f"/v2/images/{image['id']}/file")
    assert got.status_code == 200 and got.content == DATA
    assert got.headers["Content-Length"] == str(len(DATA))
    assert got.headers["Content-MD5"] == hashlib.md5(DATA).hexdigest()
    assert got.headers["Content-Type"] == "application/octet-stream"


def _read_response(reader) -> tuple[int, bytes]:
    """One response off a raw connection: its status and its Content-Length body."""
    status = int(reader.readline().split()[1])
    headers = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, reader.read(int(headers.get("content-length", 0)))


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_upload_stops_at_its_body_and_the_next_request_is_answered(glance_server, framing):
    """A body of several ingest chunks, not a whole number of pages, with the next request
    sent right behind it on the same connection: the image holds exactly the body, and the
    request after it is read and answered (the server's body reader stopped at its end)."""
    image = glance_server.create(name=f"pipelined-{framing}")
    data = os.urandom(9 * 1024 * 1024 + 5)
    parts = urlsplit(glance_server.url)
    if framing == "length":
        head, body = f"Content-Length: {len(data)}", data
    else:
        block = 1024 * 1024 + 3
        body = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + block]), data[i:i + block])
                        for i in range(0, len(data), block)) + b"0\r\n\r\n"
        head = "Transfer-Encoding: chunked"
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     f"Content-Type: application/octet-stream\r\n{head}\r\n\r\n".encode()
                     + body
                     + f"GET /v2/images/{image['id']} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                       "Accept: application/json\r\nConnection: close\r\n\r\n".encode())
        reader = sock.makefile("rb")
        assert _read_response(reader)[0] == 204
        status, shown = _read_response(reader)
    assert status == 200
    record = json.loads(shown)
    assert record["status"] == "active" and record["size"] == len(data)
    assert record["checksum"] == hashlib.md5(data).hexdigest()
    assert record["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert glance_server.get(f"/v2/images/{image['id']}/file").content == data


def test_queued_image_download_is_204(glance_server):
    image = glance_server.create(name="empty")
    response = glance_server.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 204 and response.content == b""


def test_create_answers_201_with_location(glance_server):
    response = glance_server.request("POST", "/v2/images", json={"name": "loc"})
    assert response.status_code == 201
    assert response.headers["Location"] == f"{glance_server.url}/v2/images/{response.json()['id']}"
    assert response.headers["OpenStack-image-import-methods"] == "glance-direct,web-download"
    wrong_type = glance_server.request("POST", "/v2/images", data="{}",
                                       headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415


def test_api_body_is_the_cli_json(glance_server, monkeypatch):
    image = glance_server.create(name="same-bytes", tags=["a"], hw_disk_bus="scsi")
    assert glance_server.upload(image["id"], b"x" * 1000).status_code == 204
    cli = Glancectl(glance_server.home, monkeypatch)
    assert glance_server.get(f"/v2/images/{image['id']}").json() == cli.show(image["id"])


@pytest.mark.parametrize("path", ["/v2/images/{id}", "/v2/images/{id}/file"])
def test_unknown_and_deleted_images_are_404(glance_server, path):
    image = glance_server.create(name="gone")
    assert glance_server.request("DELETE", f"/v2/images/{image['id']}").status_code == 204
    for image_id in (image["id"], "00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        response = glance_server.get(path.format(id=image_id))
        assert response.status_code == 404
        assert response.json() == {"message": f"No image found with ID {image_id}",
                                   "code": "404 Not Found", "title": "Not Found"}
