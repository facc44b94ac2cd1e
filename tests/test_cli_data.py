"""Image data through the CLI: upload, download, verification, limits, locations, delete."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import FORMATS
from tests.httpserver import http_server  # noqa: F401  (fixture)

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def blob() -> bytes:
    return os.urandom(5 * MiB + 123)  # multi-MB and not a multiple of the chunk size


@pytest.fixture
def blob_file(tmp_path, blob):
    path = tmp_path / "blob.raw"
    path.write_bytes(blob)
    return path


def data_files(home):
    data = home / "data"
    return sorted(data.iterdir()) if data.is_dir() else []


def temp_files(home):
    return [p for p in home.rglob("*") if ".tmp-" in p.name]


def test_upload_streams_hashes_and_activates(gctl, home, blob, blob_file):
    image = gctl.create("up", *FORMATS)
    result = gctl.ok("image", "upload", image["id"], "--file", str(blob_file), "-f", "json")
    after = gctl.show(image["id"])
    assert result.json() == after
    assert after["status"] == "active"
    assert after["size"] == len(blob) == after["virtual_size"]
    assert after["checksum"] == hashlib.md5(blob).hexdigest()
    assert after["os_hash_algo"] == "sha512"
    assert after["os_hash_value"] == hashlib.sha512(blob).hexdigest()
    assert data_files(home) == [home / "data" / image["id"]]
    assert (home / "data" / image["id"]).read_bytes() == blob
    assert [loc["url"] for loc in after["locations"]] == [(home / "data" / image["id"]).as_uri()]
    assert temp_files(home) == []
    assert result.stderr == "", "no progress bar when stderr is not a terminal"


def test_create_with_file_in_one_step_and_download_both_ways(gctl, home, blob, blob_file, tmp_path):
    image = gctl.create("one-step", *FORMATS, "--file", str(blob_file))
    assert image["status"] == "active" and image["size"] == len(blob)
    out = tmp_path / "out.img"
    gctl.ok("image", "download", "one-step", "--file", str(out))
    assert out.read_bytes() == blob
    piped = gctl.ok("image", "download", image["id"])
    assert piped.stdout_bytes == blob


def test_download_file_dash_is_standard_output(gctl, blob_file, blob, tmp_path, monkeypatch):
    gctl.create("dash", *FORMATS, "--file", str(blob_file))
    monkeypatch.chdir(tmp_path)
    piped = gctl.ok("image", "download", "dash", "--file", "-")
    assert piped.stdout_bytes == blob
    assert not (tmp_path / "-").exists(), "'-' is stdout, not a file named '-'"


def test_upload_from_stdin(gctl, blob):
    image = gctl.create("stdin", *FORMATS)
    gctl.ok("image", "upload", image["id"], input=blob)
    assert gctl.show(image["id"])["os_hash_value"] == hashlib.sha512(blob).hexdigest()


@pytest.mark.parametrize("option,value,words", [
    # A stream of unknown size: stopped at byte 8, the first one too many.
    ("--size", "7", "sent more than the expected size of 7 bytes"),
    ("--checksum", "0" * 32, "checksum"),
    ("--hash", "0" * 128, "os_hash_value"),
])
def test_mismatched_expectation_kills_image_and_keeps_no_data(gctl, home, blob_file, option, value, words):
    image = gctl.create("bad", *FORMATS)
    result = gctl("image", "upload", image["id"], "--file", "-", option, value,
                  input=blob_file.read_bytes())
    assert result.exit_code == 5
    assert "failed verification" in result.stderr and words in result.stderr
    assert gctl.show(image["id"])["status"] == "killed"
    assert data_files(home) == [] and temp_files(home) == []
    again = gctl("image", "upload", image["id"], "--file", str(blob_file))
    assert again.exit_code == 4 and "killed" in again.stderr
    gctl.ok("image", "delete", image["id"])


def test_matching_expectations_pass(gctl, blob, blob_file):
    image = gctl.create("good", *FORMATS)
    gctl.ok("image", "upload", image["id"], "--file", str(blob_file), "--size", str(len(blob)),
            "--checksum", hashlib.md5(blob).hexdigest(), "--hash", hashlib.sha512(blob).hexdigest())
    assert gctl.show(image["id"])["status"] == "active"


def test_second_upload_to_active_is_refused_with_glance_wording(gctl, blob_file):
    image = gctl.create("twice", *FORMATS, "--file", str(blob_file))
    before = gctl.show(image["id"])
    result = gctl("image", "upload", image["id"], "--file", str(blob_file))
    assert result.exit_code == 4
    message = result.stderr.strip()
    assert message.startswith("Error: Image status transition from active to saving is not allowed")
    assert image["id"] in message and "(twice)" in message and "Create a new image" in message
    assert gctl.show(image["id"]) == before


def test_upload_without_formats_is_refused(gctl, home, blob_file):
    image = gctl.create("noformats")
    result = gctl("image", "upload", image["id"], "--file", str(blob_file))
    assert result.exit_code == 4
    assert "Properties disk_format, container_format must be set prior to saving data." in result.stderr
    assert gctl.show(image["id"])["status"] == "queued" and data_files(home) == []


@pytest.mark.parametrize("setup,status", [
    (["deactivate"], "deactivated"),
    (["delete"], None),
])
def test_upload_to_deactivated_or_deleted_is_refused(gctl, blob_file, setup, status):
    image = gctl.create("x", *FORMATS, "--file", str(blob_file)) if status else gctl.create("x", *FORMATS)
    gctl.ok("image", *setup, image["id"])
    result = gctl("image", "upload", image["id"], "--file", str(blob_file))
    assert result.exit_code == 4, result.stderr
    assert ("is deactivated" if status else "is deleted") in result.stderr


def test_missing_source_file_changes_nothing(gctl, home, tmp_path):
    image = gctl.create("m", *FORMATS)
    result = gctl("image", "upload", image["id"], "--file", str(tmp_path / "nope.img"))
    assert result.exit_code == 2 and "nope.img" in result.stderr
    assert gctl.show(image["id"])["status"] == "queued"
    assert temp_files(home) == []


def test_size_cap_stops_the_stream_and_requeues(gctl, home, blob_file):
    image = gctl.create("cap", *FORMATS)
    result = gctl("image", "upload", image["id"], "--file", "-", input=blob_file.read_bytes(),
                  env={"GLANCECTL_IMAGE_SIZE_CAP": str(MiB)})
    assert result.exit_code == 6
    assert f"Denying attempt to upload image larger than {MiB} bytes." in result.stderr
    after = gctl.show(image["id"])
    assert after["status"] == "queued" and after["size"] is None
    assert data_files(home) == [] and temp_files(home) == []
    gctl.ok("image", "upload", image["id"], "--file", str(blob_file))


def test_user_storage_quota_counts_existing_images(gctl, home, blob, blob_file):
    quota = {"GLANCECTL_USER_STORAGE_QUOTA": str(len(blob) + 100)}
    gctl.ok("image", "create", "first", *FORMATS, "--file", str(blob_file), env=quota)
    second = gctl.create("second", *FORMATS)
    result = gctl("image", "upload", second["id"], input=blob, env=quota)
    assert result.exit_code == 6 and "exceeds the quota" in result.stderr
    assert gctl.show(second["id"])["status"] == "queued"


def test_download_detects_corrupt_data_and_leaves_no_file(gctl, home, blob_file, tmp_path):
    image = gctl.create("rot", *FORMATS, "--file", str(blob_file))
    stored = home / "data" / image["id"]
    raw = bytearray(stored.read_bytes())
    raw[1000] ^= 0xFF
    stored.write_bytes(bytes(raw))
    out = tmp_path / "out.img"
    result = gctl("image", "download", image["id"], "--file", str(out))
    assert result.exit_code == 5
    wrong = hashlib.sha512(bytes(raw)).hexdigest()
    assert f"Corrupt image download. Hash was {wrong} expected {image['os_hash_value']}" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".out.img*"))


def test_download_refusals(gctl, blob_file, tmp_path):
    queued = gctl.create("q", *FORMATS)
    result = gctl("image", "download", queued["id"])
    assert result.exit_code == 4 and "has no data" in result.stderr
    active = gctl.create("a", *FORMATS, "--file", str(blob_file))
    gctl.ok("image", "deactivate", active["id"])
    result = gctl("image", "download", active["id"])
    assert result.exit_code == 4
    assert "The requested image has been deactivated. Image data download is forbidden." in result.stderr
    gctl.ok("image", "reactivate", active["id"])
    target = tmp_path / "real"
    target.write_text("keep me")
    link = tmp_path / "link"
    link.symlink_to(target)
    result = gctl("image", "download", active["id"], "--file", str(link))
    assert result.exit_code == 2 and "symlink" in result.stderr
    assert target.read_text() == "keep me"


def test_deactivate_reactivate_and_their_noops(gctl, blob_file):
    image = gctl.create("d", *FORMATS, "--file", str(blob_file))
    assert gctl.ok("image", "deactivate", image["id"], "-f", "json").json()["status"] == "deactivated"
    assert gctl.ok("image", "deactivate", image["id"], "-f", "json").json()["status"] == "deactivated"
    assert gctl.ok("image", "reactivate", image["id"], "-f", "json").json()["status"] == "active"
    assert gctl.ok("image", "reactivate", image["id"], "-f", "json").json()["status"] == "active"
    queued = gctl.create("q", *FORMATS)
    result = gctl("image", "deactivate", queued["id"])
    assert result.exit_code == 4 and "Not allowed to deactivate image in status 'queued'" in result.stderr


def test_size_zero_registers_active_without_data(gctl, home):
    image = gctl.create("empty", *FORMATS, "--size", "0")
    assert image["status"] == "active" and image["size"] == 0
    assert gctl.ok("image", "download", image["id"]).stdout_bytes == b""
    assert data_files(home) == []


def test_delete_removes_data(gctl, home, blob_file):
    image = gctl.create("del", *FORMATS, "--file", str(blob_file))
    gctl.ok("image", "delete", image["id"])
    assert gctl.show(image["id"])["status"] == "deleted"
    assert data_files(home) == []


def test_delayed_delete_scrub_and_purge(gctl, home, blob_file):
    (home).mkdir(parents=True)
    (home / "glancectl.toml").write_text("delayed_delete = true\n")
    image = gctl.create("later", *FORMATS, "--file", str(blob_file))
    gctl.ok("image", "delete", image["id"])
    assert gctl.show(image["id"])["status"] == "pending_delete"
    assert data_files(home) == [home / "data" / image["id"]]
    dry = gctl.ok("scrub", "--dry-run", "-f", "json")
    assert [a["id"] for a in dry.json()] == [image["id"]]
    assert gctl.show(image["id"])["status"] == "pending_delete"
    waiting = gctl.ok("scrub", "-f", "json", env={"GLANCECTL_SCRUB_TIME": "3600"})
    assert waiting.json() == [] and data_files(home) != []
    done = gctl.ok("scrub", "-f", "json")
    assert [a["id"] for a in done.json()] == [image["id"]]
    assert gctl.show(image["id"])["status"] == "deleted" and data_files(home) == []
    assert gctl.ok("purge", "--age-in-days", "1", "-f", "json").json() == []
    purged = gctl.ok("purge", "--age-in-days", "0", "-f", "json").json()
    assert [a["id"] for a in purged] == [image["id"]]
    assert gctl("image", "show", image["id"]).exit_code == 3


def test_config_show_reports_sources(gctl, home):
    home.mkdir(parents=True)
    (home / "glancectl.toml").write_text("image_tag_quota = 5\n")
    rows = gctl.ok("config", "show", "-f", "json", env={"GLANCECTL_DELAYED_DELETE": "yes"}).json()
    by_name = {r["name"]: r for r in rows}
    assert by_name["delayed_delete"]["value"] is True
    assert by_name["delayed_delete"]["source"] == "env GLANCECTL_DELAYED_DELETE"
    assert by_name["image_tag_quota"]["value"] == 5 and by_name["image_tag_quota"]["source"].startswith("file ")
    assert by_name["image_size_cap"] == {"name": "image_size_cap", "value": 1024**4, "source": "default"}
    assert by_name["task_time_to_live"]["value"] == 48
    (home / "glancectl.toml").write_text("colour = 'red'\n")
    bad = gctl("config", "show")
    assert bad.exit_code == 2 and "unknown setting(s) colour" in bad.stderr


# -- locations -----------------------------------------------------------------
def test_file_location_activates_and_removal_requeues(gctl, blob, blob_file):
    image = gctl.create("loc", *FORMATS)
    url = blob_file.as_uri()
    added = gctl.ok("image", "location", "add", image["id"], url, "--metadata", '{"a": 1}', "-f", "json").json()
    assert added["status"] == "active" and added["size"] == len(blob)
    listed = gctl.ok("image", "location", "list", image["id"], "-f", "json").json()
    assert listed == [{"url": url, "metadata": {"a": 1, "store": "file"}}]
    assert gctl.ok("image", "download", image["id"]).stdout_bytes == blob
    removed = gctl.ok("image", "location", "remove", image["id"], url, "-f", "json").json()
    assert removed["status"] == "queued" and removed["size"] is None and removed["locations"] == []
    assert blob_file.exists(), "an external location's file is never deleted"


def test_removing_store_location_deletes_store_data(gctl, home, blob_file):
    image = gctl.create("own", *FORMATS, "--file", str(blob_file))
    url = image["locations"][0]["url"]
    gctl.ok("image", "location", "remove", image["id"], url)
    after = gctl.show(image["id"])
    assert after["status"] == "queued" and after["checksum"] is None and after["os_hash_value"] is None
    assert data_files(home) == []


def test_location_rules(gctl, blob_file, tmp_path):
    image = gctl.create("rules", *FORMATS, "--file", str(blob_file))
    gctl.ok("image", "deactivate", image["id"])
    result = gctl("image", "location", "add", image["id"], blob_file.as_uri())
    assert result.exit_code == 4
    assert "It's not allowed to add locations if image status is deactivated." in result.stderr
    other = gctl.create("bad", *FORMATS)
    assert gctl("image", "location", "add", other["id"], "ftp://x/y").exit_code == 2
    missing = gctl("image", "location", "add", other["id"], (tmp_path / "missing").as_uri())
    assert missing.exit_code == 2
    assert gctl.show(other["id"])["status"] == "queued"
    files = []
    for i in range(3):
        f = tmp_path / f"f{i}"
        f.write_bytes(b"x")
        files.append(f.as_uri())
    quota = {"GLANCECTL_IMAGE_LOCATION_QUOTA": "2"}
    gctl.ok("image", "location", "add", other["id"], files[0], env=quota)
    gctl.ok("image", "location", "add", other["id"], files[1], env=quota)
    over = gctl("image", "location", "add", other["id"], files[2], env=quota)
    assert over.exit_code == 6 and "Attempted: 3, Maximum: 2" in over.stderr


def test_http_location_create_and_download(gctl, http_server, blob):
    url = http_server.add("/disk.raw", blob)
    image = gctl.create("web", *FORMATS, "--location", url)
    assert image["status"] == "active" and image["size"] == len(blob)
    assert image["checksum"] == hashlib.md5(blob).hexdigest()
    assert image["os_hash_value"] == hashlib.sha512(blob).hexdigest()
    assert gctl.ok("image", "download", image["id"]).stdout_bytes == blob
    gone = http_server.add_status("/gone", 404)
    result = gctl("image", "create", "dead", *FORMATS, "--location", gone)
    assert result.exit_code == 2 and "404" in result.stderr
    assert gctl.ok("image", "list", "--name", "dead", "-q").stdout == ""


def test_download_to_a_named_pipe_or_device_writes_in_place(gctl, blob, blob_file, tmp_path):
    import threading

    image = gctl.create("p", *FORMATS, "--file", str(blob_file))
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = bytearray()

    def read_pipe():
        with open(fifo, "rb") as reader:
            received.extend(reader.read())

    reader = threading.Thread(target=read_pipe)
    reader.start()
    gctl.ok("image", "download", image["id"], "--file", str(fifo))
    reader.join(timeout=30)
    assert bytes(received) == blob
    assert fifo.is_fifo(), "the pipe was not replaced by a regular file"
    gctl.ok("image", "download", image["id"], "--file", os.devnull)
    assert Path(os.devnull).is_char_device()


@pytest.mark.parametrize("args,code,words", [
    (["--file", "/nonexistent/disk.raw", *FORMATS], 2, "/nonexistent/disk.raw"),
    (["--file", "BLOB"], 4, "Properties disk_format, container_format must be set"),
    (["--file", "BLOB", "--disk-format", "raw"], 4, "--container-format FORMAT"),
    (["--import", "--file", "BLOB"], 4, "Properties disk_format, container_format must be set"),
    (["--import", "--uri", "http://127.0.0.1:9/x", "--container-format", "bare"], 4, "--disk-format"),
])
def test_create_with_data_that_cannot_start_leaves_no_record(gctl, home, blob_file, args, code, words):
    args = [str(blob_file) if a == "BLOB" else a for a in args]
    result = gctl("image", "create", "nothing", *args)
    assert result.exit_code == code, result.stderr
    assert words in result.stderr
    assert gctl.ok("image", "list", "--deleted", "-q").stdout == ""
    assert not (home / "staging").exists() or not list((home / "staging").iterdir())


def test_a_name_means_the_live_image_when_a_deleted_one_shares_it(gctl, blob, blob_file):
    old = gctl.create("cirros", *FORMATS, "--file", str(blob_file))
    gctl.ok("image", "delete", "cirros")
    assert gctl.show("cirros")["id"] == old["id"], "a deleted image is still found by name alone"
    new = gctl.create("cirros", *FORMATS, "--file", str(blob_file))
    assert gctl.show("cirros")["id"] == new["id"]
    assert gctl.ok("image", "download", "cirros").stdout_bytes == blob
    gone = gctl("image", "download", old["id"])
    assert gone.exit_code == 4, "a deleted image's record is kept: its download is refused"
    assert "is deleted" in gone.stderr


def test_negative_sizes_in_the_config_file_are_refused(gctl, home):
    home.mkdir(parents=True)
    (home / "glancectl.toml").write_text("image_size_cap = -1\n")
    result = gctl("config", "show")
    assert result.exit_code == 2 and "invalid value -1 for image_size_cap" in result.stderr
