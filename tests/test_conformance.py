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


# -- 1. only scrub takes pending_delete on ------------------------------------------------------
def delayed(home, scrub_time: int = 3600) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "glancectl.toml").write_text(f"delayed_delete = true\nscrub_time = {scrub_time}\n")


def stored(home, image_id: str) -> dict:
    from glancectl.store import Store

    return Store(home).images.get(image_id)


def test_deleting_a_pending_delete_image_is_refused_and_says_when_scrub_takes_it(gctl, home,
                                                                                  tmp_path):
    delayed(home, scrub_time=3600)
    source = tmp_path / "disk.raw"
    source.write_bytes(b"d" * 4096)
    image = gctl.create("later", *FORMATS, "--file", str(source))
    gctl.ok("image", "delete", image["id"])
    deleted_at = stored(home, image["id"])["deleted_at"]
    from glancectl.records import isotime, parse_time
    from datetime import timedelta

    due = isotime(parse_time(deleted_at) + timedelta(seconds=3600))
    again = gctl("image", "delete", image["id"])
    assert again.exit_code == 4, again.stderr
    assert "pending_delete" in again.stderr and "waits for 'glancectl scrub'" in again.stderr
    assert f"at or after {due}" in again.stderr
    assert stored(home, image["id"])["status"] == "pending_delete"
    assert (home / "data" / image["id"]).read_bytes() == source.read_bytes()
    gctl.ok("scrub", env={"GLANCECTL_SCRUB_TIME": "0"})
    assert gctl.show(image["id"])["status"] == "deleted"
    assert not (home / "data" / image["id"]).exists()


def test_the_delete_target_never_takes_pending_delete_to_deleted():
    from glancectl import lifecycle
    from glancectl.errors import ImageDeleted

    for delayed_delete in (False, True):
        with pytest.raises(ImageDeleted, match="waits for 'glancectl scrub'"):
            lifecycle.delete_target({"id": "x", "status": "pending_delete", "locations": []},
                                    delayed_delete=delayed_delete)


# -- 2. delayed delete: Glance's rule ----------------------------------------------------------
def test_delayed_delete_keeps_a_zero_byte_upload_for_scrub(gctl, home, tmp_path):
    delayed(home)
    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    image = gctl.create("empty", *FORMATS, "--file", str(empty))
    assert image["status"] == "active" and image["size"] == 0
    gctl.ok("image", "delete", image["id"])
    assert gctl.show(image["id"])["status"] == "pending_delete"
    assert (home / "data" / image["id"]).is_file()


def test_delayed_delete_refuses_a_deactivated_image_as_glance_does(gctl, home, tmp_path):
    delayed(home)
    source = tmp_path / "disk.raw"
    source.write_bytes(b"k" * 4096)
    image = gctl.create("held", *FORMATS, "--file", str(source))
    gctl.ok("image", "deactivate", image["id"])
    result = gctl("image", "delete", image["id"])
    assert result.exit_code == 4, result.stderr
    assert ("Image status transition from deactivated to pending_delete is not allowed"
            in result.stderr)
    assert "Reactivate it first" in result.stderr
    assert gctl.show(image["id"])["status"] == "deactivated"
    assert (home / "data" / image["id"]).read_bytes() == source.read_bytes()
    gctl.ok("image", "reactivate", image["id"])
    gctl.ok("image", "delete", image["id"])
    assert gctl.show(image["id"])["status"] == "pending_delete"


def test_without_delayed_delete_a_deactivated_image_is_deleted_with_its_data(gctl, home, tmp_path):
    source = tmp_path / "disk.raw"
    source.write_bytes(b"k" * 4096)
    image = gctl.create("held", *FORMATS, "--file", str(source))
    gctl.ok("image", "deactivate", image["id"])
    gctl.ok("image", "delete", image["id"])
    assert gctl.show(image["id"])["status"] == "deleted"
    assert not (home / "data" / image["id"]).exists()


# -- deliberate: a deleted record stays visible, and changing it is refused ----------------------
@pytest.fixture(params=["deleted", "pending_delete"])
def gone_image(request, gctl, home, tmp_path) -> dict:
    if request.param == "pending_delete":
        delayed(home)
    source = tmp_path / "disk.raw"
    source.write_bytes(b"g" * 4096)
    image = gctl.create("gone", *FORMATS, "--file", str(source))
    gctl.ok("image", "delete", image["id"])
    return gctl.show(image["id"])


