"""From the moment a task is recorded a live process owns it, or the task is provably abandoned.

The creator takes the task's lease before writing the record and hands the
locked file to the worker it starts. A task whose owner died before the
worker took it over is failed by whoever looks next, as a processing task
whose worker died is; it never stays pending for ever, blocking its image.
Only a task recorded with --no-worker waits, on purpose, for `task run`.
"""

from __future__ import annotations

import json
import time

import pytest

from glancectl import records
from glancectl.lifecycle import TaskStatus, is_final_task_status
from glancectl.operations import tasks as ops
from glancectl.store import Store
from tests.conftest import FORMATS
from tests.crash import crash_during, leftovers


def import_input(path) -> str:
    return json.dumps({"import_from": path.as_uri(), "import_from_format": "raw",
                       "image_properties": {"name": "imported"}})


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src.raw"
    path.write_bytes(b"x" * 100_000)
    return path


@pytest.fixture
def doomed_worker_env(tmp_path):
    """A PYTHONPATH whose sitecustomize kills a worker the moment it starts, before it
    can claim its task: what a SIGKILL, the OOM killer or a reboot does at that point."""
    directory = tmp_path / "doomed"
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "if 'run' in sys.argv and '--lease-fd' in sys.argv:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n")
    return {"PYTHONPATH": str(directory)}


def creator_killed_after_recording(home, source) -> str:
    """`task create`, SIGKILLed after the pending task is on disk, before any worker exists."""
    crash_during(home, "task", "create", "--type", "import", "--input", import_input(source),
                 at="glancectl.operations.tasks:spawn_worker")
    [task] = Store(home).tasks.all()
    assert task["status"] == "pending"
    return task["id"]


@pytest.mark.parametrize("looker", ["show", "list", "write", "doctor"])
def test_a_task_whose_creator_died_is_failed_by_whoever_looks_next(gctl, home, source, looker):
    task_id = creator_killed_after_recording(home, source)
    if looker == "show":
        shown = gctl.ok("task", "show", task_id, "-f", "json").json()
    elif looker == "list":
        assert [t["status"] for t in gctl.ok("task", "list", "-f", "json").json()] == ["failure"]
    elif looker == "write":
        gctl.ok("image", "create", "unrelated")
    else:
        report = gctl("doctor", "-f", "json")
        assert report.exit_code == 7, "doctor must not call the store healthy"
        assert [(f["check"], f["subject"]) for f in report.json()] == [("stuck-task", task_id)]
        gctl.ok("doctor", "--repair")
        gctl.ok("doctor")
    record = Store(home).tasks.get(task_id)
    assert record["status"] == "failure", looker
    assert "ended before the worker took the task over" in record["message"]
    assert record["expires_at"] is not None
    if looker == "show":
        assert shown["status"] == "failure" and shown["message"] == record["message"]
    assert leftovers(home) == []


def test_a_worker_dead_before_claiming_fails_wait_and_frees_the_image(
        gctl, home, source, doomed_worker_env):
    image = gctl.create("staged", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(source))
    waited = gctl("image", "import", image["id"], "--method", "glance-direct", "--wait",
                  env=doomed_worker_env)
    assert waited.exit_code == 130, waited.stderr
    assert "ended before the worker took the task over" in waited.stderr
    [task] = gctl.ok("image", "tasks", image["id"], "-f", "json").json()
    assert task["status"] == "failure"
    # The task touched nothing: the staged data waits for another import, which is not refused.
    assert gctl.show(image["id"])["status"] == "uploading"
    gctl.ok("image", "import", image["id"], "--method", "glance-direct", "--wait")
    assert gctl.show(image["id"])["status"] == "active"
    assert leftovers(home) == []


def test_a_worker_dead_before_claiming_never_blocks_its_image(gctl, home, source,
                                                               doomed_worker_env):
    image = gctl.create("queued", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(source))
    gctl.ok("image", "import", image["id"], "--method", "glance-direct", env=doomed_worker_env)
    [task] = Store(home).tasks.all()
    deadline = time.monotonic() + 30
    while Store(home).lease_is_live(task["id"]):  # its worker is starting, then dies
        assert time.monotonic() < deadline, "the worker never died"
        time.sleep(0.02)
    # No wait, no show: the next command on the image finds the task abandoned.
    gctl.ok("image", "import", image["id"], "--method", "glance-direct", "--wait")
    assert gctl.show(image["id"])["status"] == "active"
    statuses = sorted(t["status"] for t in gctl.ok("image", "tasks", image["id"], "-f", "json").json())
    assert statuses == ["failure", "success"]
    gctl.ok("doctor")


