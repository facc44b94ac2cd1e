"""Exit codes follow the cause: whose fault it is decides the code, not the errno.

3 the image went away, 2 the user's own path or value, 7 the store (or where
an image keeps its data) cannot give what it holds, 8 the change was made but
its output could not be written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from glancectl.errors import InvalidValue
from glancectl.listing import ImageFilter
from glancectl.config import Settings
from glancectl.operations import tasks
from glancectl.store import Store
from tests.conftest import FORMATS, LAUNCHER


def launcher_env(home) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCECTL_")}
    env["GLANCECTL_HOME"] = str(home)
    return env


def test_an_upload_whose_image_is_deleted_under_it_exits_3(gctl, home, tmp_path):
    image = gctl.create("doomed", *FORMATS)
    fifo = tmp_path / "data.fifo"
    os.mkfifo(fifo)
    upload = subprocess.Popen([sys.executable, str(LAUNCHER), "image", "upload", image["id"],
                               "--file", str(fifo)], stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, env=launcher_env(home))
    try:
        with open(fifo, "wb") as writer:
            writer.write(b"x" * 100_000)
            writer.flush()
            deadline = time.monotonic() + 30
            while Store(home).images.get(image["id"])["status"] != "saving":
                assert time.monotonic() < deadline, "the upload never started"
                time.sleep(0.02)
            gctl.ok("image", "delete", image["id"])
        _, stderr = upload.communicate(timeout=60)
    finally:
        upload.kill()
    assert upload.returncode == 3, stderr
    assert b"was deleted while its data was being written" in stderr
    assert gctl.show(image["id"])["status"] == "deleted"
    assert not (home / "data" / image["id"]).exists()


def test_download_to_a_target_the_user_cannot_write_exits_2(gctl, home, tmp_path):
    source = tmp_path / "src.raw"
    source.write_bytes(b"y" * 10_000)
    image = gctl.create("data", *FORMATS, "--file", str(source))
    full = gctl("image", "download", image["id"], "--file", "/dev/full")
    assert full.exit_code == 2, full.stderr
    assert "cannot write /dev/full: No space left on device" in full.stderr
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        denied = gctl("image", "download", image["id"], "--file", str(locked / "out.raw"))
        assert denied.exit_code == 2 and "Permission denied" in denied.stderr
        assert list(locked.iterdir()) == []


def test_a_vanished_file_location_says_so_and_exits_7(gctl, tmp_path):
    target = tmp_path / "elsewhere.raw"
    target.write_bytes(b"z" * 5_000)
    image = gctl.create("located", *FORMATS, "--location", target.as_uri())
    target.unlink()
    result = gctl("image", "download", image["id"], "--file", str(tmp_path / "out.raw"))
    assert result.exit_code == 7, result.stderr
    assert f"cannot be read from its location {target.as_uri()}" in result.stderr
    assert f"glancectl image location remove {image['id']} {target.as_uri()}" in result.stderr
    assert not (tmp_path / "out.raw").exists()


def test_a_change_whose_output_cannot_be_written_exits_8_and_says_it_was_made(gctl, home):
    with open("/dev/full", "wb") as full:
        created = subprocess.run([sys.executable, str(LAUNCHER), "image", "create", "kept",
                                  "-f", "json"], stdout=full, stderr=subprocess.PIPE,
                                 env=launcher_env(home), timeout=60)
        listed = subprocess.run([sys.executable, str(LAUNCHER), "image", "list"], stdout=full,
                                stderr=subprocess.PIPE, env=launcher_env(home), timeout=60)
    assert created.returncode == 8, created.stderr
    assert b"the change was made and kept" in created.stderr
    assert b"No space left on device" in created.stderr
    assert b"Traceback" not in created.stderr and b"Exception ignored" not in created.stderr
    assert [i["name"] for i in gctl.ok("image", "list", "-f", "json").json()] == ["kept"]
    assert listed.returncode == 8, listed.stderr
    assert b"could not write to standard output" in listed.stderr
    assert b"change" not in listed.stderr


def test_a_change_with_stdout_closed_exits_8_and_says_it_was_made(gctl, home):
    created = subprocess.run([sys.executable, str(LAUNCHER), "image", "create", "closed", "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=launcher_env(home), timeout=60, preexec_fn=lambda: os.close(1))
    assert created.returncode == 8, created.stderr
    assert b"the change was made and kept" in created.stderr and b"it is closed" in created.stderr
    assert [i["name"] for i in gctl.ok("image", "list", "-f", "json").json()] == ["closed"]
    deleted = subprocess.run([sys.executable, str(LAUNCHER), "image", "delete", "closed"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=launcher_env(home), timeout=60, preexec_fn=lambda: os.close(1))
    assert deleted.returncode == 0, "a command with nothing to print does not need stdout"


@pytest.mark.parametrize("args,words", [
    (["--status", "actve"], "Invalid status value: 'actve'"),
    (["--status", "in:active,actve"], "Invalid status value: 'actve'"),
    (["--disk-format", "in:bogus"], "Invalid disk_format value: 'bogus'"),
    (["--container-format", "nope"], "Invalid container_format value: 'nope'"),
    (["--status", "in:"], "names no values"),
])
def test_an_invalid_filter_value_is_a_usage_error(gctl, args, words):
    gctl.create("any", *FORMATS)
    result = gctl("image", "list", *args)
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr and result.stdout == ""


def test_filter_values_are_checked_in_operations_for_every_face(home):
    # The HTTP face builds the same filter and calls the same operations: one check, one 400.
    with pytest.raises(InvalidValue, match="Invalid status value: 'actve'"):
        ImageFilter.build(exact={"status": "actve"})
    with pytest.raises(InvalidValue, match="Invalid visibility value"):
        ImageFilter.build(exact={}, visibility="everyone")
    with pytest.raises(InvalidValue, match="Invalid status value: 'done'"):
        tasks.list_tasks(Store(home), Settings(), status="done")
    assert ImageFilter.build(exact={"status": "in:active,killed"}).exact["status"] == {
        "active", "killed"}