def test_a_deleted_record_is_shown_and_listed_by_status(gctl, gone_image):
    status = gone_image["status"]
    assert gctl.ok("image", "show", gone_image["id"], "-f", "value", "-c", "status").stdout == (
        f"{status}\n")
    assert gctl.ok("image", "list", "-q").stdout == ""
    assert gctl.ok("image", "list", "--status", status, "-q").stdout == f"{gone_image['id']}\n"


@pytest.mark.parametrize("command", [
    ["set", "{id}", "--name", "renamed"],
    ["delete", "{id}"],
    ["upload", "{id}", "--file", "{file}"],
    ["download", "{id}", "--file", "{out}"],
])
def test_changing_or_reading_data_of_a_deleted_record_says_it_is_deleted(
        gctl, home, tmp_path, gone_image, command):
    before = stored(home, gone_image["id"])
    (tmp_path / "new.raw").write_bytes(b"n" * 100)
    args = [a.format(id=gone_image["id"], file=tmp_path / "new.raw", out=tmp_path / "out")
            for a in command]
    result = gctl("image", *args)
    assert result.exit_code == 4, result.stderr
    assert f"Image {gone_image['id']} (gone) is deleted" in result.stderr
    assert "No image" not in result.stderr
    assert stored(home, gone_image["id"]) == before
    assert not (tmp_path / "out").exists()


# -- 6. Glance's wording, then glancectl's sentence and hint ------------------------------------
@pytest.mark.parametrize("method", [["--method", "glance-direct"],
                                    ["--method", "web-download", "--uri", "http://127.0.0.1:9/x"]])
def test_import_into_an_active_image_uses_glances_wording(gctl, tmp_path, method):
    source = tmp_path / "disk.raw"
    source.write_bytes(b"a" * 1024)
    image = gctl.create("full", *FORMATS, "--file", str(source))
    result = gctl("image", "import", image["id"], *method)
    assert result.exit_code == 4, result.stderr
    assert result.stderr.startswith(
        "Error: Image with status active cannot be target for import. "
        f"Image {image['id']} (full) is active")
    assert "glancectl image create NAME" in result.stderr
    assert gctl.show(image["id"]) == image
    assert gctl.ok("task", "list", "-f", "json").json() == []


def test_import_into_a_deactivated_image_is_refused_the_same_way(gctl, tmp_path):
    source = tmp_path / "disk.raw"
    source.write_bytes(b"a" * 1024)
    image = gctl.create("held", *FORMATS, "--file", str(source))
    gctl.ok("image", "deactivate", image["id"])
    result = gctl("image", "import", image["id"], "--method", "glance-direct")
    assert result.exit_code == 4, result.stderr
    assert "Image with status deactivated cannot be target for import." in result.stderr


def test_an_unknown_task_type_uses_glances_schema_wording_then_glancectls(gctl):
    result = gctl("task", "create", "--type", "foo", "--input", "{}")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith(
        "Error: 'foo' is not one of ['import', 'api_image_import', 'location_import']. "
        "Provided type of task is unsupported: foo.")
    assert "glancectl runs import and api_image_import tasks." in result.stderr
    assert gctl.ok("task", "list", "-f", "json").json() == []


# -- 7. order within one second ----------------------------------------------------------------
def test_images_made_in_one_second_list_in_creation_order_both_ways(gctl, home):
    """Made through the operations (fast enough to put many in one second), listed as a user
    lists them. Six in one second: ordered by chance only once in 720 runs."""
    import re
    import time
    from collections import Counter

    from glancectl.config import Settings
    from glancectl.operations.images import ImageSpec, create_image
    from glancectl.store import Store

    store, made = Store(home), []
    deadline = time.monotonic() + 60
    while max(Counter(i["created_at"] for i in made).values(), default=0) < 6:
        assert time.monotonic() < deadline, "could not make six images within one second"
        made.append(create_image(store, Settings(), ImageSpec(name=f"n{len(made)}")))
    ids = [image["id"] for image in made]
    assert gctl.ok("image", "list", "-q").stdout.split() == ids[::-1]
    assert gctl.ok("image", "list", "--sort", "created_at:asc", "-q").stdout.split() == ids
    assert gctl.ok("image", "list", "--sort", "created_at", "-q").stdout.split() == ids[::-1]
    shown = gctl.ok("image", "list", "-f", "json", "--long").json()
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", i["created_at"]) for i in shown)
    assert not any("created_ns" in gctl.show(i) for i in ids[:2])


