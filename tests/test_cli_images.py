"""Image metadata commands through the CLI: what a user sees, and the record afterwards."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import FORMATS


def test_create_defaults_match_glance(gctl):
    image = gctl.create("cirros")
    assert image["status"] == "queued"
    assert image["visibility"] == "shared"
    assert image["protected"] is False and image["os_hidden"] is False
    assert image["min_disk"] == 0 and image["min_ram"] == 0
    assert image["size"] is None and image["checksum"] is None
    assert image["tags"] == [] and image["locations"] == []
    assert image["created_at"].endswith("Z") and image["created_at"] == image["updated_at"]
    uuid.UUID(image["id"])
    assert gctl.show(image["id"]) == image


def test_create_with_everything_and_custom_properties_at_top_level(gctl):
    image_id = str(uuid.uuid4())
    image = gctl.create("full", *FORMATS, "--visibility", "public", "--protected", "--hidden",
                        "--min-disk", "3", "--min-ram", "512", "--property", "os_distro=cirros",
                        "--property", "hw_rng=1", "--tag", "a", "--tag", "b", "--tag", "a",
                        "--id", image_id)
    assert image["id"] == image_id
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")
    assert image["visibility"] == "public" and image["protected"] is True and image["os_hidden"]
    assert (image["min_disk"], image["min_ram"]) == (3, 512)
    assert image["os_distro"] == "cirros" and image["hw_rng"] == "1"
    assert image["tags"] == ["a", "b"]
    assert "properties" not in image


def test_quiet_create_prints_only_the_id(gctl):
    result = gctl.ok("image", "create", "q", "-q")
    image_id = result.stdout.strip()
    assert gctl.show(image_id)["name"] == "q"
    assert result.stderr == ""


def test_show_by_name_and_value_format(gctl):
    image = gctl.create("named")
    result = gctl.ok("image", "show", "named", "-f", "value", "-c", "status", "-c", "id")
    assert result.stdout.splitlines() == ["queued", image["id"]]


def test_show_table_and_csv(gctl):
    gctl.create("t1", "--property", "k=v")
    table = gctl.ok("image", "show", "t1").stdout
    assert "| name " in table and "| t1 " in table and "| k " in table
    csv_out = gctl.ok("image", "show", "t1", "-f", "csv", "-c", "name", "-c", "status").stdout
    assert csv_out.splitlines() == ["name,status", "t1,queued"]


def test_unknown_column_prints_empty_with_a_warning_after_the_work_is_done(gctl):
    result = gctl("image", "create", "c", "-f", "value", "-c", "sizee", "-c", "name")
    assert result.exit_code == 0, "the image was created; a typo in -c must not say otherwise"
    assert result.stdout.splitlines() == ["", "c"]
    assert "no field named 'sizee'" in result.stderr
    assert gctl.ok("image", "list", "-q").stdout.count("\n") == 1


def test_columns_come_from_every_row_and_an_empty_list_still_works(gctl):
    assert gctl.ok("image", "list", "-f", "csv", "-c", "id", "-c", "name", "-c", "size").stdout == (
        "ID,Name,Size\n")
    gctl.create("old", "--property", "os_distro=cirros")
    gctl.create("new")
    result = gctl.ok("image", "list", "--sort", "name:asc", "-f", "value", "-c", "name", "-c", "os_distro")
    assert result.stdout.splitlines() == ["new ", "old cirros"]
    assert result.stderr == ""


def test_escape_codes_in_property_keys_print_as_plain_text(gctl):
    image = gctl.create("k", "--property", "k\x1b[31mRED=v")
    for fmt in ("table", "csv"):
        shown = gctl.ok("image", "show", image["id"], "-f", fmt).stdout
        assert "\x1b" not in shown and "k\\x1b[31mRED" in shown


def test_missing_image_is_exit_3(gctl):
    result = gctl("image", "show", "ghost")
    assert result.exit_code == 3
    assert result.stderr.strip() == "Error: No image with a name or ID of 'ghost' exists."
    missing = str(uuid.uuid4())
    assert gctl("image", "show", missing).exit_code == 3
    assert not gctl.home.exists(), "a read must not create the home"


def test_ambiguous_name_lists_the_matches(gctl):
    a, b = gctl.create("twin"), gctl.create("twin")
    result = gctl("image", "show", "twin")
    assert result.exit_code == 2
    assert a["id"] in result.stderr and b["id"] in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_markup_and_escape_codes_print_as_plain_text(gctl):
    gctl.create("[bold]x[/bold]\x1b[31mred")
    table = gctl.ok("image", "list").stdout
    assert "[bold]x[/bold]\\x1b[31mred" in table
    assert "\x1b" not in table
    raw = gctl.ok("image", "list", "-f", "json").stdout
    assert "\x1b" not in raw and json.loads(raw)[0]["name"] == "[bold]x[/bold]\x1b[31mred"


def test_json_escapes_c1_controls_that_json_leaves_raw(gctl):
    gctl.create("csi\x9b2Jdel\x7f")
    raw = gctl.ok("image", "list", "-f", "json").stdout
    assert "\x9b" not in raw and "\x7f" not in raw
    assert "\\u009b" in raw
    assert json.loads(raw)[0]["name"] == "csi\x9b2Jdel\x7f"


@pytest.mark.parametrize("args,message", [
    (["--disk-format", "floppy"], "Invalid value for '--disk-format'"),
    (["--container-format", "zip"], "Invalid value for '--container-format'"),
    (["--visibility", "secret"], "Invalid value for '--visibility'"),
    (["--min-disk", "-1"], "min_disk must be 0 or greater"),
    (["--min-ram", "-5"], "min_ram must be 0 or greater"),
    (["--tag", "t" * 256], "tag is 256 characters long"),
    (["--property", "size=5"], "Attribute 'size' is read-only."),
    (["--property", "status=active"], "Attribute 'status' is read-only."),
    (["--property", "checksum=x"], "Attribute 'checksum' is read-only."),
    (["--property", "os_glance_foo=1"], "Attribute 'os_glance_foo' is reserved."),
    (["--property", "deleted=1"], "Attribute 'deleted' is reserved."),
    (["--property", "novalue"], "--property expects KEY=VALUE"),
    (["--property", "=v"], "--property expects KEY=VALUE"),
    (["--id", "not-a-uuid"], "'not-a-uuid' is not a valid UUID"),
])
def test_bad_create_input_is_refused_and_writes_nothing(gctl, args, message):
    result = gctl("image", "create", "bad", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert result.stdout == ""
    assert gctl.ok("image", "list", "-q").stdout == ""


def test_name_over_255_is_refused(gctl):
    result = gctl("image", "create", "n" * 256)
    assert result.exit_code == 2 and "name is 256 characters long" in result.stderr
    gctl.ok("image", "create", "n" * 255)


def test_quota_limits_are_exit_6(gctl):
    tags = [arg for i in range(129) for arg in ("--tag", f"t{i}")]
    result = gctl("image", "create", "many", *tags)
    assert result.exit_code == 6
    assert ("The limit has been exceeded on the number of allowed image tags. "
            "Attempted: 129, Maximum: 128") in result.stderr
    props = [arg for i in range(3) for arg in ("--property", f"k{i}=v")]
    result = gctl("image", "create", "p", *props, env={"GLANCECTL_IMAGE_PROPERTY_QUOTA": "2"})
    assert result.exit_code == 6 and "Attempted: 3, Maximum: 2" in result.stderr
    assert gctl.ok("image", "list", "-q").stdout == ""


def test_duplicate_id_is_refused(gctl):
    image = gctl.create("one")
    result = gctl("image", "create", "two", "--id", image["id"])
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_set_changes_fields_and_updated_at(gctl):
    image = gctl.create("s", *FORMATS)
    result = gctl.ok("image", "set", image["id"], "--name", "renamed", "--visibility", "private",
                     "--protected", "--min-ram", "64", "--property", "a=1", "--tag", "x",
                     "--disk-format", "qcow2", "-f", "json")
    after = gctl.show(image["id"])
    assert after == result.json()
    assert (after["name"], after["visibility"], after["protected"], after["min_ram"]) == (
        "renamed", "private", True, 64)
    assert after["a"] == "1" and after["tags"] == ["x"] and after["disk_format"] == "qcow2"


def test_set_formats_refused_once_active(gctl):
    image = gctl.create("f", *FORMATS, "--size", "0")
    assert image["status"] == "active"
    result = gctl("image", "set", image["id"], "--disk-format", "qcow2")
    assert result.exit_code == 4 and "only be changed while the image is queued or importing" in result.stderr
    assert gctl.show(image["id"])["disk_format"] == "raw"


def test_set_with_nothing_is_usage_error(gctl):
    image = gctl.create("n")
    assert gctl("image", "set", image["id"]).exit_code == 2


def test_unset_removes_properties_and_tags(gctl):
    image = gctl.create("u", "--property", "a=1", "--property", "b=2", "--tag", "x", "--tag", "y")
    gctl.ok("image", "unset", image["id"], "--property", "a", "--tag", "x")
    after = gctl.show(image["id"])
    assert "a" not in after and after["b"] == "2" and after["tags"] == ["y"]
    result = gctl("image", "unset", image["id"], "--property", "zzz")
    assert result.exit_code == 3 and "Property zzz does not exist" in result.stderr


def test_delete_keeps_record_as_deleted_and_hides_it(gctl):
    image = gctl.create("d")
    gctl.ok("image", "delete", image["id"])
    assert gctl.show(image["id"])["status"] == "deleted"
    assert gctl.ok("image", "list", "-q").stdout == ""
    assert image["id"] in gctl.ok("image", "list", "--deleted", "-q").stdout
    assert image["id"] in gctl.ok("image", "list", "--status", "deleted", "-q").stdout
    again = gctl("image", "delete", image["id"])
    assert again.exit_code == 4 and "is deleted" in again.stderr


def test_delete_many_reports_failures_and_keeps_going(gctl):
    keep = gctl.create("keep", "--protected")
    gone = gctl.create("gone")
    result = gctl("image", "delete", keep["id"], "ghost", gone["id"])
    assert result.exit_code == 4
    assert "is protected and cannot be deleted" in result.stderr
    assert "'ghost'" in result.stderr
    assert "2 of 3 images failed to delete." in result.stderr
    assert gctl.show(gone["id"])["status"] == "deleted"
    assert gctl.show(keep["id"])["status"] == "queued"
