"""Serving the app with cheroot: binding, and stopping cleanly on Ctrl-C or SIGTERM.

cheroot hands the app a request body as it arrives (``wsgi.input`` reads the
socket, chunked or not), so an upload goes through the same streaming ingest
as the CLI's: the image is ``saving`` while bytes arrive, the declared size,
the size cap and the storage quota are enforced mid-stream, and a client
that hangs up mid-body is an interrupted upload that goes back to queued.
When the server stops, uploads in flight stop at their next read (or, if
their client has gone quiet, when cheroot shuts their sockets) and go back
to queued through the same path.
"""

from __future__ import annotations

import ipaddress
import signal
import threading
from typing import Callable

from glancectl.api.app import Backend, create_app
from glancectl.errors import InvalidValue

# A client may pause this long mid-request (a slow disk, a busy machine) before it counts as gone.
SOCKET_TIMEOUT = 60
# On stop, requests in flight get this long to finish before their sockets are shut.
SHUTDOWN_TIMEOUT = 2
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


def _gateway():
    """cheroot's WSGI gateway, with bodies an upload reads straight into its own buffers
    (``bodies``), closing the connection after a response to an unread body.

    cheroot otherwise reads what is left of a Content-Length body in one read to keep the
    connection (gigabytes into memory, for an upload refused up front), and leaves an unread
    chunked body on the socket for the next request to trip over.
    """
    from cheroot.server import ChunkedRFile, KnownLengthRFile
    from cheroot.wsgi import Gateway_10

    from glancectl.api.bodies import ChunkedBody, SizedBody

    class Gateway(Gateway_10):
        def __init__(self, req):
            body = req.rfile
            if type(body) is KnownLengthRFile:
                req.rfile = SizedBody(body.rfile, body.remaining)
            elif type(body) is ChunkedRFile:
                req.rfile = ChunkedBody(body.rfile, body.maxlen)
            super().__init__(req)

        def start_response(self, status, headers, exc_info=None):
            body = self.req.rfile
            if (getattr(body, "remaining", 0) > 0
                    or (isinstance(body, ChunkedRFile) and not body.closed)):
                self.req.close_connection = True
            return super().start_response(status, headers, exc_info)

    return Gateway


def run(backend: Backend, host: str, port: int, *, threads: int,
        on_ready: Callable[[str, int], None]) -> None:
    """Serve until Ctrl-C or SIGTERM; ``on_ready(host, port)`` once listening."""
    from cheroot import wsgi

    server = wsgi.Server((host, port), create_app(backend), numthreads=threads,
                         server_name="glancectl", timeout=SOCKET_TIMEOUT,
                         shutdown_timeout=SHUTDOWN_TIMEOUT)
    server.gateway = _gateway()
    try:
        server.prepare()
    except OSError as exc:
        raise InvalidValue(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    asked_to_stop = threading.Event()

    def stop(signum, frame):
        backend.stopping.set()  # uploads in flight stop at their next read and go back to queued
        asked_to_stop.set()

    # cheroot's loop runs on its own thread, so a signal never lands inside it half-way.
    serving = threading.Thread(target=server.serve, name="glancectl-serve", daemon=True)
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        serving.start()
        bound_host, bound_port = server.bind_addr[:2]
        on_ready(bound_host, bound_port)
        while serving.is_alive() and not asked_to_stop.wait(0.5):
            pass
    finally:
        backend.stopping.set()
        server.stop()  # waits for the threads, shutting the sockets of any that linger
        serving.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
