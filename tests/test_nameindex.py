"""The name index: a lookup by name reads two small files, stays right through every change,
and is rebuilt (never trusted) when shards were written without it."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

from glancectl.storage import write_atomic

_OPENED: list[str] | None = None


def _audit(event: str, args) -> None:
    if _OPENED is not None and event == "open" and isinstance(args[0], (str, os.PathLike)):
        _OPENED.append(os.fspath(args[0]))


sys.addaudithook(_audit)


@contextmanager
def files_opened(home: Path):
    """The store files the code in the block opens (audit events, so nothing is faked)."""
    global _OPENED
    _OPENED = []
    opened: list[str] = []
    try:
        yield opened
    finally:
        opened.extend(os.path.relpath(p, home) for p in _OPENED if p.startswith(str(home)))
        _OPENED = None


def files_read(home: Path, pattern: str, call) -> list[str]:
    """The store files matching ``pattern`` (a regular expression, relative to the home)
    that ``call()`` opens, each once, sorted."""
    with files_opened(home) as opened:
        call()
    return sorted({path for path in opened if re.fullmatch(pattern, path)})


def same_shard_id(image_id: str) -> str:
    return image_id[:2] + str(uuid.uuid4())[2:]


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


def rewrite_shard_as_an_older_glancectl(home: Path, image_id: str, **fields) -> None:
    """What a glancectl without the index (or a hand edit) does: replace the shard, index untouched."""
    shard = home / "images" / f"{image_id[:2]}.json"
    doc = json.loads(shard.read_bytes())
    for record in doc["images"].values():
        if record["id"] == image_id:
            record.update(fields)
    write_atomic(shard, json.dumps(doc).encode())


def test_show_by_name_reads_the_index_and_one_shard_not_every_shard(gctl, home):
    images = [gctl.create(f"img-{i}") for i in range(40)]
    shards = {p.name for p in (home / "images").glob("??.json")}
    assert len(shards) > 10
    target = images[17]
    with files_opened(home) as opened:
        shown = gctl.show("img-17")
    assert shown["id"] == target["id"]
    read_shards = [p for p in opened if p.startswith("images/")]
    assert read_shards == [f"images/{target['id'][:2]}.json"], opened
    assert any(p.startswith("names/") for p in opened)


def test_renames_deletes_and_purges_keep_the_index_right(gctl, home):
    first = gctl.create("first")
    twin = gctl.ok("image", "create", "other", "--id", same_shard_id(first["id"]), "-f", "json").json()
    gctl.ok("image", "set", "first", "--name", "renamed")
    assert gctl("image", "show", "first").exit_code == 3
    assert gctl.show("renamed")["id"] == first["id"]
    gctl.ok("image", "set", "other", "--name", "renamed")  # two images, one name
    result = gctl("image", "show", "renamed")
    assert result.exit_code == 2 and "More than one image is named 'renamed'" in result.stderr
    gctl.ok("image", "delete", twin["id"])
    assert gctl.show("renamed")["id"] == first["id"], "the live image before a deleted namesake"
    gctl.ok("purge", "--age-in-days", "0")
    assert json.loads((home / "names" / "manifest.json").read_bytes())["version"] == 1
    result = gctl("doctor", "-f", "json")
    assert result.exit_code == 0 and result.json() == []
    index = {name: ids for p in (home / "names").glob("??.json")
             for name, ids in json.loads(p.read_bytes()).items()}
    assert index == {"renamed": [first["id"]]}


def test_a_shard_written_without_the_index_makes_reads_scan_and_the_next_write_rebuild(gctl, home):
    image = gctl.create("before")
    gctl.create("bystander")
    rewrite_shard_as_an_older_glancectl(home, image["id"], name="after")
    names_before = snapshot(home / "names")

    assert gctl.show("after")["id"] == image["id"], "a stale index is never trusted"
    assert gctl("image", "show", "before").exit_code == 3
    assert snapshot(home / "names") == names_before, "reads never write"

    result = gctl("doctor", "-f", "json")
    assert result.exit_code == 7
    finding, rendered, summarised = result.json()
    assert finding["check"] == "name-index" and "out of date" in finding["problem"]
    assert rendered["check"] == "renderings"  # stale for the same reason
    assert summarised["check"] == "summaries"  # and so is the shard's summary

    gctl.create("trigger")  # any write, under the lock, rebuilds the stale index (sidecars too)
    with files_opened(home) as opened:
        assert gctl.show("after")["id"] == image["id"]
    assert len([p for p in opened if p.startswith("images/")]) == 1
    assert gctl.ok("doctor", "-f", "json").json() == []


def test_doctor_repair_builds_a_missing_index_for_a_store_from_before_it(gctl, home):
    image = gctl.create("old")
    for path in (home / "names").iterdir():
        path.unlink()
    (home / "names").rmdir()
    assert gctl.show("old")["id"] == image["id"]
    assert not (home / "names").exists(), "reads never write"
    result = gctl("doctor", "-f", "json", "--repair")
    assert result.exit_code == 0, result.stderr
    [finding] = result.json()
    assert finding["check"] == "name-index" and "missing" in finding["problem"]
    assert finding["fixed"] and finding["action"] == "rebuilt (1 name)"
    with files_opened(home) as opened:
        gctl.show("old")
    assert any(p.startswith("names/") for p in opened)


def test_a_damaged_index_file_is_never_trusted_and_doctor_rebuilds_it(gctl, home):
    image = gctl.create("precious")
    [index_file] = [p for p in (home / "names").glob("??.json")]
    index_file.write_text('{"precious": ["trunc')
    assert gctl.show("precious")["id"] == image["id"]
    result = gctl("doctor", "-f", "json", "--repair")
    assert result.exit_code == 0
    [finding] = result.json()
    assert finding["check"] == "name-index" and "unreadable" in finding["problem"]
    assert json.loads(index_file.read_bytes()) == {"precious": [image["id"]]}


def test_an_index_that_cannot_be_written_never_fails_the_change(gctl, home):
    gctl.create("first")
    names = home / "names"
    for path in names.iterdir():
        path.unlink()
    names.rmdir()
    names.write_text("in the way")  # a file where the index directory should be
    created = gctl.create("second")
    assert gctl.show("second")["id"] == created["id"]
    assert gctl.ok("image", "list", "-q").stdout.split().count(created["id"]) == 1
