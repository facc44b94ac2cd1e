"""Commands people look for: usage, import info, image location update."""

from __future__ import annotations

import json

import pytest

from glancectl import records
from glancectl.operations import usage as usage_ops
from glancectl.operations.importing import import_info
from tests.conftest import FORMATS


def write(path, size: int):
    path.write_bytes(b"\x03" * size)
    return str(path)


def test_usage_counts_bytes_and_images_against_the_quotas(gctl, tmp_path):
    env = {"GLANCECTL_USER_STORAGE_QUOTA": "10MB"}
    gctl.ok("image", "create", "a", *FORMATS, "--file", write(tmp_path / "a", 3 * 1024**2), env=env)
    gctl.ok("image", "create", "b", *FORMATS, "--file", write(tmp_path / "b", 1024**2), env=env)
    gctl.ok("image", "create", "queued")
    gone = gctl.ok("image", "create", "gone", *FORMATS, "--file", write(tmp_path / "g", 2048), "-q").stdout
    gctl.ok("image", "delete", gone.strip())
    (row,) = gctl.ok("usage", "-f", "json", env=env).json()
    assert row["image_count"] == 3 and row["stored_bytes"] == 4 * 1024**2
    assert row["user_storage_quota"] == 10 * 1024**2 and row["quota_used"] == "40.0%"
    assert row["largest_image"] == 3 * 1024**2 and row["image_size_cap"] == 1024**4
    shown = gctl.ok("usage", "--human-readable", env=env).stdout
    assert "4 MiB" in shown and "10 MiB" in shown and "1 TiB" in shown and "40.0%" in shown
    assert "no quota" in gctl.ok("usage").stdout


def test_usage_agrees_with_the_quota_check(gctl, tmp_path):
    """The figure shown is the one an upload is refused on."""
    env = {"GLANCECTL_USER_STORAGE_QUOTA": "3000"}
    gctl.ok("image", "create", "a", *FORMATS, "--file", write(tmp_path / "a", 2000), env=env)
    (row,) = gctl.ok("usage", "-f", "json", env=env).json()
    left = row["user_storage_quota"] - row["stored_bytes"]
    refused = gctl("image", "create", "b", *FORMATS, "--file", write(tmp_path / "b", left + 1), env=env)
    assert refused.exit_code == 6
    gctl.ok("image", "create", "c", *FORMATS, "--file", write(tmp_path / "c", left), env=env)


def test_usage_on_an_empty_store_shows_you_and_creates_nothing(gctl, home):
    rows = gctl.ok("usage", "-f", "json").json()
    assert len(rows) == 1 and rows[0]["image_count"] == 0 and rows[0]["stored_bytes"] == 0
    assert not home.exists()
    assert gctl.ok("usage", "--owner", "nobody-here", "-f", "value", "-c", "image_count").stdout == "0\n"


def test_glance_usage_document(gctl, tmp_path):
    env = {"GLANCECTL_USER_STORAGE_QUOTA": "10MB"}
    made = gctl.create("s", *FORMATS)
    gctl.ok("image", "stage", made["id"], "--file", write(tmp_path / "s", 2 * 1024**2))
    from glancectl.cli.context import Env

    e = Env(home_option=str(gctl.home), environ=env)
    assert usage_ops.glance_usage(e.store, e.settings, records.current_owner()) == {"usage": {
        "image_size_total": {"limit": 10, "usage": 0},
        "image_stage_total": {"limit": -1, "usage": 2},
        "image_count_total": {"limit": -1, "usage": 1},
        "image_count_uploading": {"limit": -1, "usage": 1},
    }}


def test_import_info(gctl):
    assert gctl.ok("import", "info", "-f", "json").json() == {
        "import-methods": ["glance-direct", "web-download"]}
    assert "glance-direct, web-download" in gctl.ok("import", "info").stdout
    assert import_info()["import-methods"]["value"] == ["glance-direct", "web-download"]


@pytest.fixture
def located(gctl, tmp_path):
    path = tmp_path / "loc.raw"
    path.write_bytes(b"located")
    url = path.as_uri()
    made = gctl.ok("image", "create", "l", *FORMATS, "--location", url, "-f", "json").json()
    return made, url


def test_location_update_replaces_metadata_and_keeps_url_and_store(gctl, located):
    made, url = located
    shown = gctl.ok("image", "location", "update", "l", url, "--metadata", '{"note": "mirror"}',
                    "-f", "json").json()
    assert shown["locations"] == [{"url": url, "metadata": {"note": "mirror", "store": "file"}}]
    assert gctl.show(made["id"])["locations"] == shown["locations"]
    listed = gctl.ok("image", "location", "list", "l", "-f", "json").json()
    assert listed == [{"url": url, "metadata": {"note": "mirror", "store": "file"}}]


@pytest.mark.parametrize("args, code, message", [
    (["--metadata", '{"store": "http"}'], 2, "cannot name store 'http'"),
    (["--metadata", "[1, 2]"], 2, "must be a JSON object"),
    (["--metadata", "{nope"], 2, "not valid JSON"),
    ([], 2, "Missing option '--metadata'"),
])
def test_location_update_refusals_change_nothing(gctl, located, args, code, message):
    made, url = located
    result = gctl("image", "location", "update", "l", url, *args)
    assert result.exit_code == code and message in result.stderr
    assert gctl.show(made["id"]) == made


def test_location_update_of_a_missing_location_or_a_deactivated_image(gctl, located, tmp_path):
    made, url = located
    missing = gctl("image", "location", "update", "l", (tmp_path / "other").as_uri(), "--metadata", "{}")
    assert missing.exit_code == 3 and "is not on image" in missing.stderr
    gctl.ok("image", "deactivate", "l")
    held = gctl("image", "location", "update", "l", url, "--metadata", '{"a": 1}')
    assert held.exit_code == 4 and "not allowed to update locations" in held.stderr
    assert gctl.show(made["id"])["locations"] == made["locations"]
