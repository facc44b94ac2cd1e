"""Reading requests: JSON bodies, data bodies, and Glance's list query parameters.

Parsing only, like the CLI's options: every rule it leads to is in operations.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import urlencode

import falcon

from glancectl import records
from glancectl.errors import InvalidValue, SourceError, StoreUnavailable
from glancectl.listing import ImageFilter, TimeFilter
from glancectl.sources import DataSource

JSON = "application/json"
OCTET_STREAM = "application/octet-stream"
JSON_PATCH = ("application/openstack-images-v2.1-json-patch",
              "application/openstack-images-v2.0-json-patch")
# Glance's paging: 25 unless asked, never more than 1000 at once.
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
# Image metadata, a patch or a task is a few KiB: a JSON body is held in memory whole, so it is
# capped, at oslo.middleware's max_request_body_size (which OpenStack APIs sit behind).
MAX_JSON_BODY = 114688


def _media_type(req: falcon.Request) -> str:
    return (req.content_type or "").split(";")[0].strip().lower()


def check_content_type(req: falcon.Request, allowed: tuple[str, ...], **headers) -> None:
    if _media_type(req) not in allowed:
        raise falcon.HTTPUnsupportedMediaType(
            description=f"Invalid content type {req.content_type}", headers=headers or None)


def json_body(req: falcon.Request, allowed: tuple[str, ...] = (JSON,), **headers):
    """The request's JSON body, refused with 413 as soon as it runs past ``MAX_JSON_BODY``."""
    check_content_type(req, allowed, **headers)
    if req.content_length is not None and req.content_length > MAX_JSON_BODY:
        raise _json_too_large()
    # A chunked body has no Content-Length: read at most one byte past the limit, never
    # all of it (a 413 closes the connection on the rest).
    try:
        raw = _read_at_most(req.stream if req.content_length is None else req.bounded_stream,
                            MAX_JSON_BODY + 1)
    except (ValueError, OSError) as exc:  # a broken chunk, a reset, a client gone quiet
        raise SourceError(f"the request body was cut off: {exc}") from None
    if len(raw) > MAX_JSON_BODY:
        raise _json_too_large()
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidValue(f"Malformed JSON in request body: {exc}") from None


