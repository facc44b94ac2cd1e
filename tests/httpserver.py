"""A small threaded HTTP server on 127.0.0.1 for tests that need http:// sources.

Use the ``http_server`` fixture (import it into a test module or conftest.py)::

    from tests.httpserver import http_server  # noqa: F401  (registers the fixture)

    def test_upload_from_url(http_server):
        url = http_server.add("/disk.img", b"...")            # 200 with Content-Length
        ...
        assert [r.method for r in http_server.requests] == ["GET"]

or the class directly: ``with ServedFiles() as srv: url = srv.add(...)``.

Routes (each ``add*`` returns the full URL; unknown paths answer 404):

    add(path, data, framing="length"|"chunked"|"close", head=True, ranges=True)
        200 with the bytes. "chunked" sends Transfer-Encoding: chunked, "close"
        sends no length and ends the body by closing. head=False answers HEAD
        with 405 (GET still works). With ranges=True a single "Range: bytes=a-b"
        gets 206 (or 416), for framing "length" only.
    add_status(path, status, body=b"")      that status (404, 500, ...) for any method
    add_redirect(path, location, status=302)  location may be relative ("/x")
    add_truncated(path, data, announce, framing="length"|"chunked")
        announces ``announce`` bytes (Content-Length, or one chunk's size), sends
        ``data`` only, then closes the connection.
    add_slow(path, data, chunk_size=65536, delay=0.1, first_byte_delay=0.0,
             max_seconds=10.0, framing="length")
        waits ``first_byte_delay`` before the status line, then ``delay`` between
        chunks. Gives up (closes, leaving the body short) after ``max_seconds``
        or as soon as the server stops.
    add_hangup(path)                        closes the connection without answering

Bounds: one request per connection, a 5 s socket timeout on every connection,
and stopping the server wakes every sleeping handler, shuts every open
connection and joins every thread, so teardown takes well under a second.
``requests`` logs every request; ``errors`` collects unexpected handler
exceptions (client disconnects are not errors).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

__all__ = ["Logged", "ServedFiles", "http_server"]

HOST = "127.0.0.1"
SOCKET_TIMEOUT = 5.0
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    headers: dict


@dataclass
class _Route:
    kind: str  # data | status | redirect | truncated | slow | hangup
    body: bytes = b""
    status: int = 200
    framing: str = "length"
    head: bool = True
    ranges: bool = True
    location: str = ""
    announce: int = 0
    chunk_size: int = 65536
    delay: float = 0.0
    first_byte_delay: float = 0.0
    max_seconds: float = 10.0


class ServedFiles:
    """The server; a context manager (start on enter, stop on exit)."""

    def __init__(self):
        self.routes: dict[str, _Route] = {}
        self.requests: list[Logged] = []
        self.errors: list[BaseException] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ lifecycle

    def start(self) -> ServedFiles:
        self._server = _Server((HOST, 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"httpserver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> ServedFiles:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # ---------------------------------------------------------------- routes

    def _add(self, path: str, route: _Route) -> str:
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        if route.framing not in ("length", "chunked", "close"):
            raise ValueError(f"unknown framing {route.framing!r}")
        self.routes[path] = route
        return self.url(path)

    def add(self, path, data, *, framing="length", head=True, ranges=True) -> str:
        route = _Route("data", bytes(data), framing=framing, head=head, ranges=ranges)
        return self._add(path, route)

    def add_status(self, path, status, body=b"") -> str:
        return self._add(path, _Route("status", bytes(body), status=status))

    def add_redirect(self, path, location, *, status=302) -> str:
        return self._add(path, _Route("redirect", status=status, location=location))

    def add_truncated(self, path, data, *, announce, framing="length") -> str:
        if announce <= len(data):
            raise ValueError("announce must exceed len(data) for a truncated body")
        return self._add(path, _Route("truncated", bytes(data), announce=announce, framing=framing))

    def add_slow(
        self,
        path,
        data,
        *,
        chunk_size=65536,
        delay=0.1,
        first_byte_delay=0.0,
        max_seconds=10.0,
        framing="length",
    ) -> str:
        return self._add(
            path,
            _Route(
                "slow",
                bytes(data),
                framing=framing,
                chunk_size=chunk_size,
                delay=delay,
                first_byte_delay=first_byte_delay,
                max_seconds=max_seconds,
            ),
        )

    def add_hangup(self, path) -> str:
        return self._add(path, _Route("hangup"))


class _Server(ThreadingHTTPServer):
    """Tracks its handler threads and connections so stop() can end them all."""

    daemon_threads = True
    owner: ServedFiles

    def __init__(self, *args, **kwargs):
        self._lock = threading.Lock()
        self._live: dict[threading.Thread, socket.socket] = {}
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        thread = threading.Thread(
            target=self._run, args=(request, client_address), daemon=True
        )
        with self._lock:
            self._live[thread] = request
        thread.start()

    def _run(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except _DISCONNECTS:
            pass
        except OSError as exc:
            if not self.owner._stopping.is_set():
                self.owner.errors.append(exc)
        except Exception as exc:  # a bug in this test server: keep it for the test to see
            self.owner.errors.append(exc)
        finally:
            self.shutdown_request(request)
            with self._lock:
                self._live.pop(threading.current_thread(), None)

    def close_all(self) -> None:
        with self._lock:
            live = list(self._live.items())
        for _, sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread, _ in live:
            thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "glancectl-test"
    timeout = SOCKET_TIMEOUT

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_GET(self):
        self._serve()

    def do_HEAD(self):
        self._serve()

    def do_POST(self):
        self._serve()

    def do_PUT(self):
        self._serve()

    # -----------------------------------------------------------------

    def _serve(self):
        self.close_connection = True  # one request per connection
        owner: ServedFiles = self.server.owner
        path = urlsplit(self.path).path
        owner.requests.append(Logged(self.command, path, dict(self.headers.items())))
        route = owner.routes.get(path)
        if route is None:
            return self._status(404, b"no such route\n")
        kind = route.kind
        if kind == "hangup":
            return
        if kind == "status":
            return self._status(route.status, route.body)
        if kind == "redirect":
            self.send_response(route.status)
            self.send_header("Location", route.location)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            return self.end_headers()
        if self.command not in ("GET", "HEAD"):
            return self._status(405, b"method not allowed\n")
        if self.command == "HEAD" and not route.head:
            return self._status(405, b"HEAD not allowed here\n")
        if kind == "data":
            return self._data(route)
        if kind == "truncated":
            return self._truncated(route)
        if kind == "slow":
            return self._slow(route, owner._stopping)
        raise AssertionError(f"unknown route kind {kind}")

    def _status(self, status: int, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _start(self, status: int, framing: str, length: int, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if framing == "length":
            self.send_header("Content-Length", str(length))
        elif framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()

    def _write(self, framing: str, data) -> None:
        if framing == "chunked":
            if len(data):
                self.wfile.write(b"%x\r\n" % len(data) + bytes(data) + b"\r\n")
        else:
            self.wfile.write(data)

    def _finish(self, framing: str) -> None:
        if framing == "chunked":
            self.wfile.write(b"0\r\n\r\n")

    def _data(self, route: _Route):
        body = memoryview(route.body)
        status = 200
        extra = [("Accept-Ranges", "bytes")] if route.ranges else []
        wanted = self.headers.get("Range") if route.ranges and route.framing == "length" else None
        if wanted:
            span = _parse_range(wanted, len(body))
            if span is None:
                self._start(416, "length", 0, [("Content-Range", f"bytes */{len(body)}")])
                return
            start, end = span
            status = 206
            extra.append(("Content-Range", f"bytes {start}-{end - 1}/{len(body)}"))
            body = body[start:end]
        self._start(status, route.framing, len(body), extra)
        if self.command == "HEAD":
            return
        step = 1 << 20
        for offset in range(0, len(body), step):
            self._write(route.framing, body[offset : offset + step])
        self._finish(route.framing)

    def _truncated(self, route: _Route):
        if route.framing == "chunked":
            self._start(200, "chunked", 0)
            if self.command != "HEAD":
                self.wfile.write(b"%x\r\n" % route.announce + route.body)
        else:
            self._start(200, "length", route.announce)
            if self.command != "HEAD":
                self.wfile.write(route.body)
        self._hang_up()

    def _slow(self, route: _Route, stopping: threading.Event):
        deadline = time.monotonic() + route.max_seconds
        if route.first_byte_delay:
            stopping.wait(min(route.first_byte_delay, route.max_seconds))
            if stopping.is_set() or time.monotonic() >= deadline:
                return self._hang_up()
        body = memoryview(route.body)
        self._start(200, route.framing, len(body))
        if self.command == "HEAD":
            return
        for offset in range(0, len(body), route.chunk_size):
            if offset:
                stopping.wait(route.delay)
            if stopping.is_set() or time.monotonic() >= deadline:
                return self._hang_up()
            self._write(route.framing, body[offset : offset + route.chunk_size])
        self._finish(route.framing)

    def _hang_up(self):
        self.wfile.flush()
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _parse_range(value: str, total: int) -> tuple[int, int] | None:
    """One "bytes=a-b", "bytes=a-" or "bytes=-n" range as [start, end), or None."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", value)
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(total - int(last), 0), total
    else:
        start = int(first)
        end = min(int(last) + 1, total) if last else total
    if start >= total or start >= end:
        return None
    return start, end


@pytest.fixture
def http_server():
    """A running ServedFiles; proxies are bypassed for 127.0.0.1; stopped at teardown."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("no_proxy", "NO_PROXY"):
            current = os.environ.get(name)
            mp.setenv(name, f"{current},{HOST}" if current else HOST)
        with ServedFiles() as server:
            yield server
