"""`glancectl doctor`: what it finds, what --repair fixes, and what it never does."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import time
import uuid

import pytest

from glancectl.store import Store
from tests.conftest import FORMATS
from tests.crash import crash_during


def doctor(gctl, *args: str):
    result = gctl("doctor", "-f", "json", *args)
    return result, result.json()


def by_check(findings) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for finding in findings:
        grouped.setdefault(finding["check"], []).append(finding)
    return grouped


def with_data(gctl, name: str, data: bytes, *args: str) -> dict:
    return gctl.ok("image", "create", name, *FORMATS, "--file", "-", "-f", "json", *args,
                   input=data).json()


def same_shard_id(image_id: str) -> str:
    return image_id[:2] + str(uuid.uuid4())[2:]


def shard_of(home, image_id: str):
    return home / "images" / f"{image_id[:2]}.json"


def test_missing_store_and_healthy_store(gctl, home):
    result = gctl("doctor")
    assert result.exit_code == 0 and "No store" in result.stderr
    assert not home.exists(), "doctor never creates a store"
    with_data(gctl, "a", os.urandom(70_000))
    gctl.create("q", *FORMATS)
    result, findings = doctor(gctl, "--verify-data")
    assert result.exit_code == 0 and findings == []
    assert "healthy: checked 2 images, 0 tasks, 1 data files (70000 bytes hashed)" in result.stderr
    table = gctl("doctor", "--repair")
    assert table.exit_code == 0 and table.stdout == ""


def test_damaged_shard_is_reported_then_restored_naming_the_lost_record(gctl, home):
    kept = gctl.create("kept")
    lost_id = same_shard_id(kept["id"])
    gctl.ok("image", "create", "lost", "--id", lost_id)  # the last write to the shard
    shard = shard_of(home, kept["id"])
    raw = shard.read_bytes()
    truncated = raw[: raw.index(lost_id.encode()) + 60]
    shard.write_bytes(truncated)
    result = gctl("image", "list")
    assert result.exit_code == 7 and str(shard) in result.stderr

    result, findings = doctor(gctl)
    assert result.exit_code == 7
    assert [(f["check"], f["subject"], f["fixed"]) for f in findings] == [
        ("record-file", f"images/{shard.name}", False)]
    assert findings[0]["action"].startswith("--repair will restore it from")
    assert shard.read_bytes() == truncated, "without --repair nothing changes"

    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 0, result.stderr
    finding, index, rendered, summarised = findings
    assert finding["fixed"] and f"lost: {lost_id}" in finding["action"]
    # The restored shard was written without the name index, its rendering or its summary:
    # all are written again in the same pass.
    assert (index["check"], index["subject"], index["fixed"]) == ("name-index", "names", True)
    assert (rendered["check"], rendered["subject"], rendered["fixed"]) == ("renderings", "rendered", True)
    assert (summarised["check"], summarised["subject"], summarised["fixed"]) == (
        "summaries", "summaries", True)
    assert gctl("image", "show", "lost").exit_code == 3 and gctl.ok("image", "show", "kept")
    [damaged] = shard.parent.glob(f"{shard.name}.damaged-*")
    assert damaged.read_bytes() == truncated and damaged.name in finding["action"]
    assert gctl.ok("image", "list", "-q").stdout.split() == [kept["id"]]
    assert doctor(gctl)[0].exit_code == 0


def test_shard_without_a_good_backup_is_never_replaced(gctl, home):
    image = gctl.create("only")  # one write: no .bak yet
    shard = shard_of(home, image["id"])
    shard.write_bytes(b"")
    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 7
    [finding] = findings
    assert not finding["fixed"] and "no good previous copy" in finding["action"]
    assert shard.read_bytes() == b"" and sorted(p.name for p in shard.parent.iterdir()) == [shard.name]
    assert gctl("image", "show", image["id"]).exit_code == 7


def test_damaged_meta_json_is_exit_7_and_repaired(gctl, home):
    gctl.create("x")
    (home / "meta.json").write_text('{"schema_ver')
    result = gctl("image", "create", "y")
    assert result.exit_code == 7 and str(home / "meta.json") in result.stderr
    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 0 and findings[0]["subject"] == "meta.json" and findings[0]["fixed"]
    gctl.ok("image", "create", "y")


def test_data_a_restore_may_have_orphaned_is_kept_until_you_decide(gctl, home):
    first = gctl.create("first")
    payload = os.urandom(20_000)
    image = with_data(gctl, "uploaded", payload, "--id", same_shard_id(first["id"]))
    shard = shard_of(home, image["id"])
    shard.write_bytes(shard.read_bytes()[:-3])  # the write that made it active is damaged
    data = home / "data" / image["id"]

    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 7
    grouped = by_check(findings)
    assert grouped["record-file"][0]["fixed"]
    [stuck] = grouped["stuck-image"]
    assert stuck["fixed"] and f"data/{image['id']} kept" in stuck["action"]
    [orphan] = grouped["orphan-data"]
    assert not orphan["fixed"] and ".damaged-" in orphan["problem"] and image["id"] in orphan["problem"]
    assert data.read_bytes() == payload, "the only copy of the uploaded bytes is not removed"
    assert gctl.show(image["id"])["status"] == "queued"

    for damaged in shard.parent.glob("*.damaged-*"):
        damaged.unlink()
    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 0 and [(f["check"], f["fixed"]) for f in findings] == [("orphan-data", True)]
    [kept] = home.glob(f"quarantine/*/data/{image['id']}")
    assert not data.exists() and kept.read_bytes() == payload
    assert findings[0]["action"] == f"moved to {kept.relative_to(home)}"
    assert "1 file no record owned waits in" in result.stderr and "--purge-quarantine" in result.stderr

    result, findings = doctor(gctl, "--purge-quarantine")
    assert result.exit_code == 0 and [(f["check"], f["fixed"]) for f in findings] == [("quarantine", True)]
    assert list((home / "quarantine").iterdir()) == []
    assert doctor(gctl)[1] == []


def test_crashed_upload_is_reported_then_settled(gctl, home):
    image = gctl.create("victim", *FORMATS)
    crash_during(home, "image", "upload", image["id"], at="glancectl.datafiles:new_data_temp",
                 after=True, input=os.urandom(50_000))
    result, findings = doctor(gctl)
    assert result.exit_code == 7
    grouped = by_check(findings)
    assert [f["subject"] for f in grouped["stuck-image"]] == [image["id"]]
    assert [f["subject"].split(".tmp-")[0] for f in grouped["temp-file"]] == [f"tmp/.{image['id']}"]
    assert Store(home).images.get(image["id"])["status"] == "saving", "reporting changes nothing"

    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 0 and all(f["fixed"] for f in findings)
    assert gctl.show(image["id"])["status"] == "queued"
    assert doctor(gctl)[1] == [] and list((home / "leases").iterdir()) == []


def test_a_live_upload_is_never_taken_for_a_stuck_one(gctl, home):
    image = gctl.create("slow", *FORMATS)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # a live uploader, blocked on its pipe
        os.close(write_end)
        try:
            gctl("image", "upload", image["id"], "--file", f"/dev/fd/{read_end}")
        finally:
            os._exit(0)
    os.close(read_end)
    try:
        os.write(write_end, os.urandom(100_000))
        deadline = time.monotonic() + 20
        while not (gctl.show(image["id"])["status"] == "saving" and list((home / "tmp").glob("*"))):
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.02)
        result, findings = doctor(gctl, "--repair")
        assert result.exit_code == 0 and findings == []
        assert gctl.show(image["id"])["status"] == "saving"
    finally:
        os.close(write_end)
        os.waitpid(pid, 0)
    assert gctl.show(image["id"])["status"] == "active"


def test_orphans_temps_permissions_and_symlinks(gctl, home, tmp_path):
    image = with_data(gctl, "a", os.urandom(10_000))
    old_umask = os.umask(0o077)  # planted files are owner-only unless chmod'ed below
    try:
        orphan = home / "data" / str(uuid.uuid4())
        orphan.write_bytes(b"nobody's")
        stray = home / "data" / "notes.txt"
        stray.write_text("?")
        temp = home / "images" / ".ab.json.tmp-1-dead"
        temp.write_text("{")
        (home / "tmp").mkdir(exist_ok=True)
        (home / "tmp" / "link").symlink_to(tmp_path)
        (home / "staging").mkdir(exist_ok=True)
        (home / "staging" / "link").symlink_to(tmp_path)
    finally:
        os.umask(old_umask)
    os.chmod(home, 0o755)
    os.chmod(home / "data" / image["id"], 0o644)

    result, findings = doctor(gctl)
    assert result.exit_code == 7
    grouped = by_check(findings)
    assert sorted(f["subject"] for f in grouped["orphan-data"]) == sorted(
        [f"data/{orphan.name}", "data/notes.txt"])
    assert [f["subject"] for f in grouped["temp-file"]] == [f"images/{temp.name}"]
    assert sorted(f["subject"] for f in grouped["symlink"]) == ["staging/link", "tmp/link"]
    assert sorted(f["subject"] for f in grouped["permissions"]) == [".", f"data/{image['id']}"]

    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 7, "a symlink outside the scratch dirs needs a person"
    assert [f["subject"] for f in findings if not f["fixed"]] == ["staging/link"]
    assert not orphan.exists() and not stray.exists() and not temp.exists()
    assert not (home / "tmp" / "link").exists() and tmp_path.exists()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "data" / image["id"]).stat().st_mode) == 0o600
    assert gctl.show(image["id"])["status"] == "active"


def test_missing_short_and_corrupt_data(gctl, home):
    data = os.urandom(40_000)
    image = with_data(gctl, "a", data)
    path = home / "data" / image["id"]
    path.write_bytes(data[:-1])
    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 7
    assert [(f["check"], f["fixed"]) for f in findings] == [("data", False)]
    assert "39999 bytes; the record says 40000" in findings[0]["problem"]
    path.unlink()
    assert "is missing" in doctor(gctl)[1][0]["problem"]
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    path.chmod(0o600)
    assert doctor(gctl)[0].exit_code == 0, "sizes match; hashes only with --verify-data"
    result, findings = doctor(gctl, "--verify-data")
    assert result.exit_code == 7
    [finding] = findings
    assert finding["check"] == "hash" and "os_hash_value is" in finding["problem"]
    assert "checksum is" in finding["problem"]


def test_doctor_waits_for_the_lock_then_says_busy(gctl, home):
    gctl.create("x")
    fd = os.open(home / "store.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = gctl("--lock-timeout", "0.1", "doctor")
        assert result.exit_code == 7 and "store is busy" in result.stderr
    finally:
        os.close(fd)


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_doctor_table_names_its_columns(gctl, home, fmt):
    gctl.create("x")
    (home / "images" / ".x.tmp-1-2").write_text("")
    result = gctl("doctor", "-f", fmt)
    assert result.exit_code == 7
    assert "Check" in result.stdout and "Action" in result.stdout
    assert "--repair will remove it" in result.stdout


def test_task_whose_worker_died_is_failed_and_its_image_requeued(gctl, home, tmp_path):
    source = tmp_path / "disk.img"
    source.write_bytes(os.urandom(300_000))
    task_input = json.dumps({"import_from": source.as_uri(), "import_from_format": "raw",
                             "image_properties": {"name": "imported"}})
    task = gctl.ok("task", "create", "--type", "import", "--input", task_input, "--no-worker",
                   "-f", "json").json()
    crash_during(home, "task", "run", at="glancectl.datafiles:new_data_temp", after=True)
    assert Store(home).tasks.get(task["id"])["status"] == "processing"  # show would settle it

    result, findings = doctor(gctl)
    assert result.exit_code == 7
    grouped = by_check(findings)
    assert [f["subject"] for f in grouped["stuck-task"]] == [task["id"]]
    [stuck_image] = grouped["stuck-image"]

    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 0 and all(f["fixed"] for f in findings), findings
    shown = gctl.ok("task", "show", task["id"], "-f", "json").json()
    assert shown["status"] == "failure" and "ended before finishing" in shown["message"]
    assert gctl.show(stuck_image["subject"])["status"] == "queued"
    assert doctor(gctl)[1] == []


def _edit_image(shard, image_id, change):
    document = json.loads(shard.read_text())
    [record] = [r for r in document["images"].values() if r["id"] == image_id]
    change(record)
    shard.write_text(json.dumps(document))


# What is done to the record of an image with data; the record was backed up in <shard>.json.bak.
RECORD_LIES = {
    "shard deleted": lambda shard, image_id: shard.unlink(),
    "id edited": lambda shard, image_id: _edit_image(
        shard, image_id, lambda r: r.update(id=image_id[:9] + str(uuid.uuid4())[9:], locations=[])),
    "status not a status": lambda shard, image_id: _edit_image(
        shard, image_id, lambda r: r.update(status="Active")),
    "status not a string": lambda shard, image_id: _edit_image(
        shard, image_id, lambda r: r.update(status=["active"])),
}


@pytest.mark.parametrize("lie", RECORD_LIES)
def test_repair_never_deletes_data_a_record_still_owns(gctl, home, lie):
    payload = os.urandom(30_000)
    image = with_data(gctl, "owned", payload)
    gctl.ok("image", "set", image["id"], "--property", "backed=up")  # <shard>.json.bak has it active
    shard, data = shard_of(home, image["id"]), home / "data" / image["id"]
    RECORD_LIES[lie](shard, image["id"])

    result, findings = doctor(gctl)
    assert result.exit_code == 7 and "healthy" not in result.stderr
    assert not any(f["check"] == "orphan-data" and f["action"].startswith("--repair will")
                   for f in findings), findings

    result, findings = doctor(gctl, "--repair")
    assert data.read_bytes() == payload, f"{lie}: the data of a backed-up record is kept in place"
    assert not list(home.glob("quarantine/*/*/*"))
    if lie == "id edited":  # the live file parses: only a person can say which id is right
        assert result.exit_code == 7
        [orphan] = [f for f in findings if f["check"] == "orphan-data"]
        assert not orphan["fixed"] and f"images/{shard.name}.bak has image {image['id']} as active" \
            in orphan["problem"]
    else:  # the record file comes back from its .bak, and with it the owner
        assert result.exit_code == 0, findings
        assert gctl.show(image["id"])["status"] == "active"
        copy = home.parent / "copy.raw"
        gctl.ok("image", "download", image["id"], "--file", str(copy))
        assert copy.read_bytes() == payload
        assert doctor(gctl)[1] == []


def test_data_no_record_owns_is_quarantined_never_deleted(gctl, home):
    payload = os.urandom(10_000)
    image = with_data(gctl, "owned", payload)
    other = with_data(gctl, "pointer", b"x" * 10)
    shard, data = shard_of(home, image["id"]), home / "data" / image["id"]
    _edit_image(shard, image["id"], lambda r: r.update(status="killed"))  # no .bak: the live record rules
    stray = home / "data" / str(uuid.uuid4())
    stray.write_bytes(b"nobody's")
    stray.chmod(0o600)
    # a live record pointing at a file by location owns it too, whatever the file's name
    pointed = home / "data" / str(uuid.uuid4())
    pointed.write_bytes(b"pointed at")
    pointed.chmod(0o600)
    _edit_image(shard_of(home, other["id"]), other["id"],
                lambda r: r["locations"].append({"url": pointed.as_uri(), "metadata": {}}))

    result, findings = doctor(gctl)
    grouped = by_check(findings)
    assert sorted(f["subject"] for f in grouped["orphan-data"]) == sorted(
        [f"data/{image['id']}", f"data/{stray.name}", f"data/{pointed.name}"])
    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 7, "the file a location points at needs a person"
    moved = {f["subject"]: f["action"] for f in findings if f["fixed"] and f["check"] == "orphan-data"}
    [folder] = (home / "quarantine").iterdir()
    assert moved == {f"data/{image['id']}": f"moved to quarantine/{folder.name}/data/{image['id']}",
                     f"data/{stray.name}": f"moved to quarantine/{folder.name}/data/{stray.name}"}
    assert (folder / "data" / image["id"]).read_bytes() == payload
    assert (folder / "data" / stray.name).read_bytes() == b"nobody's"
    assert pointed.read_bytes() == b"pointed at" and not data.exists()
    assert "2 files no record owned wait in" in result.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700

    result, findings = doctor(gctl, "--purge-quarantine")
    assert [(f["check"], f["subject"], f["fixed"]) for f in findings if f["check"] == "quarantine"] == [
        ("quarantine", f"quarantine/{folder.name}", True)]
    assert list((home / "quarantine").iterdir()) == []


def test_data_is_kept_while_its_records_cannot_be_read(gctl, home, tmp_path):
    payload = os.urandom(5_000)
    image = with_data(gctl, "owned", payload)
    images = home / "images"
    images.rename(tmp_path / "images-aside")
    images.write_text("not a directory")  # every image command exits 7; the data is still owned
    assert gctl("image", "list").exit_code == 7

    result, findings = doctor(gctl, "--repair")
    assert result.exit_code == 7
    grouped = by_check(findings)
    assert [f["subject"] for f in grouped["record-file"]] == ["images"]
    [orphan] = grouped["orphan-data"]
    assert not orphan["fixed"] and "shard is unreadable" in orphan["problem"]
    assert (home / "data" / image["id"]).read_bytes() == payload

    images.unlink()
    (tmp_path / "images-aside").rename(images)
    assert doctor(gctl)[0].exit_code == 0


def test_a_planted_quarantine_symlink_is_never_moved_into(gctl, home, tmp_path):
    with_data(gctl, "a", b"a")
    stray = home / "data" / str(uuid.uuid4())
    stray.write_bytes(b"nobody's")
    stray.chmod(0o600)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (home / "quarantine").symlink_to(outside)
    result, findings = doctor(gctl, "--repair", "--purge-quarantine")
    assert result.exit_code == 7
    grouped = by_check(findings)
    assert [f["fixed"] for f in grouped["orphan-data"]] == [False]
    assert "repair failed" in grouped["orphan-data"][0]["action"]
    assert stray.read_bytes() == b"nobody's" and list(outside.iterdir()) == []
    assert [f["subject"] for f in grouped["symlink"]] == ["quarantine"]


def test_task_records_of_the_wrong_shape_are_exit_7_too(gctl, home, tmp_path):
    source = tmp_path / "disk.img"
    source.write_bytes(b"x" * 100)
    task = gctl.ok("task", "create", "--type", "import", "--no-worker", "-f", "json", "--input",
                   json.dumps({"import_from": source.as_uri(), "import_from_format": "raw",
                               "image_properties": {"name": "t"}})).json()
    shard = home / "tasks" / f"{task['id'][:2]}.json"
    document = json.loads(shard.read_text())
    [record] = document["tasks"].values()
    record["status"] = "queued"  # an image status, not a task one
    shard.write_text(json.dumps(document))
    for args in (("task", "list"), ("task", "show", task["id"])):
        result = gctl(*args)
        assert result.exit_code == 7 and str(shard) in result.stderr, result.stderr
        assert "unknown status 'queued'" in result.stderr
    result, findings = doctor(gctl)
    assert result.exit_code == 7 and [f["subject"] for f in findings] == [f"tasks/{shard.name}"]


def test_a_copied_store_keeps_its_data_and_doctor_says_how_to_make_it_the_copys(gctl, home, tmp_path):
    """cp -a of a store keeps each record's file:// location into the old store. doctor
    --repair used to move the copy's data of every active image to quarantine."""
    source = tmp_path / "disk.img"
    source.write_bytes(b"x" * 5000)
    image = gctl.ok("image", "create", "kept", *FORMATS, "--file", str(source), "-f", "json").json()
    copy = tmp_path / "copy"
    shutil.copytree(home, copy, symlinks=True)
    data = copy / "data" / image["id"]
    at_copy = ["--home", str(copy)]

    repaired = gctl(*at_copy, "doctor", "--repair", "-f", "json")
    assert repaired.exit_code == 7, repaired.stdout
    [finding] = [f for f in repaired.json() if f["check"] == "orphan-data"]
    assert not finding["fixed"] and "another path" in finding["problem"]
    assert data.read_bytes() == b"x" * 5000, "the copy's data stays where it is"
    own, old = data.as_uri(), (home / "data" / image["id"]).as_uri()
    assert f"image location add {image['id']} {own}" in finding["action"]

    gctl.ok(*at_copy, "image", "location", "add", image["id"], own)
    gctl.ok(*at_copy, "image", "location", "remove", image["id"], old)
    shutil.rmtree(home)  # the original goes: the copy stands alone
    assert gctl(*at_copy, "doctor").exit_code == 0
    out = tmp_path / "out.img"
    gctl.ok(*at_copy, "image", "download", image["id"], "--file", str(out))
    assert out.read_bytes() == b"x" * 5000