def test_tasks_made_in_one_second_list_in_creation_order(gctl, tmp_path):
    import time
    from collections import Counter

    source = tmp_path / "disk.raw"
    source.write_bytes(b"t" * 64)
    made: list[dict] = []
    deadline = time.monotonic() + 60
    while max(Counter(t["created_at"] for t in made).values(), default=0) < 6:
        assert time.monotonic() < deadline, "could not make six tasks within one second"
        made.append(gctl.ok("task", "create", "--type", "import", "--no-worker", "-f", "json",
                            "--input", import_input(source.as_uri())).json())
    listed = [t["id"] for t in gctl.ok("task", "list", "-f", "json").json()]
    assert listed == [t["id"] for t in made][::-1]
    assert all("created_ns" not in t for t in made)


# -- README says what the code does ------------------------------------------------------------
def readme_section(title: str) -> str:
    import re

    from tests.conftest import REPO

    text = (REPO / "README.md").read_text()
    return re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M).group(1)


def test_readme_lists_every_deliberate_divergence_with_the_side_it_follows():
    section = readme_section("How glancectl differs from Glance")
    bullets = [b for b in section.split("\n* ")[1:]]
    assert len(bullets) >= 10
    for bullet in bullets:
        assert "*(seed" in bullet or "*(local)*" in bullet, bullet
    for divergence in ("Deleted records stay visible", "exit 4", "`file://` locations are allowed",
                       "`import` tasks accept `file://` sources", "A read-only attribute",
                       "One owner", "never downloads", "killed is real"):
        assert divergence in section, divergence
    assert "`raw` accepts any data that passes the safety checks" in section
    assert "data not of the declared `disk_format`" not in section


def test_readme_does_not_promise_openstackclient_json():
    scripting = readme_section("Scripting")
    assert "keeps working" not in scripting
    assert "Glance v2 API document" in scripting and "`to_dict()`" in scripting
    assert "nests custom properties under\n  `properties`" in scripting


def test_readme_store_layout_names_everything_the_store_holds(gctl, home, tmp_path):
    layout = readme_section("The store and configuration").split("```")[1]
    source = tmp_path / "disk.raw"
    source.write_bytes(b"s" * 4096)
    gctl.create("one", *FORMATS, "--file", str(source))
    staged = gctl.create("two", *FORMATS)
    gctl.ok("image", "stage", staged["id"], "--file", str(source))
    gctl.ok("task", "create", "--type", "import", "--no-worker",
            "--input", import_input(source.as_uri()))
    for entry in sorted(p.name for p in home.iterdir()):
        assert f"\n{entry}/" in layout or f"\n{entry} " in layout, entry


def test_image_delete_usage_shows_it_takes_several_images(gctl):
    from tests.conftest import REPO

    assert " image delete [OPTIONS] IMAGE...\n" in gctl.ok(
        "image", "delete", "--help").stdout
    assert "| `image delete IMAGE [IMAGE...]` |" in (REPO / "README.md").read_text()


def test_a_deleted_image_is_refused_with_exit_4_but_is_404_over_http(gctl):
    from glancectl import lifecycle
    from glancectl.errors import ImageDeleted, exit_code_for, http_status_for

    with pytest.raises(ImageDeleted) as refused:
        lifecycle.check_not_deleted({"id": "x", "status": "deleted"})
    assert (exit_code_for(refused.value), http_status_for(refused.value)) == (4, 404)


def test_a_location_an_older_glancectl_wrote_shows_its_store_and_a_misshaped_one_shows_as_is(
        gctl, home, tmp_path):
    from glancectl.store import Store

    source = tmp_path / "disk.raw"
    source.write_bytes(b"o" * 512)
    image = gctl.create("old", *FORMATS, "--file", str(source))
    url = image["locations"][0]["url"]
    store = Store(home)
    with store.writing():
        store.images.update(image["id"], {"locations": [{"url": url, "metadata": {"store": "local"}},
                                                        {"metadata": "odd"}]})
    shown = gctl.ok("image", "show", image["id"], "-f", "json").json()["locations"]
    assert shown == [{"url": url, "metadata": {"store": "file"}}, {"metadata": "odd"}]


@pytest.mark.parametrize("attribute", ["owner", "os_hash_value", "status", "size"])
def test_a_read_only_attribute_is_refused_on_set_too(gctl, attribute):
    image = gctl.create("ro")
    result = gctl("image", "set", image["id"], "--property", f"{attribute}=x")
    assert result.exit_code == 2, result.stderr
    assert f"Attribute '{attribute}' is read-only." in result.stderr
    assert gctl.show(image["id"]) == image
