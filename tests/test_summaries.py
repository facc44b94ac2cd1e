"""Task summaries: `task list` reads each task shard's summary instead of the shard, prints
the same bytes as it would from the shards, and never trusts a summary that does not fit its
shard file exactly."""

from __future__ import annotations

import json
import os
import re
import shutil
import zlib
from pathlib import Path

import pytest

from glancectl import records, sidecars
from glancectl.lifecycle import TaskStatus
from glancectl.storage import write_atomic
from glancectl.store import Store

from tests.test_nameindex import files_read
from tests.test_renderings import set_aside, store  # noqa: F401 (store: a fixture)
from tests.test_tasks import create_task, import_input

LISTINGS = [(), ("-f", "json"), ("-f", "value"), ("-f", "csv"), ("-q",), ("-c", "id", "-c", "status"),
            ("--status", "pending"), ("--status", "success", "-f", "json"), ("--status", "failure"),
            ("--type", "import", "-f", "json"), ("--type", "api_image_import"),
            ("--sort", "status:asc,created_at:asc", "-f", "json"), ("--sort", "id:asc", "--limit", "3"),
            ("--sort", "updated_at:desc", "-f", "yaml")]


def listing(gctl, *args: str) -> bytes:
    return gctl.ok("task", "list", *args).stdout_bytes


def from_the_shards(gctl, home: Path, *args: str) -> bytes:
    """The listing with no summaries at all, read from the shards."""
    with set_aside(home / "summaries"):
        return listing(gctl, *args)


def shards_read(gctl, home: Path, *args: str) -> list[str]:
    return files_read(home, r"tasks/[0-9a-f]{2}\.json", lambda: listing(gctl, *args))


def summaries_finding(gctl) -> dict | None:
    findings = gctl("doctor", "-f", "json").json()
    return next((f for f in findings if f["check"] == "summaries"), None)


def task_shard(home: Path, task_id: str) -> Path:
    return home / "tasks" / f"{task_id[:2]}.json"


def summary_of(home: Path, task_id: str) -> Path:
    return home / "summaries" / f"{task_id[:2]}.tasks"


@pytest.fixture
def tasks(gctl, home, tmp_path) -> list[dict]:
    """Tasks in every state a listing shows: pending on purpose, succeeded, failed, and one of
    each type, spread over many shards."""
    source = tmp_path / "src.raw"
    source.write_bytes(b"x" * 4096)
    made = [create_task(gctl, "--no-worker", "--input", import_input(source.as_uri())).json()
            for _ in range(16)]
    for name in ("imported-1", "imported-2"):  # api_image_import tasks, with their image's ID
        image = gctl.create(name, "--disk-format", "raw", "--container-format", "bare")
        gctl.ok("image", "stage", image["id"], "--file", str(source))
        gctl.ok("image", "import", image["id"], "--method", "glance-direct", "--no-worker")
        made += gctl.ok("image", "tasks", image["id"], "-f", "json").json()
    made += [create_task(gctl, "--no-worker",
                         "--input", import_input((tmp_path / "gone.raw").as_uri())).json()
             for _ in range(3)]
    for task in made[:6] + made[-3:]:
        gctl("task", "run", "--task", task["id"])
    return made


def test_a_listing_reads_the_summaries_not_the_shards_and_prints_the_same(gctl, home, tasks):
    shards = {p.stem for p in (home / "tasks").glob("??.json")}
    assert len(shards) > 10
    assert {p.stem for p in (home / "summaries").glob("*.tasks")} == shards
    statuses = {t["status"] for t in json.loads(listing(gctl, "-f", "json"))}
    assert statuses == {"pending", "success", "failure"}
    for args in LISTINGS:
        assert shards_read(gctl, home, *args) == [], args
        assert listing(gctl, *args) == from_the_shards(gctl, home, *args), args
    marker = json.loads(listing(gctl, "-f", "json"))[5]["id"]
    assert listing(gctl, "--marker", marker) == from_the_shards(gctl, home, "--marker", marker)
    # Without them, every shard is read: the listing above took nothing from elsewhere.
    shutil.rmtree(home / "summaries")
    assert len(shards_read(gctl, home)) == len(shards)
    assert not (home / "summaries").exists(), "a listing never writes"


