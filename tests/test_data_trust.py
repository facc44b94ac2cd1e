"""Data paths a hostile user attacks: declared sizes, /dev/null and /dev/zero, malformed
digests, planted symlinks, lying locations, and create --file that must be all or nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess

import pytest

from glancectl.config import Settings
from glancectl.errors import DataError, InvalidValue
from glancectl.operations import data, images, importing
from glancectl.store import Store
from tests.conftest import FORMATS, run_launcher_with
from tests.httpserver import http_server  # noqa: F401  (fixture)

MiB = 1024 * 1024


@pytest.fixture
def blob_file(tmp_path):
    path = tmp_path / "blob.raw"
    path.write_bytes(os.urandom(3 * MiB + 7))
    return path


def leftovers(home):
    """Data, staged data and temp files: what a refused write must not leave."""
    found = [p for p in home.rglob("*") if ".tmp-" in p.name]
    for folder in ("data", "staging"):
        if (home / folder).is_dir():
            found += list((home / folder).iterdir())
    return found


def no_images(gctl):
    return gctl.ok("image", "list", "--deleted", "-q").stdout == ""


# -- item 2: a declared size holds while the data streams ------------------------
def test_dev_zero_with_a_declared_size_stops_at_the_first_byte_too_many(gctl, home):
    image = gctl.create("zero", *FORMATS)
    # The cap only keeps a regression from filling the disk; the declared size must act first.
    result = gctl("image", "upload", image["id"], "--file", "/dev/zero", "--size", "1000000",
                  env={"GLANCECTL_IMAGE_SIZE_CAP": str(64 * MiB)})
    assert result.exit_code == 5, result.stderr
    assert "more than the expected size of 1000000 bytes" in result.stderr
    assert gctl.show(image["id"])["status"] == "killed"
    assert leftovers(home) == []


def test_the_stream_is_read_no_further_than_the_byte_past_the_declared_size(tmp_path):
    # The cap only keeps a regression from filling the disk.
    store, settings = Store(tmp_path / "h"), Settings(image_size_cap=64 * MiB)
    image = images.create_image(store, settings, images.ImageSpec(disk_format="raw",
                                                                  container_format="bare"))

    class Endless:
        size, description, handed_out = None, "an endless stream", 0

        def readinto(self, buf):
            buf[:] = b"\0" * len(buf)
            self.handed_out += len(buf)
            return len(buf)

    source = Endless()
    with pytest.raises(DataError, match="more than the expected size of 1000 bytes"):
        data.upload(store, settings, image["id"], source, expect=data.Expectations(size=1000))
    assert source.handed_out == 1001


@pytest.mark.parametrize("command", ["upload", "create"])
def test_a_file_of_another_size_is_refused_before_anything_changes(gctl, home, tmp_path, command):
    big = tmp_path / "big.raw"
    big.write_bytes(os.urandom(30 * MiB))
    if command == "upload":
        image = gctl.create("sized", *FORMATS)
        result = gctl("image", "upload", image["id"], "--file", str(big), "--size", "1000")
    else:
        result = gctl("image", "create", "sized", *FORMATS, "--file", str(big), "--size", "1000")
    assert result.exit_code == 5, result.stderr
    assert f"holds {30 * MiB} bytes, not the expected size 1000; nothing was changed" in result.stderr
    if command == "upload":
        assert gctl.show(image["id"]) == image, "status unchanged, nothing else either"
    else:
        assert no_images(gctl)
    assert leftovers(home) == []


def test_a_location_whose_content_length_is_not_the_declared_size_is_refused(gctl, http_server):
    url = http_server.add("/disk.raw", b"x" * 5000)
    result = gctl("image", "create", "web", *FORMATS, "--location", url, "--size", "1000")
    assert result.exit_code == 5, result.stderr
    assert "holds 5000 bytes, not the expected size 1000" in result.stderr
    assert no_images(gctl)


class Growing:
    """A source that announces ``size`` bytes and then sends more: a file that grows as it is read."""

    description = "file /srv/growing.raw"

    def __init__(self, size: int, really: int):
        self.size, self.stream = size, io.BytesIO(os.urandom(really))

    def readinto(self, buf):
        return self.stream.readinto(buf)


@pytest.mark.parametrize("path", ["upload", "stage"])
def test_a_source_that_outgrows_its_announced_size_is_stopped(tmp_path, path):
    store, settings = Store(tmp_path / "h"), Settings()
    image = images.create_image(store, settings, images.ImageSpec(disk_format="raw",
                                                                  container_format="bare"))
    write = data.upload if path == "upload" else importing.stage
    with pytest.raises(DataError, match="sent more than the announced size of 1000 bytes"):
        write(store, settings, image["id"], Growing(1000, 3 * MiB))
    after = store.images.get(image["id"])
    assert after["status"] == ("killed" if path == "upload" else "queued")
    assert leftovers(tmp_path / "h") == []


@pytest.mark.parametrize("limit", ["GLANCECTL_IMAGE_SIZE_CAP", "GLANCECTL_USER_STORAGE_QUOTA"])
def test_cap_and_quota_hold_mid_stream_from_dev_zero(gctl, home, limit):
    image = gctl.create("capped", *FORMATS)
    result = gctl("image", "upload", image["id"], "--file", "/dev/zero", env={limit: str(MiB)})
    assert result.exit_code == 6, result.stderr
    after = gctl.show(image["id"])
    assert after["status"] == "queued" and after["size"] is None
    assert leftovers(home) == []


def test_the_import_task_holds_the_cap_mid_stream(gctl, home):
    task_input = json.dumps({"import_from": "file:///dev/zero", "import_from_format": "raw",
                             "image_properties": {"name": "endless"}})
    result = gctl("task", "create", "--type", "import", "--input", task_input, "--no-worker", "-q")
    task_id = result.stdout.strip()
    ran = gctl("task", "run", "--task", task_id, env={"GLANCECTL_IMAGE_SIZE_CAP": str(MiB)})
    assert ran.exit_code == 6, ran.stderr
    task = gctl.ok("task", "show", task_id, "-f", "json").json()
    assert task["status"] == "failure" and "larger than 1048576 bytes" in task["message"]
    assert leftovers(home) == []


# -- item 7: empty, non-interactive stdin is not data -----------------------------------
@pytest.mark.parametrize("command", ["upload", "stage", "create --import"])
def test_dev_null_on_stdin_is_no_data(gctl, home, command):
    image = gctl.create("cron", *FORMATS)
    args = {"upload": ["image", "upload", image["id"]],
            "stage": ["image", "stage", image["id"]],
            "create --import": ["image", "create", "cron2", *FORMATS, "--import"]}[command]
    result = run_launcher_with(args, home=home, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    message = result.stderr.decode()
    assert message.startswith("Error: no data:") and "--file" in message
    assert len(message.strip().splitlines()) == 1
    assert gctl.show(image["id"])["status"] == "queued"
    assert [r["name"] for r in gctl.ok("image", "list", "--deleted", "-f", "json").json()] == ["cron"]
    assert leftovers(home) == []


def test_dev_null_given_explicitly_is_an_empty_image(gctl, home):
    image = gctl.create("empty", *FORMATS)
    result = run_launcher_with(["image", "upload", image["id"], "--file", "-"], home=home,
                               stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert gctl.show(image["id"])["size"] == 0


def test_a_regular_file_on_stdin_is_data(gctl, home, blob_file):
    image = gctl.create("redirected", *FORMATS)
    with open(blob_file, "rb") as stdin:
        result = run_launcher_with(["image", "upload", image["id"]], home=home, stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert gctl.show(image["id"])["size"] == blob_file.stat().st_size


# -- item 8: a malformed --checksum or --hash is a usage error ------------------------
@pytest.mark.parametrize("option,value,words", [
    ("--checksum", "not-hex", "not an md5 digest: expected 32 hexadecimal digits"),
    ("--checksum", "ab" * 20, "not an md5 digest"),  # a sha1's length
    ("--hash", "ab" * 32, "not an sha512 digest: expected 128 hexadecimal digits"),  # sha256's
    ("--hash", "g" * 128, "not an sha512 digest"),
])
def test_a_malformed_digest_is_refused_before_anything_changes(gctl, home, blob_file, option, value,
                                                                words):
    image = gctl.create("digest", *FORMATS)
    result = gctl("image", "upload", image["id"], "--file", str(blob_file), option, value)
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr
    assert gctl.show(image["id"]) == image
    created = gctl("image", "create", "digest2", *FORMATS, "--file", str(blob_file), option, value)
    assert created.exit_code == 2 and words in created.stderr
    assert [r["id"] for r in gctl.ok("image", "list", "--deleted", "-f", "json").json()] == [image["id"]]
    assert leftovers(home) == []


def test_digests_are_checked_by_the_operations_layer_for_every_face():
    with pytest.raises(InvalidValue, match="md5"):
        data.Expectations(checksum="xyz")
    with pytest.raises(InvalidValue, match="sha512"):
        data.Expectations(os_hash_value="0" * 64)
    with pytest.raises(InvalidValue, match="size"):
        data.Expectations(size=-1)
    assert data.Expectations(checksum="AB" * 16).checksum == "ab" * 16


# -- item 9: downloads follow no planted symlink, stream no bytes known to be wrong -------
def test_a_symlink_planted_as_the_data_file_is_never_followed(gctl, home, blob_file, tmp_path):
    image = gctl.create("planted", *FORMATS, "--file", str(blob_file))
    decoy = tmp_path / "decoy"
    decoy.write_bytes(os.urandom(blob_file.stat().st_size))  # the same size: only a hash could tell
    stored = home / "data" / image["id"]
    stored.unlink()
    stored.symlink_to(decoy)
    result = gctl("image", "download", image["id"])
    assert result.exit_code == 7, result.stderr
    assert "is a symlink; refusing to follow it" in result.stderr
    assert result.stdout_bytes == b""


def test_a_symlink_planted_as_the_data_folder_is_never_followed(gctl, home, blob_file, tmp_path):
    image = gctl.create("planted", *FORMATS, "--file", str(blob_file))
    elsewhere = tmp_path / "elsewhere"
    (home / "data").rename(elsewhere)
    (home / "data").symlink_to(elsewhere)
    result = gctl("image", "download", image["id"])
    assert result.exit_code == 7, result.stderr
    assert "data is a symlink; refusing to follow it" in result.stderr
    assert result.stdout_bytes == b""


@pytest.mark.parametrize("change", ["truncated", "grown"])
def test_a_data_file_of_the_wrong_size_writes_no_byte(gctl, home, blob_file, tmp_path, change):
    image = gctl.create("resized", *FORMATS, "--file", str(blob_file))
    stored = home / "data" / image["id"]
    with open(stored, "r+b") as f:
        if change == "truncated":
            f.truncate(1000)
        else:
            f.seek(0, os.SEEK_END)
            f.write(b"extra")
    result = gctl("image", "download", image["id"])
    assert result.exit_code == 5, result.stderr
    assert "Corrupt image download" in result.stderr and "nothing was written" in result.stderr
    assert result.stdout_bytes == b""
    out = tmp_path / "out.raw"
    assert gctl("image", "download", image["id"], "--file", str(out)).exit_code == 5
    assert not out.exists() and list(tmp_path.glob("*.tmp-*")) == []


def test_download_help_says_the_exit_status_is_the_verdict_on_a_pipe(gctl):
    shown = gctl.ok("image", "download", "--help").stdout
    assert "exit status is the verdict" in shown and "all or nothing" in shown


# -- item 10: location-backed images are verified too ------------------------------------
def test_a_location_gives_the_image_its_size_and_hashes_and_downloads_verify_them(gctl, blob_file):
    blob = blob_file.read_bytes()
    image = gctl.create("loc", *FORMATS)
    added = gctl.ok("image", "location", "add", image["id"], blob_file.as_uri(), "-f", "json").json()
    assert added["status"] == "active" and added["size"] == len(blob)
    assert added["checksum"] == hashlib.md5(blob).hexdigest()
    assert added["os_hash_algo"] == "sha512"
    assert added["os_hash_value"] == hashlib.sha512(blob).hexdigest()
    with open(blob_file, "r+b") as f:  # the bytes change behind the record's back, same size
        f.seek(100)
        f.write(b"\xff" * 16)
    result = gctl("image", "download", image["id"])
    assert result.exit_code == 5 and "Corrupt image download" in result.stderr


def test_a_location_with_other_bytes_is_refused_when_added(gctl, blob_file, tmp_path):
    image = gctl.create("own", *FORMATS, "--file", str(blob_file))
    same = tmp_path / "same.raw"
    same.write_bytes(blob_file.read_bytes())
    other = tmp_path / "other.raw"
    other.write_bytes(os.urandom(blob_file.stat().st_size))
    result = gctl("image", "location", "add", image["id"], other.as_uri())
    assert result.exit_code == 5, result.stderr
    assert "does not hold the data of image" in result.stderr and "os_hash_value" in result.stderr
    assert gctl.show(image["id"]) == image
    gctl.ok("image", "location", "add", image["id"], same.as_uri())
    assert len(gctl.show(image["id"])["locations"]) == 2


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_a_location_is_read_no_further_than_the_cap(gctl, http_server, framing):
    url = http_server.add("/big", b"x" * (4 * MiB), framing=framing)
    image = gctl.create("big", *FORMATS)
    result = gctl("image", "location", "add", image["id"], url,
                  env={"GLANCECTL_IMAGE_SIZE_CAP": str(MiB)})
    assert result.exit_code == 6 and f"larger than {MiB} bytes" in result.stderr
    assert gctl.show(image["id"]) == image


def test_create_with_a_location_checks_what_the_user_declared(gctl, blob_file):
    result = gctl("image", "create", "loc", *FORMATS, "--location", blob_file.as_uri(),
                  "--checksum", "0" * 32)
    assert result.exit_code == 5 and "checksum" in result.stderr
    assert no_images(gctl)


# -- item 11: image create --file is all or nothing ----------------------------------------
@pytest.mark.parametrize("import_", [False, True])
def test_create_with_file_leaves_no_record_when_tmp_is_unwritable(gctl, home, blob_file, import_):
    gctl.ok("image", "create", "bystander")
    (home / "tmp").write_text("not a directory")  # no directory can be made there
    extra = ["--import"] if import_ else []
    result = gctl("image", "create", "doomed", *FORMATS, "--file", str(blob_file), *extra)
    assert result.exit_code == 7, result.stderr
    assert "tmp" in result.stderr
    names = [r["name"] for r in gctl.ok("image", "list", "--deleted", "-f", "json").json()]
    assert names == ["bystander"]


def test_create_with_file_that_fails_verification_leaves_no_record(gctl, home, blob_file):
    result = gctl("image", "create", "bad", *FORMATS, "--file", str(blob_file),
                  "--checksum", "0" * 32)
    assert result.exit_code == 5 and "checksum" in result.stderr
    assert no_images(gctl)
    assert leftovers(home) == []
