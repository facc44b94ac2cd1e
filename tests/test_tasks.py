"""Tasks through the CLI: create/list/show/run, the import task, workers, expiry.

Most tests record tasks with --no-worker and work them with `task run` in
this process; the ones about the worker itself start real worker processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from datetime import timedelta

import pytest

from glancectl.records import parse_time
from glancectl.store import Store
from tests.conftest import FORMATS
from tests.httpserver import http_server  # noqa: F401  (fixture)

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def blob() -> bytes:
    return os.urandom(3 * MiB + 17)


def import_input(url: str, fmt: str = "raw", **properties) -> str:
    return json.dumps({"import_from": url, "import_from_format": fmt,
                       "image_properties": {"name": "imported", **properties}})


def create_task(gctl, *args: str, env=None):
    return gctl("task", "create", "--type", "import", "-f", "json", *args, env=env)


def task_record(home, task_id: str) -> dict:
    """The stored record, hidden bookkeeping included."""
    return Store(home).tasks.get(task_id)


def leftovers(home) -> list:
    return [p for p in home.rglob("*") if ".tmp-" in p.name] + sorted((home / "leases").glob("*"))


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/disk.img"


# -- create: Glance's refusals -------------------------------------------------
@pytest.mark.parametrize("args,wording", [
    (["--type", "foo", "--input", "{}"], "Provided type of task is unsupported: foo"),
    (["--type", "location_import", "--input", "{}"],
     "Provided type of task is unsupported: location_import"),
    (["--type", "import"], "Task 'input' is required"),
    (["--input", "{}"], "Task 'type' is required"),
    (["--type", "import", "--input", "{not json"], "--input is not valid JSON"),
    (["--type", "import", "--input", "[1]"], "Task 'input' must be a JSON object"),
    (["--type", "import", "--input", "{}"], "Input does not contain 'import_from' field"),
    (["--type", "import", "--input", '{"import_from": "http://x/y"}'],
     "Input does not contain 'import_from_format' field"),
    (["--type", "import", "--input", '{"import_from": "http://x/y", "import_from_format": "raw"}'],
     "Input does not contain 'image_properties' field"),
    (["--type", "import", "--input", import_input("ftp://x/y")],
     "import_from must be a URL starting with file://, http:// or https://"),
    (["--type", "import", "--input", import_input("http://x/y", "floppy")], "Invalid disk format"),
    (["--type", "import", "--input", import_input("http://x/y", disk_format="qcow2")],
     "glancectl does not convert images"),
    (["--type", "import", "--input", import_input("http://x/y", size=3)],
     "Attribute 'size' is read-only."),
    (["--type", "import", "--input", import_input("http://x/y", min_ram="lots")],
     "image_properties 'min_ram' must be int"),
    (["--type", "api_image_import", "--input", "{}"], "Input to api_image_import task is empty."),
    (["--type", "api_image_import", "--input", '{"import_req": {}}'],
     "Missing required 'image_id' field"),
])
def test_create_refuses_bad_type_and_input_with_glance_wording(gctl, home, args, wording):
    result = gctl("task", "create", *args)
    assert result.exit_code == 2, result.stderr
    assert wording in result.stderr
    assert result.stdout == ""
    assert gctl.ok("task", "list", "-f", "json").json() == []


def test_input_from_file_and_stdin(gctl, tmp_path, blob):
    source = tmp_path / "src.raw"
    source.write_bytes(blob)
    spec = tmp_path / "import.json"
    spec.write_text(import_input(source.as_uri()))
    from_file = create_task(gctl, "--input", f"@{spec}", "--no-worker")
    from_stdin = gctl("task", "create", "--type", "import", "--input", "@-", "--no-worker",
                      "-f", "json", input=spec.read_text())
    for result in (from_file, from_stdin):
        assert result.exit_code == 0, result.stderr
        assert result.json()["input"]["import_from"] == source.as_uri()
    missing = gctl("task", "create", "--type", "import", "--input", f"@{tmp_path}/nope.json")
    assert missing.exit_code == 2 and "cannot read --input file" in missing.stderr


# -- the worker: returns at once, works in the background -------------------------
def test_create_returns_pending_at_once_and_a_worker_finishes_it(gctl, home, http_server, blob):
    url = http_server.add_slow("/disk.img", blob, chunk_size=MiB, delay=0.2)
    started = time.monotonic()
    created = create_task(gctl, "--input", import_input(url, min_ram=512, tags=["gold"],
                                                         os_distro="cirros"))
    elapsed = time.monotonic() - started
    assert created.exit_code == 0, created.stderr
    task = created.json()
    assert task["status"] == "pending" and task["result"] is None and task["message"] == ""
    assert task["expires_at"] is None
    assert elapsed < 0.6, f"task create took {elapsed:.2f} s; it must not wait for the download"
    assert set(task) == {"id", "type", "status", "input", "result", "message", "owner",
                         "expires_at", "created_at", "updated_at", "self", "schema"}
    deadline = time.monotonic() + 20
    while (shown := gctl.ok("task", "show", task["id"], "-f", "json").json())["status"] in (
            "pending", "processing"):
        assert time.monotonic() < deadline, shown
        time.sleep(0.05)
    assert shown["status"] == "success", shown["message"]
    image = gctl.show(shown["result"]["image_id"])
    assert shown["image_id"] == image["id"]
    assert image["status"] == "active" and image["name"] == "imported"
    assert image["min_ram"] == 512 and image["tags"] == ["gold"] and image["os_distro"] == "cirros"
    assert (image["disk_format"], image["container_format"]) == ("raw", "bare")
    assert image["os_hash_value"] == hashlib.sha512(blob).hexdigest()
    assert leftovers(home) == []


def test_wait_shows_the_finished_task_and_its_expiry(gctl, home, http_server, blob):
    url = http_server.add("/disk.img", blob)
    result = create_task(gctl, "--wait", "--input", import_input(url))
    assert result.exit_code == 0, result.stderr
    task = result.json()
    assert task["status"] == "success"
    assert task["result"] == {"image_id": task["image_id"]}
    finished = parse_time(task["updated_at"])
    assert parse_time(task["expires_at"]) - finished == timedelta(hours=48)
    assert result.stderr == "", "no progress drawn when stderr is not a terminal"
    assert gctl.show(task["image_id"])["size"] == len(blob)


@pytest.mark.parametrize("case", ["unreachable", "http_404", "size_cap", "format_mismatch"])
def test_failed_import_task_says_why_and_wait_exits_with_its_code(gctl, home, http_server, blob,
                                                                   case):
    env = None
    fmt = "raw"
    if case == "unreachable":
        url, code, words, image_status = closed_port_url(), 2, "could not reach 127.0.0.1", None
    elif case == "http_404":
        url, code, words, image_status = http_server.url("/missing.img"), 2, "HTTP 404", None
    elif case == "size_cap":
        # Chunked: no length up front, so the cap is crossed in the middle of the stream.
        url = http_server.add("/big.img", blob, framing="chunked")
        env = {"GLANCECTL_IMAGE_SIZE_CAP": str(MiB)}
        code, words, image_status = 6, f"larger than {MiB} bytes", "queued"
    else:
        url, fmt = http_server.add("/raw.img", blob), "qcow2"
        code, words, image_status = 5, "qcow2", "killed"
    result = create_task(gctl, "--wait", "--input", import_input(url, fmt), env=env)
    assert result.exit_code == code, result.stderr
    task = result.json()
    assert task["status"] == "failure" and task["result"] is None
    assert words in task["message"]
    assert result.stderr.startswith(f"Error: task {task['id']} failed: ")
    assert task["expires_at"] is not None
    if image_status is None:  # the source never opened: no image was made
        assert "image_id" not in task and gctl.ok("image", "list", "-f", "json").json() == []
    else:
        image = gctl.show(task["image_id"])
        assert image["status"] == image_status and image["size"] is None
    assert leftovers(home) == []


# -- list, show, run ---------------------------------------------------------------
def test_list_filters_sorts_and_pages(gctl, tmp_path, blob):
    source = tmp_path / "src.raw"
    source.write_bytes(blob)
    ids = [create_task(gctl, "--no-worker", "--input", import_input(source.as_uri())).json()["id"]
           for _ in range(3)]
    broken = create_task(gctl, "--no-worker",
                         "--input", import_input((tmp_path / "gone.raw").as_uri())).json()["id"]
    listed = gctl.ok("task", "list", "-f", "json").json()
    assert sorted(t["id"] for t in listed) == sorted([*ids, broken])
    assert [t["id"] for t in listed] == [broken, *ids[::-1]], "newest first"
    assert set(listed[0]) == {"id", "type", "status", "owner", "expires_at", "created_at",
                              "updated_at", "self", "schema"}, "Glance's list omits input/result"
    run = gctl("task", "run", "-f", "json")
    assert run.exit_code == 2, "the worst failure decides the exit code: a missing source is 2"
    assert sorted(t["status"] for t in run.json()) == ["failure", "success", "success", "success"]
    assert gctl.ok("task", "list", "--status", "failure", "-q").stdout.split() == [broken]
    assert len(gctl.ok("task", "list", "--type", "import", "-q").stdout.split()) == 4
    assert gctl.ok("task", "list", "--type", "api_image_import", "-q").stdout == ""
    by_status = gctl.ok("task", "list", "--sort", "status:asc", "-f", "json").json()
    assert [t["status"] for t in by_status] == ["failure", "success", "success", "success"]
    everything = gctl.ok("task", "list", "--sort", "id:asc", "-q").stdout.split()
    assert everything == sorted([*ids, broken])
    page = gctl.ok("task", "list", "--sort", "id:asc", "--marker", everything[1], "--limit", "1",
                   "-q").stdout.split()
    assert page == [everything[2]]
    assert gctl("task", "list", "--marker", "4b7e1b3c-6b1e-4c59-9d0e-6a1e6f7f0c11").exit_code == 3
    assert gctl("task", "list", "--sort", "name").exit_code == 2
    assert gctl("task", "list", "--status", "done").exit_code == 2


def test_show_unknown_task_is_not_found(gctl):
    for ref in ("4b7e1b3c-6b1e-4c59-9d0e-6a1e6f7f0c11", "nope"):
        result = gctl("task", "show", ref)
        assert result.exit_code == 3 and f"No task with an ID of '{ref}' exists." in result.stderr


def test_run_with_nothing_pending(gctl):
    result = gctl.ok("task", "run")
    assert result.stdout == "" and "No pending tasks." in result.stderr
    assert gctl.ok("task", "run", "-f", "json").json() == []


# -- the task lifecycle through the public commands ------------------------------------
def test_every_task_transition_through_the_commands(gctl, home, tmp_path, blob):
    source = tmp_path / "src.raw"
    source.write_bytes(blob)
    # pending -> processing -> success
    ok = create_task(gctl, "--no-worker", "--input", import_input(source.as_uri())).json()
    assert ok["status"] == "pending"
    assert gctl.ok("task", "run", "--task", ok["id"], "-f", "json").json()[0]["status"] == "success"
    # pending -> processing -> failure
    bad = create_task(gctl, "--no-worker",
                      "--input", import_input((tmp_path / "gone").as_uri())).json()
    failed = gctl("task", "run", "--task", bad["id"], "-f", "json")
    assert failed.exit_code == 2 and failed.json()[0]["status"] == "failure"
    assert "No such file or directory" in failed.json()[0]["message"]
    # pending -> failure: its image was deleted before a worker took it
    image = gctl.create("victim", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(source))
    gctl.ok("image", "import", image["id"], "--method", "glance-direct", "--no-worker")
    doomed = gctl.ok("image", "tasks", image["id"], "-f", "json").json()[0]
    gctl.ok("image", "delete", image["id"])
    never = gctl("task", "run", "-f", "json")
    assert never.exit_code == 3, never.stderr
    [outcome] = never.json()
    assert outcome["id"] == doomed["id"] and outcome["status"] == "failure"
    assert "was deleted before its import could start" in outcome["message"]
    assert task_record(home, doomed["id"]).get("worker_pid") is None, "it never processed"
    # success and failure are final: running them again changes nothing
    for done in (ok, bad, doomed):
        before = task_record(home, done["id"])
        again = gctl("task", "run", "--task", done["id"], "-f", "json")
        assert again.json()[0]["status"] == before["status"]
        assert task_record(home, done["id"]) == before
    assert gctl.ok("task", "run", "-f", "json").json() == []


# -- expiry ------------------------------------------------------------------------------
def test_finished_tasks_expire_and_purge_removes_them(gctl, tmp_path, blob):
    source = tmp_path / "src.raw"
    source.write_bytes(blob)
    keep = create_task(gctl, "--no-worker", "--input", import_input(source.as_uri())).json()
    gctl.ok("task", "run")
    now_ttl = {"GLANCECTL_TASK_TIME_TO_LIVE": "0"}
    gone = create_task(gctl, "--no-worker", "--input", import_input(source.as_uri())).json()
    pending = create_task(gctl, "--no-worker", "--input", import_input(source.as_uri())).json()
    gctl.ok("task", "run", "--task", gone["id"], env=now_ttl)
    shown = gctl.ok("task", "show", gone["id"], "-f", "json").json()
    assert shown["expires_at"] == shown["updated_at"]
    dry = gctl.ok("purge", "--dry-run", "-f", "json").json()
    assert [(a["kind"], a["id"]) for a in dry] == [("task", gone["id"])]
    gctl.ok("task", "show", gone["id"])
    gctl.ok("purge", "-f", "json")
    assert gctl("task", "show", gone["id"]).exit_code == 3
    left = gctl.ok("task", "list", "-q").stdout.split()
    assert sorted(left) == sorted([keep["id"], pending["id"]]), "unfinished and unexpired stay"


# -- a worker that dies -----------------------------------------------------------------
def wait_for(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value


@pytest.mark.slow
def test_killed_worker_is_found_by_its_lease_and_failed_by_task_run(gctl, home, http_server, blob):
    url = http_server.add_slow("/slow.img", blob, chunk_size=256 * 1024, delay=0.1)
    task = create_task(gctl, "--input", import_input(url)).json()

    def saving():
        record = task_record(home, task["id"])
        if record["status"] != "processing" or not record.get("image_id"):
            return None
        image = Store(home).images.get(record["image_id"])
        return record if image["status"] == "saving" else None

    record = wait_for(saving, "the worker to start saving")
    # A live worker is never taken for a dead one, however long it has been at it.
    assert gctl.ok("task", "run", "-f", "json").json() == []
    assert task_record(home, task["id"])["status"] == "processing"
    os.kill(record["worker_pid"], signal.SIGKILL)
    wait_for(lambda: not Store(home).lease_is_live(task["id"]), "the lease to drop")

    result = gctl("task", "run", "-f", "json")
    assert result.exit_code == 0 and result.json() == [], "it worked nothing itself"
    assert f"Task {task['id']} had lost its worker" in result.stderr
    shown = gctl.ok("task", "show", task["id"], "-f", "json").json()
    assert shown["status"] == "failure"
    assert f"process {record['worker_pid']}" in shown["message"]
    assert "ended before finishing" in shown["message"]
    image = gctl.show(record["image_id"])
    assert image["status"] == "queued" and image["size"] is None
    assert leftovers(home) == []
    assert not (home / "data" / record["image_id"]).exists()


def test_wait_without_a_worker_is_refused_before_anything_is_recorded(gctl, tmp_path):
    source = tmp_path / "src.raw"
    source.write_bytes(b"x" * 1000)
    result = create_task(gctl, "--no-worker", "--wait", "--input", import_input(source.as_uri()))
    assert result.exit_code == 2 and "--wait needs a worker" in result.stderr
    assert gctl.ok("task", "list", "-q").stdout == ""
    image = gctl.create("g", *FORMATS)
    gctl.ok("image", "stage", image["id"], "--file", str(source))
    refused = gctl("image", "import", image["id"], "--method", "glance-direct", "--no-worker", "--wait")
    assert refused.exit_code == 2
    assert gctl.ok("task", "list", "-q").stdout == ""
    gctl.ok("image", "import", image["id"], "--method", "glance-direct", "--wait")
    assert gctl.show(image["id"])["status"] == "active"
