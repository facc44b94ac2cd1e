"""Real `glancectl image upload` processes interrupted mid-stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from glancectl.store import Store
from tests.conftest import FORMATS, run_launcher, start_launcher
from tests.crash import crash_during
from tests.crash import leftovers as dead_writer_leftovers

pytestmark = pytest.mark.slow
MiB = 1024 * 1024


def start_upload(home, image_id):
    return start_launcher("image", "upload", image_id, home=home, stdin=subprocess.PIPE)


def show(home, image_id) -> dict:
    result = run_launcher("image", "show", image_id, "-f", "json", home=home)
    return json.loads(result.stdout)


def feed_until_saving(proc, home, image_id) -> None:
    deadline = time.monotonic() + 20
    while show(home, image_id)["status"] != "saving":
        proc.stdin.write(os.urandom(MiB))
        proc.stdin.flush()
        assert time.monotonic() < deadline, "upload never reached saving"
    for _ in range(3):  # some data is in flight when the signal lands
        proc.stdin.write(os.urandom(MiB))
        proc.stdin.flush()


def leftovers(home) -> list:
    data = home / "data"
    return [p for p in home.rglob("*") if ".tmp-" in p.name] + (list(data.iterdir()) if data.exists() else [])


def create(home) -> str:
    made = run_launcher("image", "create", "victim", *FORMATS, "-q", home=home)
    assert made.returncode == 0, made.stderr
    return made.stdout.decode().strip()


@pytest.mark.parametrize("sig, code, words", [
    (signal.SIGINT, 130, "interrupted"),  # Ctrl-C
    (signal.SIGTERM, 143, "terminated"),  # timeout(1), docker stop, systemd
])
def test_ctrl_c_or_sigterm_mid_upload_requeues_and_retry_works(tmp_path, sig, code, words):
    home = tmp_path / "h"
    image_id = create(home)
    proc = start_upload(home, image_id)
    feed_until_saving(proc, home, image_id)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert err.decode().count("\n") == 1 and words in err.decode()
    after = show(home, image_id)
    assert after["status"] == "queued" and after["size"] is None
    assert leftovers(home) == []
    data = os.urandom(2 * MiB)
    retry = run_launcher("image", "upload", image_id, input=data, home=home)
    assert retry.returncode == 0, retry.stderr
    assert show(home, image_id)["size"] == len(data)


def test_sigterm_mid_create_with_file_leaves_no_image(tmp_path):
    home = tmp_path / "h"
    proc = start_launcher("image", "create", "doomed", *FORMATS, "--file", "-", "-q", home=home,
                          stdin=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while not listed(home, "--status", "saving"):
        proc.stdin.write(os.urandom(MiB))
        proc.stdin.flush()
        assert time.monotonic() < deadline, "create never reached saving"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert out == b"" and "terminated" in err.decode()
    assert listed(home, "--deleted") == []
    assert leftovers(home) == []


def listed(home, *args) -> list:
    result = run_launcher("image", "list", *args, "-q", home=home)
    return result.stdout.decode().split()


def test_sigkill_mid_upload_is_settled_by_the_next_command(tmp_path):
    home = tmp_path / "h"
    image_id = create(home)
    proc = start_upload(home, image_id)
    feed_until_saving(proc, home, image_id)
    proc.kill()
    proc.wait(timeout=30)
    assert Store(home).images.get(image_id)["status"] == "saving", "the record is as the dead process left it"
    # Any write settles it: the lease died with the process.
    assert run_launcher("image", "create", "bystander", "-q", home=home).returncode == 0
    after = show(home, image_id)
    assert after["status"] == "queued"
    assert leftovers(home) == []
    data = os.urandom(MiB)
    retry = run_launcher("image", "upload", image_id, input=data, home=home)
    assert retry.returncode == 0, retry.stderr
    assert show(home, image_id)["status"] == "active"


def test_a_listing_settles_a_dead_writers_image_and_leaves_a_live_one_saving(tmp_path):
    """A read shows a dead writer's image as the next write would leave it; an upload
    still running is left alone, in the listing and in the store."""
    home = tmp_path / "h"
    dead_id, live_id = create(home), create(home)
    dead, live = start_upload(home, dead_id), start_upload(home, live_id)
    try:
        feed_until_saving(dead, home, dead_id)
        feed_until_saving(live, home, live_id)
        dead.kill()  # after both took the lock: no write settles it before the listing
        dead.wait(timeout=30)
        assert Store(home).images.get(dead_id)["status"] == "saving"
        for args in (["-f", "json"], ["-f", "value", "-c", "id", "-c", "status"]):
            result = run_launcher("image", "list", *args, home=home)
            assert result.returncode == 0, result.stderr
            if args[1] == "json":
                statuses = {i["id"]: i["status"] for i in json.loads(result.stdout)}
            else:
                statuses = dict(line.split() for line in result.stdout.decode().splitlines())
            assert statuses == {dead_id: "queued", live_id: "saving"}
        assert Store(home).images.get(live_id)["status"] == "saving"
    finally:
        for proc in (dead, live):
            proc.kill()
            proc.wait(timeout=30)


@pytest.mark.parametrize("at, after", [
    ("glancectl.datafiles:new_data_temp", False),  # saving, before the first byte
    ("glancectl.datafiles:commit", True),  # data in place, the record not yet active
])
def test_upload_killed_at_either_end_is_settled_by_the_next_command(tmp_path, at, after):
    home = tmp_path / "h"
    image_id = create(home)
    crash_during(home, "image", "upload", image_id, at=at, after=after, input=os.urandom(MiB))
    assert Store(home).images.get(image_id)["status"] == "saving"
    assert run_launcher("image", "create", "bystander", "-q", home=home).returncode == 0
    after_crash = show(home, image_id)
    assert after_crash["status"] == "queued" and after_crash["locations"] == []
    assert leftovers(home) == [] and dead_writer_leftovers(home) == []


def test_first_write_killed_mid_meta_leaves_no_temp_after_the_next_command(tmp_path):
    home = tmp_path / "h"
    crash_during(home, "image", "create", "first", at="glancectl.storage:create_temp", after=True)
    assert [p.name for p in home.glob(".meta.json.tmp-*")], "the crash left meta.json's temp"
    assert run_launcher("image", "create", "second", "-q", home=home).returncode == 0
    assert dead_writer_leftovers(home) == []


def test_write_killed_between_its_two_renames_leaves_no_temp_behind(tmp_path):
    """A kill after the .bak link but before the new file lands leaves .bak and the shard one
    inode; renaming onto the same inode is a no-op, which once leaked the link's temp name."""
    home = tmp_path / "h"
    image_id = create(home)
    crash_during(home, "image", "set", image_id, "--name", "renamed", at="os:replace", after=True)
    assert show(home, image_id)["name"] == "victim", "the old copy stands"
    again = run_launcher("image", "set", image_id, "--name", "again", home=home)
    assert again.returncode == 0, again.stderr
    assert dead_writer_leftovers(home) == []
    assert show(home, image_id)["name"] == "again"


