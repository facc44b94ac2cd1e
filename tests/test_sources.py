"""glancectl.sources: files, stdin, file:// and http(s):// data sources."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from glancectl import sources
from glancectl.errors import InvalidValue, SourceError
from glancectl.sources import (
    HttpStatusError,
    open_path,
    open_stdin,
    open_url,
    probe_url,
    validate_location_url,
)
from tests.httpserver import ServedFiles, http_server  # noqa: F401 - registers the fixture

ROOT = Path(__file__).resolve().parents[1]

MiB = 1 << 20
BIG = os.urandom(12 * MiB + 12345)  # not a multiple of any buffer size
BIG_MD5 = hashlib.md5(BIG).hexdigest()


def drain(src, bufsize=4 * MiB) -> bytes:
    """Read a source to the end the way upload code does."""
    buf = memoryview(bytearray(bufsize))
    out = bytearray()
    while n := src.readinto(buf):
        out += buf[:n]
    return bytes(out)


def md5_of(src, bufsize=4 * MiB) -> str:
    buf = memoryview(bytearray(bufsize))
    digest = hashlib.md5()
    while n := src.readinto(buf):
        digest.update(buf[:n])
    return digest.hexdigest()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(http_server):
    yield http_server
    assert not http_server.errors, http_server.errors


# ------------------------------------------------------------------ module


def test_import_does_not_load_networking():
    code = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import glancectl.sources\n"
        "heavy = ['urllib.request', 'urllib.parse', 'http.client', 'socket', 'ssl', 'email']\n"
        "print(','.join(m for m in heavy if m in sys.modules and m not in before))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env, capture_output=True, text=True, check=True, timeout=30,
    )
    assert out.stdout.strip() == ""


# ------------------------------------------------------------- local files


def test_local_file_big(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(BIG)
    with open_path(str(path)) as src:
        assert src.description == f"file {path}"
        assert src.size == len(BIG)
        assert md5_of(src) == BIG_MD5
        assert src.bytes_read == len(BIG)
        assert src.readinto(memoryview(bytearray(10))) == 0
    assert src.closed


def test_local_file_pathlike_small_buffers(tmp_path):
    path = tmp_path / "x.img"
    path.write_bytes(b"abcdefghij" * 1000)
    with open_path(path) as src:
        assert drain(src, bufsize=999) == b"abcdefghij" * 1000


def test_empty_file_and_empty_buffer(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with open_path(path) as src:
        assert src.size == 0
        assert src.readinto(memoryview(bytearray(0))) == 0
        assert drain(src) == b""


def test_missing_file(tmp_path):
    with pytest.raises(SourceError) as err:
        open_path(tmp_path / "nope.img")
    assert str(err.value) == f"cannot read {tmp_path}/nope.img: No such file or directory"


def test_directory_refused(tmp_path):
    with pytest.raises(SourceError) as err:
        open_path(tmp_path)
    assert str(err.value) == f"cannot read {tmp_path}: Is a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b"x")
    path.chmod(0)
    with pytest.raises(SourceError, match="Permission denied"):
        open_path(path)


def test_file_truncated_while_read(tmp_path):
    path = tmp_path / "shrinks"
    path.write_bytes(b"x" * 1000)
    with open_path(path) as src:
        os.truncate(path, 400)
        with pytest.raises(SourceError) as err:
            drain(src)
    assert str(err.value) == (
        f"file {path} ended after 400 of 1000 bytes (it changed while being read)"
    )


def test_pipe_has_unknown_size(tmp_path):
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"piped")
    os.close(write_fd)
    try:
        with open_path(f"/proc/self/fd/{read_fd}") as src:
            assert src.size is None
            assert drain(src) == b"piped"
    finally:
        os.close(read_fd)


def test_path_object_named_dash_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("-").write_bytes(b"dash file")
    with open_path(Path("-")) as src:
        assert src.description == "file -"
        assert drain(src) == b"dash file"


# ------------------------------------------------------------------- stdin


def test_dash_reads_sys_stdin_buffer(monkeypatch):
    fake = io.TextIOWrapper(io.BytesIO(b"\x00\xffbinary"))
    monkeypatch.setattr(sys, "stdin", fake)
    with open_path("-") as src:
        assert src.description == "standard input"
        assert src.size is None
        assert drain(src) == b"\x00\xffbinary"
    assert not fake.closed  # closing the source leaves stdin open


def test_open_stdin_stream_without_readinto():
    class ReadOnly:
        def __init__(self, data):
            self._f = io.BytesIO(data)

        def read(self, n):
            return self._f.read(n)

    with open_stdin(ReadOnly(b"abc" * 1000)) as src:
        assert drain(src, bufsize=100) == b"abc" * 1000


def test_open_stdin_text_stream_refused():
    with open_stdin(io.StringIO("text")) as src:
        with pytest.raises(SourceError, match="text stream, not binary"):
            drain(src)


def test_stdin_closed(monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(SourceError, match="standard input: it is closed"):
        open_path("-")


READ_STDIN = (
    "import hashlib, sys\n"
    "from glancectl.sources import open_path\n"
    "with open_path('-') as src:\n"
    "    buf = memoryview(bytearray(1 << 20)); h = hashlib.md5()\n"
    "    while n := src.readinto(buf): h.update(buf[:n])\n"
    "    print(src.size, h.hexdigest())\n"
)


def test_real_stdin_pipe_and_redirect(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    piped = subprocess.run(
        [sys.executable, "-c", READ_STDIN], input=BIG, env=env, capture_output=True, timeout=60
    )
    assert piped.stdout.decode().split() == ["None", BIG_MD5], piped.stderr
    path = tmp_path / "in.img"
    path.write_bytes(BIG)
    with open(path, "rb") as stdin:
        redirected = subprocess.run(
            [sys.executable, "-c", READ_STDIN],
            stdin=stdin, env=env, capture_output=True, timeout=60,
        )
    assert redirected.stdout.decode().split() == [str(len(BIG)), BIG_MD5], redirected.stderr


# --------------------------------------------------------------- file:// URLs


def test_file_url(tmp_path):
    path = tmp_path / "disk.img"
    path.write_bytes(BIG)
    url = f"file://{path}"
    with open_url(url) as src:
        assert src.description == url
        assert src.size == len(BIG)
        assert md5_of(src) == BIG_MD5
    assert probe_url(url) == len(BIG)
    assert validate_location_url(url) == url
    assert probe_url(f"file://localhost{path}") == len(BIG)


def test_file_url_percent_decoding(tmp_path):
    path = tmp_path / "my image #1 100%?.img"
    path.write_bytes(b"odd name")
    url = path.as_uri()
    assert "%20" in url and "%23" in url and "%25" in url and "%3F" in url
    with open_url(url) as src:
        assert drain(src) == b"odd name"
    assert probe_url(url) == 8
    assert validate_location_url(url) == url


def test_file_url_non_utf8_name(tmp_path):
    raw = os.fsencode(tmp_path) + b"/\xff.img"
    with open(raw, "wb") as f:
        f.write(b"bytes")
    with open_url(f"file://{tmp_path}/%FF.img") as src:
        assert drain(src) == b"bytes"


def test_file_url_missing_and_directory(tmp_path):
    with pytest.raises(SourceError) as err:
        open_url(f"file://{tmp_path}/missing%20file.img")
    assert str(err.value) == f"cannot read {tmp_path}/missing file.img: No such file or directory"
    with pytest.raises(SourceError) as err:
        open_url(f"file://{tmp_path}")
    assert str(err.value) == f"cannot read {tmp_path}: Is a directory"
    with pytest.raises(SourceError, match="Is a directory"):
        probe_url(f"file://{tmp_path}")
    with pytest.raises(SourceError, match="No such file"):
        probe_url(f"file://{tmp_path}/missing")
    with pytest.raises(InvalidValue, match="is a directory, not a file"):
        validate_location_url(f"file://{tmp_path}")
    with pytest.raises(InvalidValue) as err:
        validate_location_url(f"file://{tmp_path}/gone.img")
    assert str(err.value) == (
        f"location file://{tmp_path}/gone.img: cannot read {tmp_path}/gone.img: "
        "No such file or directory"
    )


def test_file_url_not_regular_is_no_location():
    with pytest.raises(InvalidValue, match="not a regular file"):
        validate_location_url("file:///dev/null")
    with pytest.raises(SourceError, match="not a regular file"):
        probe_url("file:///dev/null")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file://otherhost/tmp/x.img", "names host 'otherhost'"),
        ("file://tmp/x.img", "names host 'tmp'"),
        ("file:relative/x.img", "must hold an absolute path"),
        ("file:///tmp/x.img?v=1", "has a query or fragment"),
        ("file:///tmp/x.img#frag", "has a query or fragment"),
        ("file:///tmp/x%00.img", "contains a NUL byte"),
    ],
)
def test_bad_file_urls(url, message):
    with pytest.raises(InvalidValue, match=message):
        validate_location_url(url)
    with pytest.raises(SourceError, match=message):
        open_url(url)
    with pytest.raises(SourceError, match=message):
        probe_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/x.img", "unsupported URL scheme 'ftp' in ftp://127.0.0.1/x.img: "
         "only file://, http:// and https:// are supported"),
        ("swift+http://127.0.0.1/v1/x", "unsupported URL scheme 'swift+http'"),
        ("rbd://fsid/pool/image/snap", "unsupported URL scheme 'rbd'"),
        ("cinder://abc", "unsupported URL scheme 'cinder'"),
        ("/tmp/x.img", "/tmp/x.img is not a URL; use file:///abs/path, http:// or https://"),
        ("x.img", "x.img is not a URL"),
        ("", "empty URL"),
        ("http:///x.img", "URL http:///x.img has no host"),
        ("http://user:pw@127.0.0.1/x", "carries credentials"),
        ("http://127.0.0.1:99999/x", "has an invalid port"),
        ("http://127.0.0.1:port/x", "has an invalid port"),
        ("http://127.0.0.1/a b", "contains spaces or control characters"),
        ("http://127.0.0.1/x\n", "contains spaces or control characters"),
        ("http://127.0.0.1/é", "contains non-ASCII characters"),
        ("http://[::1/x", "invalid URL"),
    ],
)
def test_refused_urls(url, message):
    with pytest.raises(InvalidValue) as err:
        validate_location_url(url)
    assert message in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(SourceError) as err:
        open_url(url)
    assert message in str(err.value)
    with pytest.raises(SourceError):
        probe_url(url)


def test_http_urls_validate_by_form_only():
    assert validate_location_url("http://127.0.0.1:1/x.img") == "http://127.0.0.1:1/x.img"
    assert validate_location_url("HTTPS://127.0.0.1/x?sig=a%2Fb") == "HTTPS://127.0.0.1/x?sig=a%2Fb"


# ------------------------------------------------------------------- HTTP


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_http_big_body(served, framing):
    url = served.add("/big.img", BIG, framing=framing)
    with open_url(url) as src:
        assert src.description == url
        assert src.size == (len(BIG) if framing == "length" else None)
        assert md5_of(src) == BIG_MD5
        assert src.readinto(memoryview(bytearray(10))) == 0
    log = served.requests[-1]
    assert (log.method, log.path) == ("GET", "/big.img")
    assert log.headers["Accept-Encoding"] == "identity"
    assert log.headers["User-Agent"].startswith("glancectl/")


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_http_small_buffers(served, framing):
    body = bytes(range(256)) * 200
    url = served.add("/small", body, framing=framing)
    with open_url(url) as src:
        assert drain(src, bufsize=1000) == body


def test_http_empty_body(served):
    with open_url(served.add("/empty", b"")) as src:
        assert src.size == 0
        assert drain(src) == b""


@pytest.mark.parametrize(("status", "phrase"), [(404, "Not Found"), (500, "Internal Server Error")])
def test_http_error_status(served, status, phrase):
    url = served.add_status("/bad", status)
    for call in (open_url, probe_url):
        with pytest.raises(HttpStatusError) as err:
            call(url)
        assert str(err.value) == f"HTTP {status} {phrase} from {url}"
        assert err.value.status == status
        assert err.value.url == url
        assert isinstance(err.value, SourceError)


def test_http_unknown_route_is_404(served):
    with pytest.raises(HttpStatusError) as err:
        open_url(served.url("/missing"))
    assert str(err.value) == f"HTTP 404 Not Found from {served.base_url}/missing"


def test_probe_uses_head(served):
    url = served.add("/disk.img", BIG)
    assert probe_url(url) == len(BIG)
    assert [r.method for r in served.requests] == ["HEAD"]


def test_probe_unknown_size(served):
    assert probe_url(served.add("/chunked", b"x" * 100, framing="chunked")) is None
    assert probe_url(served.add("/close", b"x" * 100, framing="close")) is None


def test_head_refused_falls_back_to_ranged_get(served):
    url = served.add("/nohead", BIG, head=False)
    assert probe_url(url) == len(BIG)
    assert [r.method for r in served.requests] == ["HEAD", "GET"]
    assert served.requests[1].headers["Range"] == "bytes=0-0"
    with open_url(url) as src:  # GET itself works
        assert md5_of(src) == BIG_MD5


def test_head_refused_get_ignores_range(served):
    url = served.add("/norange", BIG, head=False, ranges=False)
    start = time.monotonic()
    assert probe_url(url) == len(BIG)
    assert time.monotonic() - start < 5  # the body was not read


def test_head_refused_empty_and_chunked(served):
    assert probe_url(served.add("/empty", b"", head=False)) == 0
    assert probe_url(served.add("/chunked", b"abc", head=False, framing="chunked")) is None


def test_head_404_does_not_fall_back(served):
    url = served.add_status("/gone", 404)
    with pytest.raises(HttpStatusError):
        probe_url(url)
    assert [r.method for r in served.requests] == ["HEAD"]


def test_truncated_body_is_an_error(served):
    url = served.add_truncated("/cut", BIG[: 1 * MiB], announce=4 * MiB)
    with open_url(url) as src:
        assert src.size == 4 * MiB
        with pytest.raises(SourceError) as err:
            drain(src)
    assert str(err.value) == f"connection to {url} closed after 1048576 of 4194304 bytes"


def test_truncated_chunked_body_is_an_error(served):
    url = served.add_truncated("/cutchunk", b"y" * 1000, announce=5000, framing="chunked")
    with open_url(url) as src:
        assert src.size is None
        with pytest.raises(SourceError) as err:
            drain(src)
    assert str(err.value).startswith(f"connection to {url} closed after ")
    assert "before the end of the chunked body" in str(err.value)


def test_slow_body_completes(served):
    body = os.urandom(256 * 1024)
    url = served.add_slow("/slow", body, chunk_size=32 * 1024, delay=0.02)
    with open_url(url, timeout=5) as src:
        assert drain(src, bufsize=MiB) == body


def test_slow_body_read_timeout(served):
    url = served.add_slow("/stall", b"z" * (256 * 1024), chunk_size=64 * 1024, delay=2)
    start = time.monotonic()
    with open_url(url, timeout=0.3) as src:
        with pytest.raises(SourceError) as err:
            drain(src, bufsize=MiB)
    assert time.monotonic() - start < 2
    assert str(err.value).startswith(f"timed out after 0.3 s reading {url} (received ")
    assert str(err.value).endswith(f" of {256 * 1024} bytes)")


def test_slow_headers_timeout(served):
    url = served.add_slow("/late", b"z", first_byte_delay=3)
    with pytest.raises(SourceError) as err:
        open_url(url, timeout=0.3)
    assert str(err.value) == f"timed out after 0.3 s waiting for a response from {url}"


def test_slow_route_gives_up_after_max_seconds(served):
    url = served.add_slow(
        "/bounded", b"q" * (64 * 1024), chunk_size=1024, delay=0.05, max_seconds=0.3
    )
    with open_url(url, timeout=5) as src:
        with pytest.raises(SourceError, match=r"closed after \d+ of 65536 bytes"):
            drain(src)


def test_server_stops_promptly_with_slow_request_in_flight():
    with ServedFiles() as server:
        url = server.add_slow("/slow", b"s" * MiB, chunk_size=1024, delay=1, max_seconds=60)
        src = open_url(url, timeout=10)
        reader_error = []

        def read():
            try:
                drain(src)
            except SourceError as exc:
                reader_error.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(0.2)
        start = time.monotonic()
    assert time.monotonic() - start < 2
    reader.join(timeout=5)
    src.close()
    assert not reader.is_alive()
    assert reader_error and "closed after" in str(reader_error[0])
    assert not server.errors


def test_redirect_followed(served):
    target = served.add("/real.img", BIG)
    url = served.add_redirect("/moved", "/real.img")
    with open_url(url) as src:
        assert src.description == url
        assert src.size == len(BIG)
        assert md5_of(src) == BIG_MD5
    assert probe_url(url) == len(BIG)
    assert [(r.method, r.path) for r in served.requests] == [
        ("GET", "/moved"), ("GET", "/real.img"), ("HEAD", "/moved"), ("HEAD", "/real.img"),
    ]
    absolute = served.add_redirect("/abs", target, status=301)
    with open_url(absolute) as src:
        assert md5_of(src) == BIG_MD5


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_statuses(served, status):
    served.add("/to", b"here")
    with open_url(served.add_redirect("/from", "/to", status=status)) as src:
        assert drain(src) == b"here"


def test_redirect_to_missing(served):
    url = served.add_redirect("/moved", "/nowhere")
    with pytest.raises(HttpStatusError) as err:
        open_url(url)
    assert str(err.value) == (
        f"HTTP 404 Not Found from {served.base_url}/nowhere (redirected from {url})"
    )


def test_redirect_loop(served):
    url = served.add_redirect("/loop", "/loop")
    with pytest.raises(SourceError) as err:
        open_url(url)
    assert str(err.value) == f"too many redirects (more than 10, or a loop) from {url}"


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x"])
def test_redirect_to_other_scheme_refused(served, target):
    url = served.add_redirect("/evil", target)
    with pytest.raises(SourceError) as err:
        open_url(url)
    assert str(err.value) == (
        f"{url} redirected to {target}; only http:// and https:// redirects are followed"
    )
    assert len(served.requests) == 1


def test_connection_refused():
    port = free_port()
    for call in (open_url, probe_url):
        with pytest.raises(SourceError) as err:
            call(f"http://127.0.0.1:{port}/x.img", timeout=5)
        assert str(err.value) == f"could not reach 127.0.0.1:{port}: Connection refused"


def test_hangup_without_response(served):
    url = served.add_hangup("/hangup")
    with pytest.raises(SourceError) as err:
        open_url(url)
    assert str(err.value) == (
        f"127.0.0.1:{served.port} closed the connection without answering the request for {url}"
    )


def test_listener_that_never_answers():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepted by the kernel, never answered
        port = listener.getsockname()[1]
        url = f"http://127.0.0.1:{port}/x"
        with pytest.raises(SourceError) as err:
            open_url(url, timeout=0.3)
    assert str(err.value) == f"timed out after 0.3 s waiting for a response from {url}"


# --------------------------------------------------------- the test server


def test_server_ranges_and_head(served):
    import urllib.request

    url = served.add("/r", b"0123456789")

    def fetch(method="GET", **headers):
        request = urllib.request.Request(url, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), b""

    assert fetch(Range="bytes=2-4")[::2] == (206, b"234")
    assert fetch(Range="bytes=7-")[::2] == (206, b"789")
    assert fetch(Range="bytes=-3")[::2] == (206, b"789")
    status, headers, _ = fetch(Range="bytes=20-30")
    assert (status, headers["Content-Range"]) == (416, "bytes */10")
    status, headers, body = fetch("HEAD")
    assert (status, headers["Content-Length"], body) == (200, "10", b"")


def test_sources_api_is_small():
    assert set(sources.__all__) == {
        "DataSource", "HttpStatusError", "SymlinkRefused", "open_path", "open_stdin",
        "open_url", "probe_url", "stdin_holds_data", "validate_location_url",
    }
