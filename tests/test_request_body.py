"""An upload's request body over the streams a WSGI server may hand the app.

glancectl's own server gives every body a ``readinto`` (api/bodies.py; driven over HTTP
in test_serve_sdk.py and test_serve_rules.py). Another server's stream may have only
``read``, or a ``readinto`` that does not stop at the Content-Length; an upload through
either holds exactly the body.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading

import falcon.testing
import pytest
from cheroot.server import KnownLengthRFile

from glancectl.api.parsing import OCTET_STREAM, RequestBody
from glancectl.config import load_settings
from glancectl.operations import data as data_ops
from glancectl.store import Store
from tests.conftest import FORMATS

DATA = os.urandom(9 * 1024 * 1024 + 5)  # three ingest chunks, the last not whole pages
NEXT_REQUEST = b"GET /v2/images HTTP/1.1\r\nHost: x\r\n\r\n"

STREAMS = {
    # cheroot's own body, without the server's readinto: bytes to copy in.
    "read only": lambda: KnownLengthRFile(io.BufferedReader(io.BytesIO(DATA + NEXT_REQUEST)),
                                          len(DATA)),
    # A readinto that would run on into whatever follows the body.
    "readinto unbounded": lambda: io.BytesIO(DATA + NEXT_REQUEST),
}


@pytest.mark.parametrize("stream", STREAMS.values(), ids=STREAMS.keys())
def test_an_upload_holds_exactly_the_body_whatever_the_stream(gctl, home, stream):
    image = gctl.create("body", *FORMATS)
    req = falcon.testing.create_req(method="PUT", headers={
        "Content-Type": OCTET_STREAM, "Content-Length": str(len(DATA))})
    req.stream = stream()
    with RequestBody(req, threading.Event()) as body:
        data_ops.upload(Store(home), load_settings(home, {}), image["id"], body)
    shown = gctl.show(image["id"])
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert shown["checksum"] == hashlib.md5(DATA).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(DATA).hexdigest()
    assert (home / "data" / image["id"]).read_bytes() == DATA