def test_a_dead_workers_lease_on_a_finished_task_is_cleared_by_the_next_write(tmp_path):
    """A worker killed after recording its task's end, before releasing its lease."""
    import fcntl
    import multiprocessing

    from glancectl.operations.recovery import sweep

    home = tmp_path / "h"
    task_id = "0d9f4c7e-8a3b-4c1e-9f00-00000000abcd"
    store = Store(home, after_lock=sweep)
    with store.writing():
        store.tasks.insert({"id": task_id, "type": "import", "status": "success",
                            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"})

    def hold_lease_and_die():
        Store(home).take_lease(task_id)
        os._exit(0)  # dies holding it; the kernel drops the flock, the file stays

    child = multiprocessing.get_context("fork").Process(target=hold_lease_and_die)
    child.start()
    child.join(timeout=30)
    lease = home / "leases" / f"{task_id}.lock"
    assert lease.exists()
    fd = os.open(lease, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody holds it any more
    os.close(fd)
    with store.writing():
        pass
    assert not lease.exists()
    assert store.tasks.get(task_id)["status"] == "success"


@pytest.mark.parametrize("command", ["location add", "download --file"])
def test_sigterm_mid_read_of_a_location_changes_nothing(tmp_path, command):
    """Every data command settles a TERM: here the two that read a slow location."""
    from tests.httpserver import ServedFiles

    home = tmp_path / "h"
    image_id = create(home)
    blob = os.urandom(8 * MiB)
    out = tmp_path / "out.raw"
    with ServedFiles() as served:
        if command == "download --file":
            added = run_launcher("image", "location", "add", image_id, served.add("/d", blob),
                                 home=home)
            assert added.returncode == 0, added.stderr
        url = served.add_slow("/d", blob, chunk_size=64 * 1024, delay=0.1, max_seconds=30)
        before = show(home, image_id)
        args = (["image", "location", "add", image_id, url] if command == "location add"
                else ["image", "download", image_id, "--file", str(out)])
        proc = start_launcher(*args, home=home)
        deadline = time.monotonic() + 20
        while sum(r.method == "GET" for r in served.requests) < (2 if "download" in command else 1):
            assert time.monotonic() < deadline, "the command never started reading"
            time.sleep(0.05)
        time.sleep(0.3)  # some bytes are in flight when the signal lands
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "terminated" in err.decode()
    assert show(home, image_id) == before
    assert not out.exists() and list(tmp_path.glob(".out.raw*")) == []
