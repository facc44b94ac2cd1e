"""Reproductions from a hostile review of the task summaries (branch attack-summaries): each
test shows a listing, or doctor, that behaves differently because the summaries exist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from glancectl import records
from glancectl.storage import write_atomic
from glancectl.store import Store

from tests.test_summaries import from_the_shards, listing, summaries_finding, task_shard

PAST_64_BITS = 2**70  # json reads it exactly, orjson as a float; orjson cannot write it


def a_task(home: Path, task_id: str | None = None, **fields) -> dict:
    """A task left pending on purpose, written by glancectl (its summary with it)."""
    store = Store(home)
    task = records.new_task(task_type="import", task_input={}, owner="someone")
    if task_id is not None:
        task["id"] = task_id
    task.update(run_later=True, **fields)
    with store.writing():
        store.tasks.insert(task)
    return task


def same_shard(task_id: str) -> str:
    return task_id[:2] + records.new_task(task_type="import", task_input={}, owner="x")["id"][2:]


def test_doctor_finds_nothing_wrong_after_a_write_of_a_shard_holding_an_integer_past_64_bits(gctl, home):
    """A hand-edited owner past 64 bits: doctor --repair writes the summary from the shard as
    a listing reads it (orjson: a float), but the next glancectl write of that shard derives
    it from the exact integer it holds, which orjson cannot write, so writes none. doctor then
    reports the summaries out of date again (exit 7), after every such write."""
    task = a_task(home)
    shard = task_shard(home, task["id"])
    doc = json.loads(shard.read_bytes())
    next(iter(doc["tasks"].values()))["owner"] = PAST_64_BITS
    write_atomic(shard, json.dumps(doc).encode())
    gctl.ok("doctor", "--repair")
    assert summaries_finding(gctl) is None
    a_task(home, same_shard(task["id"]))  # a glancectl write of that shard
    assert listing(gctl, "-f", "json") == from_the_shards(gctl, home, "-f", "json")
    assert summaries_finding(gctl) is None, "the summary the write made does not fit"
    assert gctl("doctor").exit_code == 0


@pytest.fixture
def coarse_disk(tmp_path):
    """A real ext4 whose files' times count whole seconds (128-byte inodes, as ext3 and old
    ext4 file systems have them), where this machine lets us make and mount one."""
    image, mount = tmp_path / "coarse.img", tmp_path / "coarse"
    mount.mkdir()
    with open(image, "wb") as handle:
        handle.truncate(32 * 1024 * 1024)
    try:
        made = subprocess.run(["mkfs.ext4", "-q", "-F", "-I", "128", str(image)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mkfs.ext4 here")
    if made.returncode != 0:
        pytest.skip(f"cannot make an ext4 file system here: {made.stderr.decode().strip()}")
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {mounted.stderr.decode().strip()}")
    try:
        if os.stat(mount).st_mtime_ns % 1_000_000_000:
            pytest.skip("this ext4 keeps times finer than a second")
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _in_place(shard: Path, edited: bytes) -> None:
    before = shard.stat()
    with open(shard, "r+b") as handle:
        handle.write(edited)
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))


def _sed_twice(shard: Path, edited: bytes) -> None:
    """Two edits by tools that write a new file and rename it over the shard (sed -i, an
    editor): the second new file takes the inode number the shard had, freed by the first."""
    for text in (edited.replace(b'"status":"success"', b'"status":"failure"'), edited):
        tmp = shard.with_name("sed-tmp")
        tmp.write_bytes(text)
        os.replace(tmp, shard)


@pytest.mark.parametrize("edit", [_in_place, _sed_twice], ids=["in place, times put back", "sed -i twice"])
def test_a_shard_edited_in_the_second_it_was_written_is_never_shown_stale(gctl, coarse_disk, edit):
    """Where a file's times count whole seconds, the shard's identity (inode, size, mtime,
    ctime) does not change when it is edited within the second glancectl wrote it: an edit
    in place keeps the inode and, with its mtime put back, every time; and a file written
    and renamed over it may take the inode number the shard had. The summary then names
    the edited file, and the listing shows the task as it was before the edit."""
    home = coarse_disk / "home"
    gctl.env["GLANCECTL_HOME"] = str(home)
    task = a_task(home)
    shard = task_shard(home, task["id"])
    store = Store(home)
    for _ in range(5):
        while time.time() % 1 > 0.2:  # early in a second: the write and the edit share it
            time.sleep(0.01)
        with store.writing():  # a glancectl write of the shard: a new file and its summary
            store.tasks.update(task["id"], {"message": ""})
        written = shard.stat()
        text = shard.read_bytes()
        edited = text.replace(b'"status":"pending"', b'"status":"success"')
        assert edited != text and len(edited) == len(text)
        edit(shard, edited)
        if shard.stat().st_ctime_ns == written.st_ctime_ns:
            break
        write_atomic(shard, text)  # a second went by: start again
    else:
        pytest.skip("could not edit the shard within the second it was written")
    assert json.loads(shard.read_bytes())["tasks"]["1"]["status"] == "success"
    assert gctl.ok("task", "show", task["id"], "-f", "json").json()["status"] == "success"
    shown = {t["id"]: t["status"] for t in json.loads(listing(gctl, "-f", "json"))}
    assert shown[task["id"]] == "success", "the listing trusted the summary of the shard before the edit"
    assert listing(gctl) == from_the_shards(gctl, home)
