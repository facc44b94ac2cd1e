"""Serving the app with waitress: binding, and stopping cleanly on Ctrl-C or SIGTERM.

waitress reads a request's whole body (spooling large ones to a temp file)
before the app sees it, so a client that hangs up mid-upload never reaches
the store: the image stays queued. Uploads the app is already writing when
the server stops are cut off by ``Backend.stopping`` and go back to queued,
through the same path as an interrupted CLI upload.
"""

from __future__ import annotations

import ipaddress
import signal
from typing import Callable

from glancectl.api.app import Backend, create_app
from glancectl.errors import InvalidValue

# waitress reads sockets 8 KiB at a time by default; image uploads want bigger reads. And it
# spools a response past 1 MiB to a temp file; a download may keep 8 MiB in memory instead.
RECV_BYTES = 1024 * 1024
OUTBUF = 8 * 1024 * 1024
NO_ACCESS_CONTROL = ("glancectl serve has no access control: anyone who can reach "
                     "{host}:{port} can read, change and delete every image in {home}.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    """Anything but loopback must be asked for explicitly."""
    if not is_loopback(host) and not allow_remote:
        raise InvalidValue(
            f"refusing to listen on {host}: glancectl serve has no access control.",
            hint="Add --allow-remote if every host that can reach it may change the store.")


def run(backend: Backend, host: str, port: int, *, threads: int,
        on_ready: Callable[[str, int], None]) -> None:
    """Serve until Ctrl-C or SIGTERM; ``on_ready(host, port)`` once listening."""
    from waitress.server import create_server

    try:
        server = create_server(
            create_app(backend), host=host, port=port, threads=threads, ident="glancectl",
            # A body over the cap is refused before it is spooled; the app checks the rest.
            max_request_body_size=backend.settings.image_size_cap,
            clear_untrusted_proxy_headers=True, asyncore_use_poll=True,
            recv_bytes=RECV_BYTES, outbuf_overflow=OUTBUF, outbuf_high_watermark=OUTBUF)
    except OSError as exc:
        raise InvalidValue(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    def stop(signum, frame):
        backend.stopping.set()  # uploads in flight stop reading and go back to queued
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        on_ready(server.effective_host, server.effective_port)
        server.run()  # returns once a signal has stopped it and its threads have finished
    finally:
        backend.stopping.set()
        server.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