def test_every_kind_of_task_write_keeps_the_summaries_fitting(gctl, home, tasks, tmp_path):
    source = tmp_path / "more.raw"
    source.write_bytes(b"y" * 100)
    image = gctl.create("for-import", "--disk-format", "raw", "--container-format", "bare")
    gctl.ok("image", "stage", image["id"], "--file", str(source))
    gctl.ok("image", "import", image["id"], "--method", "glance-direct", "--no-worker")
    gctl("task", "run")  # every pending task, through processing to success or failure
    expiring = create_task(gctl, "--no-worker", "--input", import_input(source.as_uri())).json()
    gctl.ok("task", "run", "--task", expiring["id"], env={"GLANCECTL_TASK_TIME_TO_LIVE": "0"})
    gctl.ok("purge")
    assert gctl("task", "show", expiring["id"]).exit_code == 3
    assert summaries_finding(gctl) is None
    assert shards_read(gctl, home, "-f", "json") == []
    listed = json.loads(listing(gctl, "-f", "json"))
    assert {t["status"] for t in listed} == {"success", "failure"}
    assert listing(gctl, "-f", "json") == from_the_shards(gctl, home, "-f", "json")


@pytest.mark.parametrize("edit", ["replaced", "in place, times put back"])
def test_a_shard_changed_behind_glancectls_back_is_never_shown_stale(gctl, home, tasks, edit):
    task = tasks[10]  # pending on purpose
    shard = task_shard(home, task["id"])
    text = shard.read_bytes()
    edited = text.replace(f'"id":"{task["id"]}","type":"import","status":"pending"'.encode(),
                          f'"id":"{task["id"]}","type":"import","status":"success"'.encode())
    assert edited != text and len(edited) == len(text)
    if edit == "replaced":
        write_atomic(shard, edited)
    else:
        before = shard.stat()
        with open(shard, "r+b") as handle:
            handle.write(edited)
        os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
    shown = {t["id"]: t["status"] for t in json.loads(listing(gctl, "-f", "json"))}
    assert shown[task["id"]] == "success"
    assert shards_read(gctl, home) == [f"tasks/{shard.name}"], "only the changed shard is read"
    assert listing(gctl) == from_the_shards(gctl, home)
    finding = summaries_finding(gctl)
    assert finding["subject"] == "summaries" and "for 1 task shard," in finding["problem"], finding
    repaired = gctl("doctor", "--repair", "-f", "json").json()
    assert any(f["check"] == "summaries" and f["fixed"] for f in repaired)
    assert summaries_finding(gctl) is None
    assert shards_read(gctl, home) == []
    assert {t["id"]: t["status"] for t in json.loads(listing(gctl, "-f", "json"))}[task["id"]] == "success"


def _forged(home: Path, task_id: str, change) -> bytes:
    """The summary with its columns changed by ``change``, its header made to fit again (the
    same shard identity, a checksum of the new body): only someone forging one does this."""
    path = summary_of(home, task_id)
    header, body = path.read_bytes().split(b"\n", 1)
    fields, columns = json.loads(header), json.loads(body)
    change(columns)
    body = json.dumps(columns).encode()
    fields["crc32"] = sidecars.checksum(fields, body)
    return json.dumps(fields).encode() + b"\n" + body


