"""Input is checked before anything changes: a bad value is exit 2 (or Glance's limit, 6) and
nothing is recorded, not a failure found later by a worker."""

from __future__ import annotations

import json

import pytest

from glancectl.store import Store
from tests.conftest import FORMATS


@pytest.mark.parametrize("value", ["nan", "-1", "NaN"])
def test_lock_timeout_must_be_a_number_of_seconds(gctl, home, value):
    result = gctl("--lock-timeout", value, "image", "create", "x")
    assert result.exit_code == 2, result.stderr
    assert "--lock-timeout" in result.stderr
    assert not home.exists(), "nothing was created"


def import_task(properties: dict, source) -> str:
    return json.dumps({"import_from": source.as_uri(), "import_from_format": "raw",
                       "image_properties": properties})


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src.raw"
    path.write_bytes(b"x" * 1000)
    return path


@pytest.mark.parametrize("properties,code,words", [
    ({"id": "../../x"}, 2, "'../../x' is not a valid UUID"),
    ({"min_disk": -1}, 2, "min_disk must be 0 or greater"),
    ({"min_ram": 2**31}, 2, "'min_ram' value out of range"),
    ({"name": "n" * 256}, 2, "name is 256 characters long"),
    ({"visibility": "everyone"}, 2, "Invalid visibility 'everyone'"),
    ({"container_format": "box"}, 2, "Invalid container format 'box'"),
    ({"tags": [""]}, 2, "a tag cannot be empty"),
    ({"os_glance_x": "1"}, 2, "Attribute 'os_glance_x' is reserved."),
    ({"k": "v" * 65536}, 2, "a property value is at most 65535 bytes"),
    ({f"p{i}": "v" for i in range(129)}, 6, "number of allowed image properties"),
])
def test_task_image_properties_follow_image_create_rules_when_the_task_is_created(
        gctl, home, source, properties, code, words):
    result = gctl("task", "create", "--type", "import", "--no-worker",
                  "--input", import_task(properties, source))
    assert result.exit_code == code, result.stderr
    assert words in result.stderr
    assert list(Store(home).tasks.all()) == [], "no task was recorded"


def test_a_task_cannot_claim_the_id_of_an_existing_image(gctl, home, source):
    taken = gctl.create("taken", *FORMATS)
    result = gctl("task", "create", "--type", "import", "--no-worker",
                  "--input", import_task({"id": taken["id"]}, source))
    assert result.exit_code == 2 and "already exists" in result.stderr
    # An image created after the task, with its ID, fails the task before it starts.
    wanted = "8d7ad9b1-4f3c-4a51-9b88-3c1e0ed4a001"
    task = gctl.ok("task", "create", "--type", "import", "--no-worker", "-f", "json",
                   "--input", import_task({"id": wanted}, source)).json()
    gctl.ok("image", "create", "first", "--id", wanted)
    ran = gctl("task", "run", "--task", task["id"], "-f", "json")
    assert ran.exit_code == 2 and ran.json()[0]["status"] == "failure"
    assert "already exists" in ran.json()[0]["message"]


def test_a_valid_task_image_properties_still_imports(gctl, source):
    wanted = "8d7ad9b1-4f3c-4a51-9b88-3c1e0ed4a002"
    task = gctl.ok("task", "create", "--type", "import", "--no-worker", "-f", "json",
                   "--input", import_task({"id": wanted, "k": "v" * 65535, "min_disk": 1},
                                          source)).json()
    assert gctl.ok("task", "run", "--task", task["id"], "-f", "json").json()[0]["status"] == "success"
    image = gctl.show(wanted)
    assert image["status"] == "active" and len(image["k"]) == 65535 and image["min_disk"] == 1


def test_property_values_follow_glances_length_limit(gctl):
    image = gctl.create("props")
    too_long = "k=" + "é" * 32768  # 65536 bytes in UTF-8
    for args in (["image", "create", "p", "--property", too_long],
                 ["image", "set", image["id"], "--property", too_long]):
        result = gctl(*args)
        assert result.exit_code == 2, result.stderr
        assert "is 65536 bytes long; a property value is at most 65535 bytes" in result.stderr
    assert [i["name"] for i in gctl.ok("image", "list", "-f", "json").json()] == ["props"]
    assert "k" not in gctl.show(image["id"])
    gctl.ok("image", "set", image["id"], "--property", "k=" + "v" * 65535)


@pytest.mark.parametrize("line", ["scrub_time = 1.5", "scrub_time = 2.0",
                                  "task_time_to_live = 0.5", 'scrub_time = "1.5"'])
def test_a_fractional_count_in_the_config_is_refused_never_truncated(gctl, home, line):
    home.mkdir()
    (home / "glancectl.toml").write_text(line + "\n")
    result = gctl("scrub")
    assert result.exit_code == 2, result.stderr
    assert "expected a whole number" in result.stderr
    env = gctl("scrub", env={"GLANCECTL_SCRUB_TIME": "1.5"})
    assert env.exit_code == 2
