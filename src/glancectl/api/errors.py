"""The one place errors become HTTP responses, in Glance's error body.

Each error class carries its HTTP status (``errors.py``), as it carries its
exit code; this module only renders. Falcon's own errors (an unknown route,
a wrong method, an unsupported media type) get the same body.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import falcon

from glancectl.errors import GlancectlError, describe_os_error, http_status_for

log = logging.getLogger("glancectl.api")


def glance_body(status: int, message: str) -> dict:
    """webob's JSON error document, which Glance returns and its clients parse."""
    phrase = HTTPStatus(status).phrase
    return {"message": message, "code": f"{status} {phrase}", "title": phrase}


def _render(resp: falcon.Response, status: int, message: str) -> None:
    resp.status = status
    if status == HTTPStatus.NO_CONTENT:
        resp.data = b""  # 204 has no body (Glance's "image has no data")
        return
    resp.media = glance_body(status, message)


def _glancectl_error(req, resp, exc: GlancectlError, params) -> None:
    # The message only: a hint names CLI commands, which mean nothing to an HTTP client.
    _render(resp, exc.http_status, exc.message)


def _os_error(req, resp, exc: OSError, params) -> None:
    _render(resp, http_status_for(exc), describe_os_error(exc))


def _unexpected(req, resp, exc: Exception, params) -> None:
    # Falcon's own HTTPError has a more specific handler, so only bugs land here.
    log.exception("internal error on %s %s", req.method, req.path)
    _render(resp, 500, f"internal error: {type(exc).__name__}: {exc}")


def _serialize_http_error(req, resp, exc: falcon.HTTPError) -> None:
    status = exc.status_code
    for name, value in (exc.headers or {}).items():
        resp.set_header(name, value)
    _render(resp, status, exc.description or HTTPStatus(status).phrase)


def register(app: falcon.App) -> None:
    # Falcon picks the most specific handler for each exception's class.
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(OSError, _os_error)
    app.add_error_handler(GlancectlError, _glancectl_error)
    app.set_error_serializer(_serialize_http_error)
