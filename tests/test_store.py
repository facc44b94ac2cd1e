"""The store on disk: home precedence, permissions, atomic files, corruption, the lock."""

from __future__ import annotations

import fcntl
import json
import os
import stat

import pytest

from glancectl.store import Store
from tests.conftest import FORMATS
from tests.crash import crash_during, leftovers


def shard_files(home):
    return sorted((home / "images").glob("*.json"))


def test_home_created_owner_only_on_first_write(gctl, home):
    assert not home.exists()
    gctl.ok("image", "list")
    assert not home.exists(), "reads never create the home"
    gctl.create("x")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_home_precedence(tmp_path, gctl):
    env_home, opt_home = tmp_path / "env", tmp_path / "opt"
    gctl.ok("--home", str(opt_home), "image", "create", "a", env={"GLANCECTL_HOME": str(env_home)})
    assert opt_home.exists() and not env_home.exists()
    gctl.ok("image", "create", "b", env={"GLANCECTL_HOME": str(env_home)})
    assert env_home.exists()
    shown = gctl.ok("--home", str(opt_home), "config", "show", "-f", "json").json()
    assert shown[0] == {"name": "home", "value": str(opt_home), "source": "--home"}


def test_home_is_expanded_and_a_symlinked_home_followed(tmp_path, gctl):
    """`~` is the user's home, and a symlink is resolved once: the store names the real path."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    env = {"HOME": str(tmp_path)}
    image = gctl.ok("--home", "~/link/", "image", "create", "a", "-f", "json", env=env).json()
    shown_there = gctl.ok("--home", str(real), "image", "show", image["id"], "-f", "value", "-c", "name")
    assert shown_there.stdout == "a\n"
    shown = gctl.ok("--home", "~/link/", "config", "show", "-f", "json", env=env).json()
    assert shown[0] == {"name": "home", "value": str(real), "source": "--home"}


@pytest.mark.parametrize("kind, words", [
    ("loop", "Too many levels of symbolic links"),
    ("file", "is not a directory"),
    ("under a file", "Not a directory"),
])
def test_a_home_that_cannot_be_a_store_is_exit_7_never_an_empty_store(tmp_path, gctl, kind, words):
    """A symlink loop or a file where the home should be: every command says so, exit 7;
    a listing never reports an empty store instead, and nothing is created."""
    (tmp_path / "a-file").write_text("not a store\n")
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    home = {"loop": tmp_path / "loop-a", "file": tmp_path / "a-file",
            "under a file": tmp_path / "a-file" / "home"}[kind]
    before = sorted(p.name for p in tmp_path.iterdir())
    for args in (["image", "list", "-q"], ["task", "list"], ["image", "create", "x"]):
        result = gctl(*args, env={"GLANCECTL_HOME": str(home)})
        assert (result.exit_code, result.stdout) == (7, ""), (args, result.stderr)
        assert result.stderr.strip() == (f"Error: store home {os.path.realpath(home)}: {words}"
                                         if kind != "file" else
                                         f"Error: store home {home} {words}")
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "a-file").read_text() == "not a store\n"


def test_records_are_sharded_and_no_temp_files_remain(gctl, home):
    for i in range(20):
        gctl.create(f"i{i}")
    files = shard_files(home)
    assert 1 < len(files) <= 20
    total = sum(len(json.loads(p.read_text())["images"]) for p in files)
    assert total == 20
    assert not [p for p in home.rglob("*") if ".tmp-" in p.name]


@pytest.mark.parametrize("field, value", [("created_at", 12345), ("updated_at", None),
                                          ("created_ns", None), ("created_ns", "7")])
def test_a_time_of_another_type_is_a_corrupt_shard_not_a_crash(gctl, home, field, value):
    """A hand-edited time (a number, null) would make a listing's sort fail half way: the shard
    is refused as corrupt, naming the record, by every command; doctor reports it."""
    image = gctl.create("edited")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    document = json.loads(shard.read_text())
    next(r for r in document["images"].values() if r["id"] == image["id"])[field] = value
    shard.write_text(json.dumps(document))
    before = shard.read_bytes()
    for args in (["image", "list"], ["image", "list", "--sort", "created_at:asc", "-f", "json"],
                 ["image", "show", image["id"]]):
        result = gctl(*args)
        assert (result.exit_code, result.stdout) == (7, ""), (args, result.stderr)
        kind = "a whole number" if field == "created_ns" else "a string"
        assert f"record {image['id']} has {field} {value!r}, not {kind}" in result.stderr
    doctor = gctl("doctor")
    assert doctor.exit_code == 7 and shard.name in doctor.stdout
    assert shard.read_bytes() == before, "a read never rewrites the shard"


def test_an_unreadable_table_directory_is_exit_7_never_an_empty_listing(gctl, home, monkeypatch):
    """EACCES on images/ (another user's store; root reads everything, so it is simulated
    at os.listdir): the listing says so, exit 7, rather than listing nothing."""
    gctl.create("hidden-from-me")
    images = str(home / "images")
    real_listdir = os.listdir

    def listdir(path="."):
        if os.fspath(path) == images:
            raise PermissionError(13, "Permission denied", images)
        return real_listdir(path)

    monkeypatch.setattr("glancectl.store.os.listdir", listdir)
    for args in (["image", "list"], ["image", "list", "-f", "json"]):
        result = gctl(*args)
        assert (result.exit_code, result.stdout) == (7, ""), (args, result.stderr)
        assert result.stderr.strip() == f"Error: permission denied reading store directory {images}"


def test_corrupt_shard_is_exit_7_and_never_treated_as_empty(gctl, home):
    image = gctl.create("precious")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    shard.write_text('{"images": {"1": {"id": "trunc')
    for args in (["image", "show", image["id"]], ["image", "list"], ["image", "create", "y", "--id", image["id"]]):
        result = gctl(*args)
        assert result.exit_code == 7, args
        assert str(shard) in result.stderr and "unreadable" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert shard.read_text() == '{"images": {"1": {"id": "trunc', "the bad file is left as it was"


def test_empty_shard_file_is_corrupt_too(gctl, home):
    image = gctl.create("e")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    shard.write_bytes(b"")
    result = gctl("image", "show", image["id"])
    assert result.exit_code == 7 and "file is empty" in result.stderr


def test_previous_copy_is_kept_for_repair(gctl, home):
    image = gctl.create("v1")
    gctl.ok("image", "set", image["id"], "--name", "v2")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    backup = shard.with_name(shard.name + ".bak")
    assert json.loads(backup.read_text())["images"]["1"]["name"] == "v1"
    assert json.loads(shard.read_text())["images"]["1"]["name"] == "v2"


def test_lock_timeout_says_store_is_busy(gctl, home):
    gctl.create("x")
    fd = os.open(home / "store.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = gctl("--lock-timeout", "0.2", "image", "create", "blocked")
        assert result.exit_code == 7 and "store is busy" in result.stderr
        assert gctl.ok("image", "list", "-q").stdout.count("\n") == 1, "readers do not wait"
    finally:
        os.close(fd)
    assert len(gctl.ok("image", "list", "-q").stdout.split()) == 1


def test_symlinked_shard_is_replaced_not_written_through(gctl, home, tmp_path):
    image = gctl.create("s")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    victim = tmp_path / "victim.json"
    victim.write_text(shard.read_text())
    before = victim.read_text()
    shard.unlink()
    shard.symlink_to(victim)
    gctl.ok("image", "set", image["id"], "--name", "changed")
    assert victim.read_text() == before, "the symlink target was not written"
    assert not shard.is_symlink()


def test_permission_denied_home_is_exit_7(gctl, tmp_path):
    if os.geteuid() == 0:
        locked = tmp_path / "file-not-dir"
        locked.write_text("x")
        result = gctl("--home", str(locked / "home"), "image", "create", "x")
    else:
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o500)
        result = gctl("--home", str(locked / "home"), "image", "create", "x")
    assert result.exit_code == 7, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_nested_writes_share_one_lock_and_release_it(tmp_path):
    """An operation may call another under the lock; it must neither deadlock nor leak the lock."""
    import pytest

    from glancectl.errors import StoreUnavailable

    store = Store(tmp_path / "h", lock_timeout=0.1)
    with store.writing():
        with store.writing():  # would time out if it tried to take the lock again
            store.images.insert({"id": "0d9f4c7e-8a3b-4c1e-9f00-000000000001", "status": "queued",
                                 "locations": [], "properties": {}, "tags": [],
                                 "created_at": "2026-01-01T00:00:00Z",
                                 "updated_at": "2026-01-01T00:00:00Z"})
        with pytest.raises(StoreUnavailable, match="store is busy"):
            with Store(tmp_path / "h", lock_timeout=0.1).writing():
                pass
    with Store(tmp_path / "h", lock_timeout=0.1).writing():
        pass
    assert store.images.get("0d9f4c7e-8a3b-4c1e-9f00-000000000001")["status"] == "queued"


def test_changing_a_missing_image_creates_no_store(gctl, home, tmp_path):
    data = tmp_path / "d.raw"
    data.write_bytes(b"x")
    for args in (["image", "delete", "nope"], ["image", "set", "nope", "--name", "x"],
                 ["image", "deactivate", "nope"], ["image", "upload", "nope", "--file", str(data)],
                 ["image", "location", "add", "nope", data.as_uri()], ["image", "stage", "nope",
                                                                       "--file", str(data)]):
        result = gctl(*args)
        assert result.exit_code == 3, (args, result.stderr)
    assert not home.exists()


def _edit_record(shard, change):
    document = json.loads(shard.read_text())
    [record] = document["images"].values()
    change(record)
    shard.write_text(json.dumps(document))


def _replace_with_dir(path):
    path.unlink()
    path.mkdir()


def _replace_with_file(path):
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
    path.write_text("not a directory")


# (what is done to the store, the file every affected command names, what each command must do)
WRONG_SHAPES = {
    "record is a string": (lambda home, shard: shard.write_text('{"images": {"1": "str"}}'), "shard"),
    "record without id": (lambda home, shard: _edit_record(shard, lambda r: r.pop("id")), "shard"),
    "id not of its shard": (lambda home, shard: _edit_record(
        shard, lambda r: r.update(id=("0" if r["id"][0] != "0" else "1") + r["id"][1:])), "shard"),
    "status not a string": (lambda home, shard: _edit_record(shard, lambda r: r.update(status=7)), "shard"),
    "status not a status": (lambda home, shard: _edit_record(shard, lambda r: r.update(status="ACTIVE")), "shard"),
    "shard is a directory": (lambda home, shard: _replace_with_dir(shard), "shard"),
    "images is a file": (lambda home, shard: _replace_with_file(home / "images"), "images"),
    "meta is a list": (lambda home, shard: (home / "meta.json").write_text("[1]"), "meta.json"),
    "meta version not a number": (
        lambda home, shard: (home / "meta.json").write_text('{"schema_version": "x"}'), "meta.json"),
    "meta from the future": (
        lambda home, shard: (home / "meta.json").write_text('{"schema_version": 99}'), "meta.json"),
    "meta is a directory": (lambda home, shard: _replace_with_dir(home / "meta.json"), "meta.json"),
    "lock is a directory": (lambda home, shard: _replace_with_dir(home / "store.lock"), "store.lock"),
}


@pytest.mark.parametrize("case", WRONG_SHAPES)
def test_well_formed_json_of_the_wrong_shape_is_exit_7_naming_the_file(gctl, home, case):
    damage, named = WRONG_SHAPES[case]
    image = gctl.create("victim")
    gctl.ok("image", "set", image["id"], "--property", "v=2")  # the shard gets a .bak
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    damage(home, shard)
    path = shard if named == "shard" else home / named
    commands = [["image", "create", "new", "--id", image["id"][:2] + "0" * 6 + image["id"][8:]],
                ["image", "set", image["id"], "--name", "renamed"]]
    if named in ("shard", "images"):
        commands += [["image", "show", image["id"]], ["image", "list"], ["task", "list"]
                     ] if named == "images" else [["image", "show", image["id"]], ["image", "list"]]
    for args in commands:
        result = gctl(*args)
        if named == "images" and args[:2] == ["task", "list"]:
            assert result.exit_code == 0  # another table: unaffected
            continue
        assert result.exit_code == 7, (args, result.exit_code, result.stderr)
        assert str(path) in result.stderr and "internal error" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1

    doctor = gctl("doctor", "-f", "json")
    assert doctor.exit_code == 7, doctor.stderr
    subjects = [f["subject"] for f in doctor.json()]
    assert os.path.relpath(path, home) in subjects, doctor.stdout
    assert "healthy" not in doctor.stderr

    # doctor never calls the store healthy while a write to it would fail
    before = sorted(p.name for p in home.iterdir())
    repaired = gctl("doctor", "--repair")
    write = gctl("image", "set", image["id"], "--name", "after-repair")
    assert (repaired.exit_code, write.exit_code) in ((0, 0), (7, 7)), (repaired.stderr, write.stderr)
    if case in ("meta from the future", "images is a file"):
        assert repaired.exit_code == 7 and sorted(p.name for p in home.iterdir()) == before


def test_reads_settle_an_upload_whose_writer_died_taking_the_lock_only_then(gctl, home):
    image = gctl.create("victim", *FORMATS)
    healthy = gctl.ok("image", "create", "bystander", *FORMATS, "--file", "-", "-q",
                      input=os.urandom(1000)).stdout.strip()
    crash_during(home, "image", "upload", image["id"], at="glancectl.datafiles:new_data_temp",
                 after=True, input=os.urandom(50_000))
    assert Store(home).images.get(image["id"])["status"] == "saving"

    fd = os.open(home / "store.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:  # while nothing is dead a read needs no lock; a dead writer's image needs it to be settled
        assert gctl.ok("--lock-timeout", "0.1", "image", "show", healthy, "-f", "value",
                       "-c", "status").stdout == "active\n"
        busy = gctl("--lock-timeout", "0.1", "image", "show", image["id"])
        assert busy.exit_code == 7 and "store is busy" in busy.stderr
    finally:
        os.close(fd)

    assert gctl.ok("image", "list", "--status", "saving", "-q").stdout == ""
    shown = gctl.show(image["id"])
    assert shown["status"] == "queued" and shown["locations"] == []
    assert "ended before finishing" in Store(home).images.get(image["id"])["status_reason"]
    assert leftovers(home) == [], "its partial data and lease went with it"
    gctl.ok("image", "upload", image["id"], "--file", "-", input=b"again")
    assert gctl.show(image["id"])["status"] == "active"


def test_list_settles_every_dead_writers_image(gctl, home):
    ids = [gctl.create(f"victim{i}", *FORMATS)["id"] for i in range(2)]
    for image_id in ids:
        crash_during(home, "image", "upload", image_id, at="glancectl.datafiles:new_data_temp",
                     after=True, input=os.urandom(1000))
    listed = gctl.ok("image", "list", "-f", "json", "-c", "id", "-c", "status").json()
    assert sorted((r["id"], r["status"]) for r in listed) == sorted((i, "queued") for i in ids)
    assert leftovers(home) == []


@pytest.mark.parametrize("field, value", [("locations", "file:///x"), ("locations", [1]),
                                          ("properties", None), ("tags", [{"a": 1}])])
def test_an_image_whose_lists_are_not_lists_is_exit_7_not_a_crash(gctl, home, field, value):
    image = gctl.create("victim")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    _edit_record(shard, lambda r: r.update({field: value}))
    for args in (["image", "show", image["id"]], ["image", "list"], ["doctor"]):
        result = gctl(*args)
        assert result.exit_code == 7 and str(shard.relative_to(home)) in result.stdout + result.stderr
        assert "internal error" not in result.stderr


@pytest.mark.parametrize("field, value, command", [
    ("name", ["a", "list"], ["image", "list", "--sort", "name"]),
    ("name", {"a": 1}, ["image", "list", "--name", "in:x,y"]),
    ("size", "12", ["image", "list", "--size-min", "1"]),
    ("size", 1.5, ["image", "list", "--sort", "size"]),
    ("disk_format", 7, ["image", "list", "--sort", "disk_format"]),
    ("container_format", [], ["image", "list", "--container-format", "bare"]),
    ("checksum", ["x"], ["image", "list", "--checksum", "abc"]),
    ("os_hash_value", {}, ["image", "list", "--hash", "abc"]),
])
def test_a_field_a_listing_sorts_or_compares_of_another_type_is_exit_7_naming_it(
        gctl, home, field, value, command):
    """A hand edit used to make these listings an internal error (exit 1), and doctor saw nothing."""
    image = gctl.ok("image", "create", "victim", *FORMATS, "--file", "-", "-f", "json",
                    input=b"data").json()
    other_shard = ("0" if image["id"][0] != "0" else "1") + image["id"][1:]
    gctl.create("bystander", *FORMATS, "--id", other_shard)  # _edit_record takes a shard of one
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    _edit_record(shard, lambda r: r.update({field: value}))
    for args in (command, ["image", "show", image["id"]], ["image", "list", "-f", "json"], ["doctor"]):
        result = gctl(*args)
        assert result.exit_code == 7, (args, result.exit_code, result.stderr)
        assert str(shard.relative_to(home)) in result.stdout + result.stderr
        assert "internal error" not in result.stderr
    result = gctl("image", "list")
    assert f"record {image['id']} has {field}" in result.stderr and "or null" in result.stderr


def test_a_null_or_missing_name_or_size_is_no_damage(gctl, home):
    image = gctl.create("victim")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    _edit_record(shard, lambda r: (r.pop("name"), r.update(size=None, checksum=None)))
    assert gctl.ok("image", "list", "--sort", "name,size", "-f", "value", "-c", "id").stdout == (
        image["id"] + "\n")
    # The hand edit bypassed the derived data (a shard written by hand); nothing else is wrong.
    assert {f["check"] for f in gctl("doctor", "-f", "json").json()} == {"name-index", "renderings",
                                                                          "summaries"}


def test_an_integer_past_64_bits_reads_the_same_in_a_listing_as_in_show(gctl, home):
    """orjson (the listing's parser) reads it as a float; the exact parser decides instead."""
    image = gctl.create("victim")
    shard = next(p for p in shard_files(home) if image["id"] in p.read_text())
    _edit_record(shard, lambda r: r.update(size=2**70))
    listed = gctl.ok("image", "list", "-f", "json").stdout
    assert '"size": 1180591620717411303424' in listed
    assert gctl.ok("image", "list", "-f", "value", "-c", "size").stdout == "1180591620717411303424\n"
    assert gctl.show(image["id"])["size"] == 2**70


# -- the bulk shape check against the rule one record at a time ----------------------
def _shape_is_right_one_record_at_a_time(table, key: str, records: dict, prefix: str) -> bool:
    """What check_shape asks of every record, asked of each in turn."""
    for doc_id, record in records.items():
        if not (type(record) is dict and doc_id.isdigit()):
            return False
        record_id, status = record.get("id"), record.get("status")
        if not (type(record_id) is str and len(record_id) == 36 and record_id.startswith(prefix)):
            return False
        if type(status) is not str or status not in table.statuses:
            return False
        if type(record.get("created_ns", 0)) is not int:
            return False
        for field, kind, item in table.typed_fields:
            if field not in record or type(record[field]) is not kind:
                return False
            if item is not None and any(type(element) is not item for element in record[field]):
                return False
        for field, kind in table.nullable_fields:
            if type(record.get(field)) not in (kind, type(None)):
                return False
    return True


def _task_shard(prefix: str, count: int, *, older: bool = True) -> dict:
    """Tasks as glancectl writes them; with ``older``, every third without created_ns."""
    records = {}
    for number in range(1, count + 1):
        records[str(number)] = {
            "id": f"{prefix}{number:06d}-0000-4000-8000-000000000000", "type": "import",
            "status": ("pending", "success", "failure", "processing")[number % 4], "owner": "root",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z",
            **({} if older and number % 3 else {"created_ns": number}),
        }
    return records


def _damaged(records: dict, where: int, change) -> dict:
    records = json.loads(json.dumps(records))
    key = list(records)[where]
    records[key] = change(records[key]) if callable(change) else change
    return records


TASK_DAMAGE = {
    "id too short": lambda r: {**r, "id": r["id"][:-1]},
    "id too long": lambda r: {**r, "id": r["id"] + "0"},
    "id of another shard": lambda r: {**r, "id": "ff" + r["id"][2:]},
    "id not text": lambda r: {**r, "id": 12},
    "no id": lambda r: {k: v for k, v in r.items() if k != "id"},
    "status unknown": lambda r: {**r, "status": "active"},
    "status a list": lambda r: {**r, "status": ["pending"]},
    "status missing": lambda r: {k: v for k, v in r.items() if k != "status"},
    "created_at a number": lambda r: {**r, "created_at": 1},
    "updated_at missing": lambda r: {k: v for k, v in r.items() if k != "updated_at"},
    "created_ns text": lambda r: {**r, "created_ns": "1"},
    "created_ns true": lambda r: {**r, "created_ns": True},
    "created_ns a float": lambda r: {**r, "created_ns": 1.5},
    "type a number": lambda r: {**r, "type": 1},
    "type a list": lambda r: {**r, "type": ["import"]},
    "record a list": [1, 2],
    "record text": "task",
    "record null": None,
}


@pytest.mark.parametrize("older", [True, False])
@pytest.mark.parametrize("damage", [None, *TASK_DAMAGE])
@pytest.mark.parametrize("where", [0, 17, -1])
def test_the_bulk_shape_check_agrees_with_the_rule_one_record_at_a_time(tmp_path, damage, where, older):
    from glancectl.errors import StoreCorrupt

    table = Store(tmp_path).tasks
    records = _task_shard("ab", 40, older=older)
    if damage is not None:
        records = _damaged(records, where, TASK_DAMAGE[damage])
    path = str(tmp_path / "tasks" / "ab.json")
    right = _shape_is_right_one_record_at_a_time(table, "tasks", records, "ab")
    assert right == (damage is None)
    if not right:
        with pytest.raises(StoreCorrupt):
            table.check_shape(path, {"tasks": records})
        return
    columns = table.check_shape(path, {"tasks": records})
    # The columns a listing takes from it are the records' values, in their order.
    values = list(records.values())
    for field in ("id", "status", "created_at", "updated_at"):
        assert list(columns[field]) == [r[field] for r in values]
    assert list(columns["created_ns"]) == [r.get("created_ns", 0) for r in values]


def test_a_shard_key_that_is_not_a_number_is_refused_by_the_bulk_check(tmp_path):
    from glancectl.errors import StoreCorrupt

    table = Store(tmp_path).tasks
    records = _task_shard("ab", 5)
    records["x"] = records.pop("3")
    assert not _shape_is_right_one_record_at_a_time(table, "tasks", records, "ab")
    with pytest.raises(StoreCorrupt, match="under a key that is not a number"):
        table.check_shape(str(tmp_path / "ab.json"), {"tasks": records})


def test_ids_one_short_and_one_long_in_one_shard_are_refused_though_their_lengths_add_up(tmp_path):
    from glancectl.errors import StoreCorrupt

    table = Store(tmp_path).tasks
    records = _damaged(_task_shard("ab", 10), 2, TASK_DAMAGE["id too short"])
    records = _damaged(records, 6, TASK_DAMAGE["id too long"])
    assert not _shape_is_right_one_record_at_a_time(table, "tasks", records, "ab")
    with pytest.raises(StoreCorrupt, match="has no id of this shard"):
        table.check_shape(str(tmp_path / "ab.json"), {"tasks": records})
