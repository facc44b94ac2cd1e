"""Messages say what happened and what to do next, and never suggest what is refused."""

from __future__ import annotations

import os

import pytest

from glancectl import sources
from glancectl.errors import SourceError
from tests.conftest import FORMATS
from tests.httpserver import http_server  # noqa: F401  (fixture)


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "data.raw"
    path.write_bytes(os.urandom(8192))
    return path


def test_staging_twice_says_the_data_is_staged_and_how_to_import_it(gctl, data_file):
    image = gctl.create("twice", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(data_file))
    again = gctl("image", "stage", image["id"], "--file", str(data_file))
    assert again.exit_code == 4
    assert "uploading to uploading" not in again.stderr
    assert "already has staged data" in again.stderr
    assert f"glancectl image import {image['id']} --method glance-direct" in again.stderr


def test_a_killed_image_is_never_told_to_stage(gctl, data_file):
    image = gctl.create("killed", "--disk-format", "qcow2", "--container-format", "bare")
    assert gctl("image", "upload", image["id"], "--file", str(data_file)).exit_code == 5
    assert gctl.show(image["id"])["status"] == "killed"
    for args in (["--method", "glance-direct"],
                 ["--method", "web-download", "--uri", "http://127.0.0.1:9/x.img"]):
        result = gctl("image", "import", image["id"], *args)
        assert result.exit_code == 4
        assert "image stage" not in result.stderr
        assert "new image" in result.stderr
    queued = gctl.create("queued", *FORMATS)
    result = gctl("image", "import", queued["id"], "--method", "glance-direct")
    assert f"glancectl image stage {queued['id']} --file PATH" in result.stderr


@pytest.mark.parametrize("command", [
    ["image", "upload", "{id}", "--file", ""],
    ["image", "stage", "{id}", "--file", ""],
    ["image", "download", "{id}", "--file", ""],
    ["image", "create", "new", *FORMATS, "--file", ""],
])
def test_an_empty_file_path_is_named_as_such(gctl, command):
    image = gctl.create("target", *FORMATS)
    result = gctl(*[arg.format(id=image["id"]) for arg in command])
    assert result.exit_code == 2
    assert "is a directory" not in result.stderr
    assert "the path is empty" in result.stderr
    assert len(gctl.ok("image", "list", "-q").stdout.split()) == 1, "nothing was created"


def test_a_stalled_download_counts_the_bytes_that_did_arrive(http_server):
    data = os.urandom(1024 * 1024)
    url = http_server.add_slow("/stall.img", data, chunk_size=65536, delay=30, max_seconds=30)
    with sources.open_url(url, timeout=0.5) as source:
        buffer = bytearray(4 * 1024 * 1024)  # as large as the data path reads
        with pytest.raises(SourceError) as raised:
            while source.readinto(memoryview(buffer)):
                pass
    assert f"received 65536 of {len(data)} bytes" in str(raised.value)