def test_a_no_worker_task_waits_for_task_run_and_nobody_fails_it(gctl, home, source):
    task = gctl.ok("task", "create", "--type", "import", "--input", import_input(source),
                   "--no-worker", "-f", "json").json()
    assert gctl.ok("task", "show", task["id"], "-f", "json").json()["status"] == "pending"
    assert [t["status"] for t in gctl.ok("task", "list", "-f", "json").json()] == ["pending"]
    gctl.ok("image", "create", "a-write")
    gctl.ok("doctor")
    assert Store(home).tasks.get(task["id"])["status"] == "pending"
    ran = gctl.ok("task", "run", "--task", task["id"], "-f", "json").json()
    assert ran[0]["status"] == "success"
    assert leftovers(home) == []


def test_a_task_restored_from_a_backup_does_not_blame_a_worker(gctl, home, source):
    task = gctl.ok("task", "create", "--type", "import", "--input", import_input(source),
                   "--no-worker", "-f", "json").json()
    gctl.ok("task", "run", "--task", task["id"])
    # doctor --repair puts back the shard's previous version, in which the task was
    # processing; its worker ended normally and let go of the task long ago.
    shard = Store(home).tasks.shard_path(task["id"])
    shard.write_text("{damaged")
    gctl.ok("doctor", "--repair")  # it finds the restored task abandoned, and fails it
    shown = gctl.ok("task", "show", task["id"], "-f", "json").json()
    assert shown["status"] == "failure"
    assert "ended before finishing" not in shown["message"]
    assert "restored from a backup" in shown["message"]


def _must_be_owned_one_task_at_a_time(task: dict) -> bool:
    """The rule, written out per task: unfinished, and not left pending on purpose."""
    if task["status"] == TaskStatus.PENDING and task.get(ops.RUN_LATER):
        return False
    return not is_final_task_status(task["status"])


def test_the_tasks_a_listing_settles_are_the_ones_the_rule_names_one_at_a_time():
    later_values = [None, True, False, 1, 0, "", "yes"]  # None: no run_later at all
    tasks = []
    for status in [*TaskStatus, *(s.value for s in TaskStatus)]:  # enum members and stored strings
        for later in later_values:
            task = {"id": f"t{len(tasks)}", "status": status}
            if later is not None:
                task[ops.RUN_LATER] = later
            tasks.append(task)
    expected = [i for i, task in enumerate(tasks) if _must_be_owned_one_task_at_a_time(task)]
    assert expected  # pending without run_later, and processing, whatever run_later says
    assert ops.owned_positions(tasks) == expected
    for shuffled in (tasks[::-1], tasks[1::2], [t for t in tasks if is_final_task_status(t["status"])]):
        assert ops.owned_positions(shuffled) == [
            i for i, task in enumerate(shuffled) if _must_be_owned_one_task_at_a_time(task)]
    assert ops.owned_positions([]) == []


def test_a_listing_fails_a_pending_task_whose_owner_died_beside_ones_pending_on_purpose(gctl, home):
    """Neither a worker nor run_later: restored from a backup, say. Shards full of tasks
    pending on purpose around it must not hide it, and are left alone."""
    store = Store(home)
    kept = []
    with store.writing():
        for _ in range(300):  # most shards hold some
            task = records.new_task(task_type="import", task_input={}, owner="root")
            ops.insert(store, task, run_later=True)
            kept.append(task["id"])
        orphan = records.new_task(task_type="import", task_input={}, owner="root")
        store.tasks.insert(orphan)  # no lease was ever taken: nobody owns it
    listed = {t["id"]: t["status"] for t in gctl.ok("task", "list", "-f", "json").json()}
    assert listed.pop(orphan["id"]) == "failure"
    assert set(listed.values()) == {"pending"} and sorted(listed) == sorted(kept)
    failed = Store(home).tasks.get(orphan["id"])
    assert failed["status"] == "failure" and failed["message"] == ops.NO_OWNER
    assert all(Store(home).tasks.get(i)["status"] == "pending" for i in kept)
