"""Where glancectl was held against a live Glance 33 and differed (issue 12): each case as a
user sees it, and the record afterwards."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FORMATS
from tests.httpserver import http_server  # noqa: F401  (fixture)

MAX_INT = 2147483647


def import_input(url: str, **properties) -> str:
    return json.dumps({"import_from": url, "import_from_format": "raw",
                       "image_properties": {"name": "imported", **properties}})


# -- 3. min_disk and min_ram are at most 2147483647 ----------------------------------------
@pytest.mark.parametrize("field", ["min_disk", "min_ram"])
def test_min_disk_and_min_ram_above_the_int_column_are_refused_on_create(gctl, field):
    option = "--" + field.replace("_", "-")
    result = gctl("image", "create", "big", option, str(MAX_INT + 1))
    assert result.exit_code == 2, result.stderr
    assert f"'{field}' value out of range, must not exceed 2147483647." in result.stderr
    assert result.stdout == ""
    assert gctl.ok("image", "list", "-q").stdout == ""
    assert gctl.create("edge", option, str(MAX_INT))[field] == MAX_INT


@pytest.mark.parametrize("field", ["min_disk", "min_ram"])
def test_min_disk_and_min_ram_above_the_int_column_are_refused_on_set(gctl, field):
    image = gctl.create("img", "--" + field.replace("_", "-"), "7")
    result = gctl("image", "set", image["id"], "--" + field.replace("_", "-"), str(2**31))
    assert result.exit_code == 2, result.stderr
    assert f"'{field}' value out of range, must not exceed 2147483647." in result.stderr
    assert gctl.show(image["id"]) == image


@pytest.mark.parametrize("field", ["min_disk", "min_ram"])
def test_min_disk_and_min_ram_above_the_int_column_are_refused_in_task_image_properties(
        gctl, tmp_path, field):
    source = tmp_path / "disk.raw"
    source.write_bytes(b"x" * 512)
    result = gctl("task", "create", "--type", "import", "--no-worker",
                  "--input", import_input(source.as_uri(), **{field: MAX_INT + 1}))
    assert result.exit_code == 2, result.stderr
    assert f"'{field}' value out of range, must not exceed 2147483647." in result.stderr
    assert gctl.ok("task", "list", "-f", "json").json() == []


# -- 4. a create that needs formats says nothing was created ----------------------------------
@pytest.mark.parametrize("data", [["--size", "0"], ["--location", "http://127.0.0.1:9/disk.img"]])
def test_create_with_data_but_no_formats_says_nothing_was_created(gctl, home, data):
    result = gctl("image", "create", "nofmt", "--disk-format", "raw", *data)
    assert result.exit_code == 4, result.stderr
    assert "Properties disk_format, container_format must be set prior to saving data." in (
        result.stderr)
    assert "Nothing was created." in result.stderr
    assert "--container-format FORMAT" in result.stderr
    assert "is queued" not in result.stderr and "image set" not in result.stderr
    assert gctl.ok("image", "list", "--deleted", "-q").stdout == ""


# -- 5. location metadata names the store, as Glance's does ------------------------------------
def test_the_stores_own_data_is_a_file_store_location(gctl, tmp_path):
    source = tmp_path / "disk.raw"
    source.write_bytes(b"x" * 1024)
    image = gctl.create("img", *FORMATS, "--file", str(source))
    assert [loc["metadata"] for loc in image["locations"]] == [{"store": "file"}]
    listed = gctl.ok("image", "location", "list", image["id"], "-f", "json").json()
    assert [loc["metadata"] for loc in listed] == [{"store": "file"}]


def test_an_http_location_added_with_empty_metadata_names_the_http_store(gctl, http_server):
    url = http_server.add("/disk.img", b"y" * 2048)
    image = gctl.create("web", *FORMATS)
    after = gctl.ok("image", "location", "add", image["id"], url, "-f", "json").json()
    assert after["locations"] == [{"url": url, "metadata": {"store": "http"}}]
    created = gctl.create("web2", *FORMATS, "--location", url, "--location-metadata", '{"k": "v"}')
    assert created["locations"] == [{"url": url, "metadata": {"k": "v", "store": "http"}}]
