"""scrub and purge work a shard at a time and let go of the store lock, so users get in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

from glancectl import records
from tests.conftest import LAUNCHER, run_launcher

COUNT = 10_000  # scrub takes seconds, even on a quick machine
OLD = "2020-01-01T00:00:00Z"


def store_of_pending_deletes(home, count: int) -> list[str]:
    """``count`` images in pending_delete since 2020, each with a small data file.

    Written straight into the shard files, as a store of that size is; far
    quicker than thousands of create/upload/delete commands.
    """
    shards: dict[str, dict] = {}
    ids = []
    for i in range(count):
        record = records.new_image(
            image_id=str(uuid.uuid4()), name=f"old-{i}", disk_format="raw", container_format="bare",
            visibility="shared", protected=False, os_hidden=False, min_disk=0, min_ram=0,
            properties={}, tags=[], owner=records.current_owner())
        data = home / "data" / record["id"]
        record.update(status="pending_delete", size=4, deleted_at=OLD, updated_at=OLD,
                      locations=[{"url": data.as_uri(), "metadata": {}}])
        table = shards.setdefault(record["id"][:2], {})
        table[str(len(table) + 1)] = record
        ids.append(record["id"])
    for directory in (home, home / "images", home / "data"):
        directory.mkdir(mode=0o700, exist_ok=True)
    for prefix, table in shards.items():
        (home / "images" / f"{prefix}.json").write_text(json.dumps({"images": table}))
    for image_id in ids:
        (home / "data" / image_id).write_bytes(b"data")
    return ids


def test_scrub_lets_go_of_the_lock_so_a_concurrent_create_gets_in(home, tmp_path):
    ids = store_of_pending_deletes(home, COUNT)
    printed = tmp_path / "scrubbed"  # a file, not a pipe nobody reads while scrub runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCECTL_")}
    env["GLANCECTL_HOME"] = str(home)
    scrub = subprocess.Popen([sys.executable, str(LAUNCHER), "scrub", "-f", "value", "-c", "id"],
                             env=env, stdout=printed.open("wb"), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # Until its first shard is rewritten (a .bak appears), scrub is still reading.
        while scrub.poll() is None and not list((home / "images").glob("*.bak")):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        during = []
        writing_began = time.monotonic()
        while scrub.poll() is None and time.monotonic() < deadline:
            # A lock timeout well under the default 30 s: scrub lets go every second or so.
            created = run_launcher("--lock-timeout", "5", "image", "create", "during-scrub", "-q",
                                   home=home)
            assert created.returncode == 0, created.stderr.decode()
            if scrub.poll() is None:
                during.append(created.stdout.decode().strip())
        _, err = scrub.communicate(timeout=max(1, deadline - time.monotonic()))
        writing = time.monotonic() - writing_began
    finally:
        if scrub.poll() is None:
            scrub.kill()
    assert scrub.returncode == 0, err.decode()
    assert sorted(printed.read_text().split()) == sorted(ids)
    if writing > 5:  # longer than the creates' lock timeout: one must have got in meanwhile
        assert during, "no create finished while scrub ran: it never let go of the lock"
    assert not list((home / "data").iterdir()), "every scrubbed image's data is gone"
    statuses = {}
    for shard in (home / "images").glob("??.json"):
        for record in json.loads(shard.read_bytes())["images"].values():
            statuses[record["id"]] = record["status"]
    assert {statuses[i] for i in ids} == {"deleted"}
    assert all(statuses[i] == "queued" for i in during)


def test_purge_removes_every_old_record_and_leaves_the_rest(gctl, home):
    ids = store_of_pending_deletes(home, 300)
    kept = gctl.create("kept")
    scrubbed = gctl.ok("scrub", "-f", "value", "-c", "id").stdout.split()
    assert sorted(scrubbed) == sorted(ids)
    purged = gctl.ok("purge", "--age-in-days", "30", "-f", "value", "-c", "id").stdout.split()
    assert sorted(purged) == sorted(ids)
    assert gctl.ok("image", "list", "--deleted", "-q").stdout.split() == [kept["id"]]
    assert gctl.ok("doctor", "-f", "json").json() == []