def _read_at_most(stream, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body. Into a buffer of that size where the stream can
    (cheroot's ``read`` of a chunked body takes a whole chunk, however large it says it is)."""
    readinto = getattr(stream, "readinto", None)
    if readinto is None:
        return stream.read(limit)
    buf = bytearray(limit)
    view, got = memoryview(buf), 0
    while got < limit and (n := readinto(view[got:])):
        got += n
    del view
    del buf[got:]
    return bytes(buf)


def _json_too_large() -> falcon.HTTPError:
    # The plain HTTPError: Falcon 4 renamed its 413 class and warns on the old name.
    return falcon.HTTPError(
        falcon.HTTP_413,
        description=f"Request is too large: a JSON request body is at most {MAX_JSON_BODY} bytes.")


def json_object(req: falcon.Request) -> dict:
    body = json_body(req)
    if not isinstance(body, dict):
        raise InvalidValue("The request body must be a JSON object.")
    return body


class RequestBody(DataSource):
    """An upload's body as a data source, read from the socket as it arrives.

    ``size`` is the Content-Length, if any (a chunked body has none). A client that
    hangs up before sending it all makes a short read, which the ingest treats as an
    interrupted upload; so does a broken chunk or a socket error, as a SourceError.
    """

    def __init__(self, req: falcon.Request, stopping: threading.Event):
        check_content_type(req, (OCTET_STREAM,))
        self._stream = req.stream
        # glancectl's server reads a body straight into the ingest's buffer (api.bodies);
        # another WSGI server's stream may only hand out bytes to copy in.
        self._stream_readinto = getattr(req.stream, "readinto", None)
        self._stopping = stopping
        # With chunked framing a Content-Length frames nothing (RFC 9112 6.3): the body runs
        # to its last chunk, and the ingest refuses it if it runs past the announced size.
        self._framed_by_length = "chunked" not in (req.get_header("Transfer-Encoding") or "").lower()
        super().__init__("the request body", req.content_length)

    def _readinto(self, buf) -> int:
        if self._stopping.is_set():
            raise StoreUnavailable("The server is shutting down; the data was not kept.")
        if self._framed_by_length and self.size is not None and len(buf) > self.size - self.bytes_read:
            buf = buf[:self.size - self.bytes_read]  # WSGI: never read past the Content-Length
            if not buf:
                return 0
        try:
            if self._stream_readinto is not None:
                return self._stream_readinto(buf) or 0
            data = self._stream.read(len(buf))
        except (ValueError, OSError) as exc:  # a broken chunk, a reset, a client gone quiet
            raise SourceError(f"{self.description} was cut off: {exc}") from None
        buf[:len(data)] = data
        return len(data)

    def _ended_early(self) -> str:
        return (f"{self.description} ended after {self.bytes_read} of {self.size} bytes "
                "(the client hung up)")


# -- lists ---------------------------------------------------------------------
def _int_param(req: falcon.Request, name: str) -> int | None:
    value = req.get_param(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidValue(f"{name} param must be an integer") from None
    if number < 0:
        raise InvalidValue(f"{name} param must be positive")
    return number


def limit(req: falcon.Request) -> int:
    wanted = _int_param(req, "limit")
    return DEFAULT_LIMIT if wanted is None else min(wanted, MAX_LIMIT)


def sort(req: falcon.Request) -> str | None:
    """``sort=k:dir,...``, or Glance's older repeated ``sort_key``/``sort_dir``."""
    if req.get_param("sort"):
        return req.get_param("sort")
    keys = req.get_param_as_list("sort_key") or []
    dirs = req.get_param_as_list("sort_dir") or []
    if not keys:
        if dirs:
            return "created_at:" + dirs[0]
        return None
    return ",".join(f"{k}:{dirs[i] if i < len(dirs) else dirs[-1] if dirs else 'desc'}"
                    for i, k in enumerate(keys))


def _bool_param(req: falcon.Request, name: str) -> bool | None:
    value = req.get_param(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise InvalidValue(f"Invalid value for {name} filter: '{value}'. Use true or false")
    return value.lower() == "true"


# Query keys that are not property filters.
_NOT_PROPERTIES = frozenset({
    "name", "id", "status", "visibility", "owner", "checksum", "os_hash_value", "disk_format",
    "container_format", "size_min", "size_max", "created_at", "updated_at", "protected",
    "os_hidden", "tag", "member_status", "limit", "marker", "sort", "sort_key", "sort_dir",
})


def image_filter(req: falcon.Request) -> ImageFilter:
    """Glance's image list filters; any other key filters on a custom property."""
    visibility = req.get_param("visibility")
    if visibility is not None and visibility != "all":
        records.validate_visibility(visibility)
    times = {key: TimeFilter.parse(req.get_param(key), key)
             for key in ("created_at", "updated_at") if req.get_param(key)}
    return ImageFilter.build(
        exact={key: req.get_param(key) for key in (
            "name", "id", "status", "disk_format", "container_format", "checksum",
            "os_hash_value")},
        visibility=None if visibility == "all" else visibility,
        owner=req.get_param("owner"),
        tags=tuple(req.get_param_as_list("tag") or ()),
        properties={key: str(value) for key, value in req.params.items()
                    if key not in _NOT_PROPERTIES},
        size_min=_int_param(req, "size_min"), size_max=_int_param(req, "size_max"),
        protected=_bool_param(req, "protected"), os_hidden=_bool_param(req, "os_hidden"),
        **times,
    )


def paged(req: falcon.Request, collection: str, key: str, views: list[dict],
          page_limit: int) -> dict:
    """A list body with Glance's ``first``, ``schema`` and, for a full page, ``next`` links."""
    query = [(k, v) for k, v in req.params.items() if k != "marker"]
    flat = [(k, item) for k, v in query for item in (v if isinstance(v, list) else [v])]
    path = f"/v2/{collection}"
    body = {key: views, "first": path + (f"?{urlencode(flat)}" if flat else ""),
            "schema": f"/v2/schemas/{collection}"}
    if views and len(views) == page_limit:
        body["next"] = f"{path}?{urlencode([*flat, ('marker', views[-1]['id'])])}"
    return body
