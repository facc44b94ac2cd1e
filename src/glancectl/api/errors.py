"""The one place errors become HTTP responses, in Glance's error body.

Each error class carries its HTTP status (``errors.py``), as it carries its
exit code; this module only renders. Falcon's own errors (an unknown route,
a wrong method, an unsupported media type) get the same body.
"""

from __future__ import annotations

import html
import logging
from http import HTTPStatus

import falcon

from glancectl.errors import GlancectlError, describe_os_error, http_status_for

log = logging.getLogger("glancectl.api")


def glance_body(status: int, message: str) -> dict:
    """webob's JSON error document, which Glance returns to clients that accept JSON."""
    phrase = HTTPStatus(status).phrase
    return {"message": message, "code": f"{status} {phrase}", "title": phrase}


def glance_html(status: int, message: str) -> str:
    """webob's HTML error page, which Glance returns otherwise; glanceclient parses it."""
    title = f"{status} {HTTPStatus(status).phrase}"
    return (f"<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n"
            f"  <h1>{title}</h1>\n  {html.escape(message)}<br /><br />\n\n\n\n </body>\n</html>")


def _quality(accept: dict[str, float], media_type: str) -> float:
    """The q the Accept header gives ``media_type``: its own, else its type's, else */*'s."""
    kind = media_type.split("/")[0] + "/*"
    return accept.get(media_type, accept.get(kind, accept.get("*/*", 0.0)))


def _wants_json(req: falcon.Request) -> bool:
    """webob's choice: JSON only if preferred to HTML, which wins ties and an absent Accept."""
    accept: dict[str, float] = {}
    for part in (req.get_header("Accept") or "*/*").lower().split(","):
        media_type, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=")
        try:
            accept[media_type.strip()] = float(q) if q else 1.0
        except ValueError:
            accept[media_type.strip()] = 1.0
    return _quality(accept, "application/json") > _quality(accept, "text/html")


def _render(req: falcon.Request, resp: falcon.Response, status: int, message: str) -> None:
    resp.status = status
    if status == HTTPStatus.NO_CONTENT:
        resp.data = b""  # 204 has no body (Glance's "image has no data")
    elif _wants_json(req):
        resp.media = glance_body(status, message)
    else:
        resp.content_type = "text/html; charset=UTF-8"
        resp.text = glance_html(status, message)


def _glancectl_error(req, resp, exc: GlancectlError, params) -> None:
    # The message only: a hint names CLI commands, which mean nothing to an HTTP client.
    _render(req, resp, exc.http_status, exc.message)


def _os_error(req, resp, exc: OSError, params) -> None:
    _render(req, resp, http_status_for(exc), describe_os_error(exc))


def _unexpected(req, resp, exc: Exception, params) -> None:
    # Falcon's own HTTPError has a more specific handler, so only bugs land here.
    log.exception("internal error on %s %s", req.method, req.path)
    _render(req, resp, 500, f"internal error: {type(exc).__name__}: {exc}")


def _serialize_http_error(req, resp, exc: falcon.HTTPError) -> None:
    status = exc.status_code
    for name, value in (exc.headers or {}).items():
        resp.set_header(name, value)
    _render(req, resp, status, exc.description or HTTPStatus(status).phrase)


def register(app: falcon.App) -> None:
    # Falcon picks the most specific handler for each exception's class.
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(OSError, _os_error)
    app.add_error_handler(GlancectlError, _glancectl_error)
    app.set_error_serializer(_serialize_http_error)