DAMAGE = {
    "zeros at full length": lambda path, home, task_id: path.write_bytes(bytes(path.stat().st_size)),
    "cut short": lambda path, home, task_id: path.write_bytes(path.read_bytes()[:-40]),
    "a byte flipped": lambda path, home, task_id: path.write_bytes(
        path.read_bytes()[:-10] + bytes([path.read_bytes()[-10] ^ 1]) + path.read_bytes()[-9:]),
    "empty": lambda path, home, task_id: path.write_bytes(b""),
    "another version": lambda path, home, task_id: path.write_bytes(
        re.sub(rb'^\{"version":\d+,', b'{"version":99,', path.read_bytes(), count=1)),
    "a FIFO": lambda path, home, task_id: (path.unlink(), os.mkfifo(path)),
    "a directory": lambda path, home, task_id: (path.unlink(), path.mkdir()),
    "a symlink to the right bytes": lambda path, home, task_id: (
        shutil.move(path, home / "elsewhere"), path.symlink_to(home / "elsewhere")),
    "forged: created_ns as text": lambda path, home, task_id: path.write_bytes(_forged(
        home, task_id, lambda c: c.update(created_ns=[str(v) for v in c["created_ns"]]))),
    "forged: an unknown status": lambda path, home, task_id: path.write_bytes(_forged(
        home, task_id, lambda c: c.update(status=["done"] * len(c["status"])))),
    "forged: a column short": lambda path, home, task_id: path.write_bytes(_forged(
        home, task_id, lambda c: c["owner"].pop())),
    "forged: a field missing": lambda path, home, task_id: path.write_bytes(_forged(
        home, task_id, lambda c: c.pop("run_later"))),
    "forged: an id not text": lambda path, home, task_id: path.write_bytes(_forged(
        home, task_id, lambda c: c["id"].__setitem__(0, 7))),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_or_odd_summary_is_read_around(gctl, home, tasks, damage):
    expected = {args: listing(gctl, *args) for args in LISTINGS[:4]}
    task_id = tasks[3]["id"]
    DAMAGE[damage](summary_of(home, task_id), home, task_id)
    for args, printed in expected.items():
        result = gctl("task", "list", *args)
        assert (result.exit_code, result.stderr, result.stdout_bytes) == (0, "", printed), args
    assert shards_read(gctl, home) == [f"tasks/{task_id[:2]}.json"]


def test_a_task_whose_owner_died_is_failed_when_listed_from_its_summary(gctl, home, tasks):
    """A pending task with no live owner (its creator was killed before a worker took it
    over: the lease file is there, unheld) is failed by the listing that sees it."""
    store = Store(home)
    task = records.new_task(task_type="import", task_input={}, owner=records.current_owner())
    task["id"] = tasks[0]["id"][:2] + task["id"][2:]  # in a shard with others
    with store.writing():
        store.tasks.insert(task)
    store.lease_dir.mkdir(exist_ok=True)
    (store.lease_dir / f"{task['id']}.lock").touch()
    # Only its shard is read: by the settling, which fails it under the lock.
    assert shards_read(gctl, home) == [f"tasks/{task['id'][:2]}.json"]
    assert shards_read(gctl, home) == [], "the failing write kept the summary fitting"
    shown = {t["id"]: t for t in json.loads(listing(gctl, "-f", "json"))}
    assert shown[task["id"]]["status"] == TaskStatus.FAILURE
    failed = gctl.ok("task", "show", task["id"], "-f", "json").json()
    assert failed["status"] == "failure" and "ended before the worker" in failed["message"]
    assert summaries_finding(gctl) is None, "the failing write kept the summary fitting"
    assert listing(gctl, "-f", "json") == from_the_shards(gctl, home, "-f", "json")


@pytest.mark.parametrize("odd", [b'"\\ud800"', b"NaN"])
def test_a_task_no_summary_can_hold_is_listed_from_its_shard(gctl, home, tasks, odd):
    """A hand-edited owner that JSON cannot give back as it is (a lone surrogate, NaN): a
    later write of the shard writes no summary for it, and doctor does not ask for one."""
    victim, neighbour = tasks[12], tasks[13]
    shard = task_shard(home, victim["id"])
    text = shard.read_bytes()
    owned = f'"owner":"{records.current_owner()}","image_id":null,"expires_at":null,'.encode()
    assert owned in text
    write_atomic(shard, text.replace(owned, b'"owner":' + odd + b',"image_id":null,"expires_at":null,'))
    assert gctl("task", "list", "-q").exit_code == 0
    sibling = victim["id"][:2] + neighbour["id"][2:]
    store = Store(home)
    extra = records.new_task(task_type="import", task_input={}, owner="someone")
    extra["id"] = sibling
    extra["run_later"] = True
    with store.writing():
        store.tasks.insert(extra)  # a glancectl write of the same shard
    assert shards_read(gctl, home) == [f"tasks/{shard.name}"]
    assert listing(gctl, "-f", "json") == from_the_shards(gctl, home, "-f", "json")
    assert summaries_finding(gctl) is None


def test_a_racy_summary_is_trusted_only_while_the_shard_holds_the_bytes_it_names(gctl, home, tasks):
    """A summary made no later than its shard's last change (the same tick of a coarse
    clock) is checked against the checksum of the shard's bytes its header names."""
    task_id = tasks[4]["id"]
    path = summary_of(home, task_id)
    printed = listing(gctl, "-f", "json")
    os.utime(path, ns=(0, 0))  # made "before" the shard's ctime: racy
    assert summaries_finding(gctl) is None, "the shard's bytes are the ones it was made from"
    header, body = path.read_bytes().split(b"\n", 1)
    fields = json.loads(header)
    fields["shard_crc32"] ^= 1
    path.write_bytes(json.dumps(fields).encode() + b"\n" + body)
    os.utime(path, ns=(0, 0))
    finding = summaries_finding(gctl)
    assert finding is not None and "for 1 task shard," in finding["problem"], finding
    assert listing(gctl, "-f", "json") == printed
    gctl.ok("doctor", "--repair")
    assert summaries_finding(gctl) is None
    assert json.loads(summary_of(home, task_id).read_bytes().split(b"\n", 1)[0])["shard_crc32"] == (
        zlib.crc32(task_shard(home, task_id).read_bytes()))


# -- images ------------------------------------------------------------------------------
IMAGE_LISTINGS = [(), ("-f", "json"), ("-q",), ("-f", "value", "-c", "id"), ("-f", "csv"),
                  ("--status", "active", "-f", "value", "-c", "id"), ("--status", "in:queued,active"),
                  ("--sort", "name:asc,size:desc", "-f", "json"), ("--hidden", "-q"), ("--deleted",),
                  ("--visibility", "private", "-f", "json"), ("--size-min", "2000", "-q"),
                  ("--created-at", "gt:2000-01-01T00:00:00Z", "-q"), ("--protected", "-q"),
                  ("--name", "img-3", "-f", "json"), ("--limit", "3", "--sort", "id:asc"),
                  ("-c", "name", "-c", "status", "-f", "value")]


def image_listing(gctl, *args: str) -> bytes:
    return gctl.ok("image", "list", *args).stdout_bytes


def images_read(gctl, home: Path, *args: str) -> list[str]:
    return files_read(home, r"images/[0-9a-f]{2}\.json", lambda: image_listing(gctl, *args))


def test_an_image_listing_reads_the_summaries_not_the_shards_and_prints_the_same(gctl, home, store):
    shards = {p.stem for p in (home / "images").glob("??.json")}
    assert {p.stem for p in (home / "summaries").glob("*.images")} == shards
    for args in IMAGE_LISTINGS:
        assert images_read(gctl, home, *args) == [], args
        with set_aside(home / "summaries"):
            assert image_listing(gctl, *args) == image_listing(gctl, *args) and images_read(
                gctl, home, *args), args
            from_shards = image_listing(gctl, *args)
        assert image_listing(gctl, *args) == from_shards, args
    # Filters on what the summaries do not hold read the shards, as before.
    for args in (("--tag", "t", "-q"), ("--property", "k1=v1", "-f", "json"), ("--long",),
                 ("-f", "yaml")):
        assert images_read(gctl, home, *args), args


def test_an_image_listing_reads_whole_the_shards_a_summary_cannot_stand_for(gctl, home, store):
    """An image being written (its writer died: it must be settled) and a JSON listing whose
    shard's rendering does not fit: that shard is read whole; the others are not."""
    images = store
    opened = Store(home)
    stuck = images[8]["id"]
    with opened.writing():
        opened.images.update(stuck, {"status": "saving"})  # a writer that died mid-upload
    assert images_read(gctl, home) == [f"images/{stuck[:2]}.json"]
    assert gctl.show(stuck)["status"] == "queued", "settled by the listing"
    assert images_read(gctl, home) == []
    unrendered = store[9]["id"]
    (home / "rendered" / f"{unrendered[:2]}.items").unlink()
    assert images_read(gctl, home, "-q") == []
    assert images_read(gctl, home, "-f", "json") == [f"images/{unrendered[:2]}.json"]
    shown = {i["id"]: i for i in json.loads(image_listing(gctl, "-f", "json"))}
    assert shown[unrendered] == json.loads(gctl.ok("image", "show", unrendered, "-f", "json").stdout)


def test_an_image_shard_changed_behind_glancectls_back_is_never_listed_stale(gctl, home, store):
    image = store[10]
    shard = home / "images" / f"{image['id'][:2]}.json"
    text = shard.read_bytes()
    edited = text.replace(b'"name":"img-10"', b'"name":"img-XX"')
    assert edited != text
    write_atomic(shard, edited)
    assert images_read(gctl, home, "-f", "value", "-c", "name") == [f"images/{shard.name}"]
    assert "img-XX" in gctl.ok("image", "list", "-f", "value", "-c", "name").stdout
    assert "for 1 image shard," in summaries_finding(gctl)["problem"]
