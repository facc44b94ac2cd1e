"""`glancectl serve`: the same rules and wording as the CLI, with Glance's HTTP codes;
one store seen by both faces; hang-ups, shutdown and concurrent clients."""

from __future__ import annotations

import json
from http import HTTPStatus
import os
import signal
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import FORMATS, Glancectl, run_launcher
from tests.glanceserver import glance_server, start_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
TOO_LARGE = HTTPStatus(413).phrase  # "Request Entity Too Large" before Python 3.13


def _error(response, status: int, phrase: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert (body["code"], body["title"]) == (f"{status} {phrase}", phrase)
    return body["message"]


def test_illegal_transition_is_409_with_glances_text(glance_server):
    image = glance_server.create(name="twice")
    assert glance_server.upload(image["id"], b"data").status_code == 204
    message = _error(glance_server.upload(image["id"], b"again"), 409, "Conflict")
    assert message.startswith("Image status transition from active to saving is not allowed")
    assert glance_server.get(f"/v2/images/{image['id']}").json()["size"] == 4


def test_reactivate_refusal_matches_the_cli(glance_server, monkeypatch):
    image = glance_server.create(name="never-active")
    response = glance_server.request("POST", f"/v2/images/{image['id']}/actions/reactivate")
    message = _error(response, 403, "Forbidden")  # Glance 33's code for it
    assert message.startswith("Not allowed to reactivate image in status 'queued'")
    cli = Glancectl(glance_server.home, monkeypatch)("image", "reactivate", image["id"])
    assert cli.exit_code == 4 and message in cli.stderr  # one rule, one wording, two faces


def test_protected_delete_is_403(glance_server):
    image = glance_server.create(name="keep", protected=True)
    message = _error(glance_server.request("DELETE", f"/v2/images/{image['id']}"), 403, "Forbidden")
    assert message == f"Image {image['id']} (keep) is protected and cannot be deleted."
    unprotect = [{"op": "replace", "path": "/protected", "value": False}]
    assert glance_server.request("PATCH", f"/v2/images/{image['id']}", data=json.dumps(unprotect),
                                 headers=PATCH).status_code == 200
    assert glance_server.request("DELETE", f"/v2/images/{image['id']}").status_code == 204


def test_bad_values_are_400_read_only_is_403_and_nothing_changes(glance_server):
    before = len(glance_server.get("/v2/images?limit=1000").json()["images"])
    assert _error(glance_server.request("POST", "/v2/images", json={"min_ram": "lots"}),
                  400, "Bad Request") == "image 'min_ram' must be int, got 'lots'"
    assert _error(glance_server.request("POST", "/v2/images", json={"disk_format": "floppy"}),
                  400, "Bad Request").startswith("Invalid disk format 'floppy'")
    assert _error(glance_server.request("POST", "/v2/images", data="{nope",
                                        headers={"Content-Type": "application/json"}),
                  400, "Bad Request").startswith("Malformed JSON in request body")
    assert len(glance_server.get("/v2/images?limit=1000").json()["images"]) == before
    image = glance_server.create(name="ro")
    read_only = [{"op": "replace", "path": "/status", "value": "active"}]
    message = _error(glance_server.request("PATCH", f"/v2/images/{image['id']}",
                                           data=json.dumps(read_only), headers=PATCH),
                     403, "Forbidden")
    assert message == "Attribute 'status' is read-only."
    marker = glance_server.get("/v2/images?marker=00000000-0000-0000-0000-000000000009")
    assert _error(marker, 400, "Bad Request").startswith("marker ")
    assert glance_server.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_upload_needs_octet_stream_415(glance_server):
    image = glance_server.create(name="typed")
    response = glance_server.request("PUT", f"/v2/images/{image['id']}/file", data=b"x",
                                     headers={"Content-Type": "text/plain"})
    assert _error(response, 415, "Unsupported Media Type") == "Invalid content type text/plain"
    assert glance_server.get(f"/v2/images/{image['id']}").json()["status"] == "queued"


def test_quotas_are_413(tmp_path):
    server = start_server(tmp_path / "home", env={"GLANCECTL_USER_STORAGE_QUOTA": "1000",
                                                  "GLANCECTL_IMAGE_TAG_QUOTA": "1"})
    try:
        image = server.create(name="big", tags=["one"])
        message = _error(server.upload(image["id"], b"x" * 2000), 413, TOO_LARGE)
        assert message.startswith("Denying attempt to upload image because it exceeds the quota")
        assert server.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
        tagged = server.request("PUT", f"/v2/images/{image['id']}/tags/two")
        assert _error(tagged, 413, TOO_LARGE) == (
            "The limit has been exceeded on the number of allowed image tags. "
            "Attempted: 2, Maximum: 1")
    finally:
        assert server.stop()[0] == 0


def test_cli_and_server_see_each_others_changes(glance_server, monkeypatch, tmp_path):
    cli = Glancectl(glance_server.home, monkeypatch)
    disk = tmp_path / "cli.raw"
    disk.write_bytes(b"c" * 4096)
    made = cli.create("from-cli", *FORMATS, "--file", str(disk))
    over_http = glance_server.get(f"/v2/images/{made['id']}").json()
    assert (over_http["status"], over_http["size"]) == ("active", 4096)
    assert glance_server.request(
        "POST", f"/v2/images/{made['id']}/actions/deactivate").status_code == 204
    assert cli.show(made["id"])["status"] == "deactivated"
    refused = cli("image", "download", made["id"], "--file", str(tmp_path / "out"))
    assert refused.exit_code == 4 and "Image data download is forbidden" in refused.stderr
    cli.ok("image", "delete", made["id"])
    assert glance_server.get(f"/v2/images/{made['id']}").status_code == 404


def _partial_upload(url: str, path: str, announced: int | None, sent: bytes) -> socket.socket:
    """Headers and part of a body; ``announced`` None sends it chunked, as glanceclient does."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    framing = ("Transfer-Encoding: chunked" if announced is None
               else f"Content-Length: {announced}")
    if announced is None:
        block = 64 * 1024
        sent = b"".join(b"%x\r\n" % len(sent[i:i + block]) + sent[i:i + block] + b"\r\n"
                        for i in range(0, len(sent), block))
    sock.sendall((f"PUT {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                  f"Content-Type: application/octet-stream\r\n"
                  f"{framing}\r\n\r\n").encode() + sent)
    return sock


def _no_partial_data(home) -> bool:
    return not any((home / "tmp").glob("*")) if (home / "tmp").exists() else True


def _wait_for_status(cli, image_id: str, wanted: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    status = cli.show(image_id)["status"]
    while status != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
        status = cli.show(image_id)["status"]
    return status


@pytest.mark.parametrize("announced", [64 * 1024 * 1024, None], ids=["length", "chunked"])
def test_client_hanging_up_mid_upload_leaves_the_image_queued(glance_server, monkeypatch,
                                                               announced):
    """The body streams into the store as it arrives: the image is saving while it does,
    and a hang-up mid-body is an interrupted upload, back to queued with nothing kept."""
    cli = Glancectl(glance_server.home, monkeypatch)
    image = glance_server.create(name="hangup")
    sock = _partial_upload(glance_server.url, f"/v2/images/{image['id']}/file",
                           announced, os.urandom(8 * 1024 * 1024))
    try:
        assert _wait_for_status(cli, image["id"], "saving") == "saving"
    finally:
        sock.close()
    assert _wait_for_status(cli, image["id"], "queued") == "queued"
    after = cli.show(image["id"])
    assert (after["size"], after["checksum"]) == (None, None)
    assert _no_partial_data(glance_server.home)
    assert not (glance_server.home / "data" / image["id"]).exists()
    # The image takes a whole upload afterwards, and the server is still serving.
    assert glance_server.upload(image["id"], b"whole").status_code == 204


def _raw_exchange(server, head: str, body: bytes, *, hang_up: bool = False,
                  then_wait: float = 30) -> tuple[bytes, dict]:
    """Send ``head`` (its Host: HOST filled in) and ``body`` on a raw connection, then read
    the answer: the status line and the JSON error document. ``hang_up`` ends the request's
    side there; otherwise the client stays, holding back whatever the body announced."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=then_wait) as sock:
        sock.sendall(head.replace("HOST", parts.netloc).encode() + body)
        if hang_up:
            sock.shutdown(socket.SHUT_WR)
        answer = sock.makefile("rb").read()
    status_line, _, rest = answer.partition(b"\r\n")
    document = rest.partition(b"\r\n\r\n")[2]
    return status_line, json.loads(document) if document.startswith(b"{") else {}


@pytest.mark.parametrize("body, said", [
    (b"5\r\nhello\r\n5\r\nworldXX3\r\nabc\r\n0\r\n\r\n",
     "Bad chunked transfer coding (expected '\\r\\n', got b'XX')"),
    (b"5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n", "Bad chunked transfer size: b'zz'"),
    (b"5\r\nhello\r\n10\r\nworld", "Bad chunked transfer coding (expected '\\r\\n', got b'')"),
    # int() reads these, and "-1" once ended the body early: a 5-byte image was kept.
    (b"5\r\nhello\r\n-1\r\nworld\r\n0\r\n\r\n", "Bad chunked transfer size: b'-1'"),
    (b"0x5\r\nhello\r\n0\r\n\r\n", "Bad chunked transfer size: b'0x5'"),
    (b"1_0\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", "Bad chunked transfer size: b'1_0'"),
], ids=["no-crlf-after-data", "bad-size", "cut-mid-chunk", "negative-size", "0x-size", "underscore-size"])
def test_broken_chunked_framing_is_400_and_leaves_the_image_queued(glance_server, body, said):
    image = glance_server.create(name="broken-chunks")
    status, document = _raw_exchange(
        glance_server,
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: HOST\r\nAccept: application/json\r\n"
        "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n", body,
        hang_up=True)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert document["message"] == f"the request body was cut off: {said}"
    after = glance_server.get(f"/v2/images/{image['id']}").json()
    assert (after["status"], after["size"], after["checksum"]) == ("queued", None, None)
    assert _no_partial_data(glance_server.home)


def test_chunked_upload_over_the_quota_is_refused_as_it_crosses_it(tmp_path):
    """The quota holds while bytes arrive: a chunked body far over it is refused with 413
    after the server took not much more than the quota, and nothing is spooled anywhere."""
    quota = 4 * 1024 * 1024
    spool = tmp_path / "server-tmp"
    spool.mkdir()
    server = start_server(tmp_path / "home", env={"GLANCECTL_USER_STORAGE_QUOTA": str(quota),
                                                  "TMPDIR": str(spool)})
    try:
        image = server.create(name="over-quota")
        sent = 0
        block = os.urandom(64 * 1024)
        stop_at = time.monotonic() + 60

        def body():  # up to 1 GiB, or a minute: the refusal must come long before either
            nonlocal sent
            while sent < 1024 ** 3 and time.monotonic() < stop_at:
                sent += len(block)
                yield block

        try:
            response = server.request("PUT", f"/v2/images/{image['id']}/file", data=body(),
                                      headers={"Content-Type": "application/octet-stream"})
        except requests.ConnectionError:
            response = None  # the server closed on the rest of the body; checked below
        # What the client got out before the refusal: the quota, plus what sockets buffer.
        assert sent < quota + 32 * 1024 * 1024, sent
        if response is not None:
            message = _error(response, 413, TOO_LARGE)
            assert message.startswith("Denying attempt to upload image because it exceeds the quota")
        assert not any(spool.iterdir())
        after = server.get(f"/v2/images/{image['id']}").json()
        assert (after["status"], after["size"]) == ("queued", None)
        assert _no_partial_data(server.home)
    finally:
        assert server.stop()[0] == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_mid_upload_is_clean_and_leaves_queued(tmp_path, monkeypatch, sig):
    server = start_server(tmp_path / "home")
    image = server.create(name="cut-off")
    sock = _partial_upload(server.url, f"/v2/images/{image['id']}/file",
                           10 * 1024 * 1024, os.urandom(256 * 1024))
    try:
        started = time.monotonic()
        code, stderr = server.stop(sig)
        assert code == 0 and "Stopped." in stderr
        assert time.monotonic() - started < 20
    finally:
        sock.close()
    cli = Glancectl(server.home, monkeypatch)  # the same home, after the server is gone
    assert cli.show(image["id"])["status"] == "queued"
    assert _no_partial_data(server.home)


def test_eight_concurrent_clients_lose_nothing(glance_server):
    """Eight clients create, upload and tag for a fixed time; every acknowledged change is there."""
    done: list[tuple[str, str, bytes]] = []
    failures: list[str] = []
    stop_at = time.monotonic() + 4.0

    def client(n: int) -> None:
        i = 0
        while time.monotonic() < stop_at:
            try:
                image = glance_server.create(name=f"c{n}-{i}")
                data = f"{n}-{i}".encode() * 100
                assert glance_server.upload(image["id"], data).status_code == 204
                tag = f"client-{n}"
                assert glance_server.request(
                    "PUT", f"/v2/images/{image['id']}/tags/{tag}").status_code == 204
                done.append((image["id"], tag, data))
            except Exception as exc:  # noqa: BLE001 - collected and reported below
                failures.append(repr(exc))
            i += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures
    assert len({n for _, tag, _ in done for n in [tag]}) == 8  # every client got work done
    for image_id, tag, data in done:
        image = glance_server.get(f"/v2/images/{image_id}").json()
        assert (image["status"], image["tags"], image["size"]) == ("active", [tag], len(data))


def test_binding_beyond_loopback_needs_a_flag_and_warns(tmp_path):
    refused = run_launcher("serve", "--host", "0.0.0.0", "--port", "0", home=tmp_path / "home")
    assert refused.returncode == 2 and refused.stdout == b""
    assert b"refusing to listen on 0.0.0.0: glancectl serve has no access control." in refused.stderr
    server = start_server(tmp_path / "home", "--host", "0.0.0.0", "--allow-remote")
    code, stderr = server.stop()
    assert code == 0
    assert "Warning: glancectl serve has no access control: anyone who can reach" in stderr
    quiet = start_server(tmp_path / "home")
    assert "Warning" not in quiet.stop()[1]


@pytest.mark.parametrize("accept", [None, "*/*", "text/html", "application/json;q=0.5, */*"])
def test_errors_are_webobs_html_page_unless_json_is_preferred(glance_server, accept):
    missing = "00000000-0000-0000-0000-000000000001"
    response = glance_server.get(f"/v2/images/{missing}", headers={"Accept": accept})
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<title>404 Not Found</title>" in response.text
    assert f"No image found with ID {missing}<br /><br />" in response.text


def test_pending_delete_is_404_over_http_but_kept_for_the_cli(tmp_path, monkeypatch):
    server = start_server(tmp_path / "home", env={"GLANCECTL_DELAYED_DELETE": "true"})
    try:
        image = server.create(name="delayed")
        assert server.upload(image["id"], b"kept until scrub").status_code == 204
        assert server.request("DELETE", f"/v2/images/{image['id']}").status_code == 204
        gone = server.get(f"/v2/images/{image['id']}")
        assert gone.status_code == 404
        assert gone.json()["message"] == f"No image found with ID {image['id']}"
        assert image["id"] not in [i["id"] for i in server.get("/v2/images").json()["images"]]
        cli = Glancectl(server.home, monkeypatch)
        assert cli.show(image["id"])["status"] == "pending_delete"
    finally:
        assert server.stop()[0] == 0


def test_an_upload_the_server_is_writing_goes_back_to_queued_when_it_stops(tmp_path, monkeypatch):
    """Stopping while the body streams into the store cuts the write off through the same
    path as an interrupted CLI upload."""
    server = start_server(tmp_path / "home")
    cli = Glancectl(server.home, monkeypatch)
    image = server.create(name="stopped-while-saving")
    body = tmp_path / "big.raw"
    with open(body, "wb") as out:
        for _ in range(128):
            out.write(os.urandom(1024 * 1024))
    sent = threading.Thread(target=lambda: server.upload(image["id"], body.read_bytes()),
                            daemon=True)
    sent.start()
    deadline = time.monotonic() + 60
    while cli.show(image["id"])["status"] == "queued" and time.monotonic() < deadline:
        time.sleep(0.01)
    status_when_stopped = cli.show(image["id"])["status"]
    code, stderr = server.stop()
    assert code == 0, stderr
    sent.join(30)
    if status_when_stopped == "active":
        pytest.skip("the machine wrote 128 MiB before the test could stop the server")
    assert status_when_stopped == "saving"
    after = cli.show(image["id"])
    assert (after["status"], after["size"]) == ("queued", None)
    assert _no_partial_data(server.home)


def _images_count(server) -> int:
    return len(server.get("/v2/images?limit=1000").json()["images"])


def test_a_json_body_over_the_cap_is_413_before_it_is_read_whole(tmp_path):
    """Metadata bodies are held in memory, so they are capped, declared or chunked, and a
    chunked one is refused as it crosses the cap, not after the client sent all of it."""
    server = start_server(tmp_path / "home")
    try:
        _json_body_cap(server)
    finally:
        code, stderr = server.stop()
    assert code == 0 and "Warning" not in stderr, stderr  # the refusals log no deprecation


def _json_body_cap(glance_server) -> None:
    from glancectl.api.parsing import MAX_JSON_BODY

    before = _images_count(glance_server)
    padding = {"name": "big", "note": "x" * MAX_JSON_BODY}
    declared = glance_server.request("POST", "/v2/images", json=padding)
    assert _error(declared, 413, TOO_LARGE) == (
        f"Request is too large: a JSON request body is at most {MAX_JSON_BODY} bytes.")
    assert declared.headers["Connection"] == "close"  # the unread rest is never parsed as a request

    sent = 0
    stop_at = time.monotonic() + 60

    def chunked():  # an endless JSON string, for up to a minute: the refusal comes long before
        nonlocal sent
        yield b'{"name": "endless", "note": "'
        while time.monotonic() < stop_at:
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    try:
        response = glance_server.request("POST", "/v2/images", data=chunked(),
                                         headers={"Content-Type": "application/json"})
    except requests.ConnectionError:
        response = None  # the server closed on the rest of the body; checked below
    assert time.monotonic() < stop_at and sent < MAX_JSON_BODY + 32 * 1024 * 1024, sent
    if response is not None:
        assert _error(response, 413, TOO_LARGE).startswith("Request is too large")
    assert _images_count(glance_server) == before

    # Just under the cap is an ordinary body.
    half = "x" * (MAX_JSON_BODY // 2 - 100)  # two properties: each value is at most 65535 bytes
    fits = {"name": "fits", "note": half, "more": half}
    assert MAX_JSON_BODY - 200 < len(json.dumps(fits)) <= MAX_JSON_BODY
    created = glance_server.request("POST", "/v2/images", json=fits)
    assert created.status_code == 201, created.text
    assert created.json()["more"] == half


def test_every_response_has_an_openstack_request_id(glance_server):
    ok = glance_server.get("/v2/images")
    missing = glance_server.get("/v2/images/00000000-0000-0000-0000-000000000009")
    assert (ok.status_code, missing.status_code) == (200, 404)
    ids = [r.headers["x-openstack-request-id"] for r in (ok, missing)]
    assert all(i.startswith("req-") and len(i) == 40 for i in ids) and ids[0] != ids[1]


def test_a_chunked_upload_with_a_content_length_too_is_not_cut_to_that_length(glance_server):
    """Transfer-Encoding overrides Content-Length (RFC 9112): a body that runs past the
    announced 3 bytes is refused, never kept as its first 3 bytes."""
    image = glance_server.create(name="both-framings")
    status, document = _raw_exchange(
        glance_server,
        f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\nHost: HOST\r\nAccept: application/json\r\n"
        "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 3\r\nConnection: close\r\n\r\n", b"5\r\nAAAAA\r\n0\r\n\r\n")
    assert status == b"HTTP/1.1 400 Bad Request", document
    assert "more than the announced size of 3 bytes" in document["message"]
    after = glance_server.get(f"/v2/images/{image['id']}").json()
    assert after["status"] != "active" and after["size"] is None
    assert _no_partial_data(glance_server.home)


def test_a_json_body_in_one_huge_chunk_is_413_before_the_chunk_arrives(glance_server):
    """The cap holds inside a chunk: one chunk announced as 200 MiB gets its 413 once the cap
    is crossed, with the client still holding back the rest (the server never buffers it)."""
    from glancectl.api.parsing import MAX_JSON_BODY

    before = _images_count(glance_server)
    started = time.monotonic()
    status, document = _raw_exchange(
        glance_server,
        "POST /v2/images HTTP/1.1\r\nHost: HOST\r\nAccept: application/json\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"%x\r\n" % (200 * 1024 * 1024) + b'{"name": "' + b"x" * (MAX_JSON_BODY + 64 * 1024),
        then_wait=30)
    assert status.startswith(b"HTTP/1.1 413 "), (status, document)
    assert document["message"].startswith("Request is too large")
    assert time.monotonic() - started < 30
    assert _images_count(glance_server) == before


@pytest.mark.parametrize("body, said", [
    (b"zz\r\n{}\r\n0\r\n\r\n", "Bad chunked transfer size: b'zz'"),
    (b"5\r\n{}", "Bad chunked transfer coding (expected '\\r\\n', got b'')"),
], ids=["bad-size", "cut-mid-chunk"])
def test_a_broken_chunked_json_body_is_400_not_an_internal_error(glance_server, body, said):
    before = _images_count(glance_server)
    status, document = _raw_exchange(
        glance_server,
        "POST /v2/images HTTP/1.1\r\nHost: HOST\r\nAccept: application/json\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", body, hang_up=True)
    assert status == b"HTTP/1.1 400 Bad Request", document
    assert document["message"] == f"the request body was cut off: {said}"
    assert _images_count(glance_server) == before
