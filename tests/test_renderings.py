"""Renderings: `image list -f json` reads each image's JSON as the writers kept it, prints the
same bytes as it would render them afresh, and never trusts a rendering that does not fit its
shard file exactly."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from glancectl import renderings
from glancectl.storage import write_atomic

from tests.conftest import FORMATS
from tests.test_nameindex import files_opened, files_read, rewrite_shard_as_an_older_glancectl


def listing(gctl, *args: str) -> bytes:
    return gctl.ok("image", "list", "-f", "json", *args).stdout_bytes


@contextmanager
def set_aside(directory: Path) -> Iterator[None]:
    """The block runs with ``directory`` moved out of the store; it is put back afterwards."""
    kept = directory.parent.parent / f"{directory.name}-kept"
    shutil.move(directory, kept)
    try:
        yield
    finally:
        shutil.move(kept, directory)


def afresh(gctl, home: Path, *args: str) -> bytes:
    """The listing rendered afresh, with no renderings at all."""
    with set_aside(home / "rendered"):
        return listing(gctl, *args)


def renderings_read(gctl, home: Path, *args: str) -> list[str]:
    return files_read(home, r"rendered/.*", lambda: listing(gctl, *args))


@pytest.fixture
def store(gctl, home, tmp_path):
    """Images in every shape a listing shows: data, properties, tags, an http location, a
    deactivated one, a hidden one, a deleted one, control characters and non-ASCII."""
    source = tmp_path / "disk.img"
    source.write_bytes(b"x" * 3000)
    made = [gctl.create(f"img-{i}", *FORMATS, "--property", f"k{i}=v{i}", "--tag", "t")
            for i in range(12)]
    gctl.ok("image", "upload", made[0]["id"], "--file", str(source))
    gctl.ok("image", "upload", made[1]["id"], "--file", str(source))
    gctl.ok("image", "deactivate", made[1]["id"])
    gctl.ok("image", "set", made[2]["id"], "--hidden")
    gctl.ok("image", "delete", made[3]["id"])
    gctl.ok("image", "set", made[4]["id"], "--property", "note=caf\u00e9 \x85 \x7f \u2028",
            "--property", "zz=last", "--name", "\u00e9t\u00e9")
    gctl.create("by-location", *FORMATS, "--location", source.as_uri())
    return made


def test_a_listing_reads_the_renderings_and_prints_what_it_would_render(gctl, home, store):
    shards = {p.stem for p in (home / "images").glob("??.json")}
    assert {p.stem for p in (home / "rendered").glob("*.items")} == shards
    for args in ((), ("--deleted",), ("--hidden",), ("--sort", "name:asc", "--limit", "5"),
                 ("--marker", store[5]["id"]), ("--tag", "t", "--status", "active")):
        shown = {f"rendered/{i['id'][:2]}.items" for i in json.loads(listing(gctl, *args))}
        # Read for every shard that holds a match (paging comes after), for no other.
        assert shown <= set(renderings_read(gctl, home, *args)) <= {f"rendered/{s}.items" for s in shards}
        assert listing(gctl, *args) == afresh(gctl, home, *args), args
    assert renderings_read(gctl, home, "--status", "killed") == []
    shown = json.loads(listing(gctl))
    assert [i["id"] for i in shown] == [i["id"] for i in json.loads(afresh(gctl, home))]
    edited = next(i for i in shown if i["id"] == store[4]["id"])
    assert edited["note"] == "caf\u00e9 \x85 \x7f \u2028" and edited["name"] == "\u00e9t\u00e9"
    # The controls are escaped in the text, as every JSON glancectl prints has them.
    assert b"\\u0085 \\u007f" in listing(gctl) and b"\xc2\x85" not in listing(gctl)


def test_every_kind_of_write_keeps_the_renderings_fitting(gctl, home, store, tmp_path):
    image_id = store[6]["id"]
    gctl.ok("image", "set", image_id, "--name", "renamed", "--property", "new=1")
    gctl.ok("image", "deactivate", store[0]["id"])
    gctl.ok("image", "delete", store[7]["id"])
    fresh = gctl.create("fresh", *FORMATS)
    assert gctl.ok("doctor").exit_code == 0  # renderings included: nothing stale
    shown = {i["id"]: i for i in json.loads(listing(gctl))}
    assert shown[image_id]["name"] == "renamed" and shown[image_id]["new"] == "1"
    assert shown[store[0]["id"]]["status"] == "deactivated"
    assert store[7]["id"] not in shown and fresh["id"] in shown
    assert listing(gctl) == afresh(gctl, home)


def test_a_shard_written_without_its_rendering_is_rendered_afresh(gctl, home, store):
    image_id = store[8]["id"]
    rewrite_shard_as_an_older_glancectl(home, image_id, name="by-hand")
    shard = f"rendered/{image_id[:2]}.items"
    with files_opened(home) as opened:
        shown = json.loads(listing(gctl))
    assert shard in opened  # read, and found not to fit
    assert next(i for i in shown if i["id"] == image_id)["name"] == "by-hand"
    assert listing(gctl) == afresh(gctl, home)


def test_an_edit_in_place_that_keeps_size_and_mtime_is_still_seen(gctl, home, store):
    """The same number of bytes, written into the same inode, mtime set back: ctime moves."""
    image_id = store[9]["id"]
    shard = home / "images" / f"{image_id[:2]}.json"
    before = shard.stat()
    text = shard.read_bytes()
    assert text.count(b'"img-9"') == 1
    with open(shard, "r+b") as handle:
        handle.write(text.replace(b'"img-9"', b'"IMG-9"'))
    os.utime(shard, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = shard.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size,
                                                                 before.st_mtime_ns)
    shown = json.loads(listing(gctl))
    assert next(i for i in shown if i["id"] == image_id)["name"] == "IMG-9"


def _damage(path: Path, how: str, other: Path) -> None:
    text = path.read_bytes()
    header, body = text.split(b"\n", 1)
    fields = json.loads(header)
    if how == "truncated":
        path.write_bytes(text[:-10])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage-header":
        path.write_bytes(b"{not json\n" + body)
    elif how == "header-not-an-object":
        path.write_bytes(b"[1, 2]\n" + body)
    elif how == "other-version":
        path.write_bytes(json.dumps({**fields, "version": renderings.Renderings.VERSION + 1}).encode() + b"\n" + body)
    elif how == "one-record-short":
        lengths = fields["lengths"]
        path.write_bytes(json.dumps({**fields, "lengths": lengths[:-1]}).encode() + b"\n"
                         + body[:len(body) - lengths[-1]])
    elif how == "lengths-shifted":  # same total, split in the wrong places
        lengths = fields["lengths"]
        lengths[0], lengths[-1] = lengths[0] + 3, lengths[-1] - 3
        path.write_bytes(json.dumps({**fields, "lengths": lengths}).encode() + b"\n" + body)
    elif how == "negative-and-bool-lengths":
        lengths = fields["lengths"]
        path.write_bytes(json.dumps({**fields, "lengths": [True] * len(lengths)}).encode() + b"\n"
                         + body)
    elif how == "a-directory":
        path.unlink()
        path.mkdir()
    elif how == "a-symlink-to-another-shards":
        path.unlink()
        path.symlink_to(other)
    elif how == "another-shards-copied-in":
        path.write_bytes(other.read_bytes())
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", [
    "truncated", "empty", "garbage-header", "header-not-an-object", "other-version",
    "one-record-short", "lengths-shifted", "negative-and-bool-lengths", "a-directory",
    "a-symlink-to-another-shards", "another-shards-copied-in",
])
def test_a_damaged_rendering_is_never_shown_and_never_written_by_a_listing(gctl, home, store, how):
    # Two images in one shard, so a rendering of one record could pass for a short one, and
    # lengths can be shifted between them.
    first = store[0]["id"]
    gctl.create("same-shard", *FORMATS, "--id", first[:2] + str(uuid.uuid4())[2:])
    expected = afresh(gctl, home)
    damaged = home / "rendered" / f"{first[:2]}.items"
    assert len(json.loads(damaged.read_bytes().split(b"\n", 1)[0])["lengths"]) >= 2
    _damage(damaged, how, next(p for p in (home / "rendered").glob("*.items") if p != damaged))
    before = {p.name: (p.is_dir(), p.is_symlink(), None if p.is_dir() else p.read_bytes())
              for p in (home / "rendered").iterdir()}
    result = gctl("image", "list", "-f", "json")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout_bytes == expected
    after = {p.name: (p.is_dir(), p.is_symlink(), None if p.is_dir() else p.read_bytes())
             for p in (home / "rendered").iterdir()}
    assert after == before  # a read never writes


def test_doctor_reports_stale_renderings_and_repair_writes_them(gctl, home, store):
    image_id = store[10]["id"]
    rewrite_shard_as_an_older_glancectl(home, image_id, name="older")
    (home / "rendered" / f"{store[11]['id'][:2]}.items").unlink()
    stale = {image_id[:2], store[11]["id"][:2]}
    result = gctl("doctor", "-f", "json")
    assert result.exit_code == 7
    finding = next(f for f in result.json() if f["check"] == "renderings")
    assert finding["subject"] == "rendered" and not finding["fixed"]
    assert f"for {len(stale)} image shard" in finding["problem"]
    repaired = gctl("doctor", "--repair", "-f", "json")
    finding = next(f for f in repaired.json() if f["check"] == "renderings")
    assert finding["fixed"]
    assert gctl("doctor").exit_code == 0
    assert renderings_read(gctl, home) == sorted(
        {f"rendered/{i['id'][:2]}.items" for i in json.loads(listing(gctl))})
    assert json.loads(listing(gctl)) == json.loads(afresh(gctl, home))
    assert next(i for i in json.loads(listing(gctl)) if i["id"] == image_id)["name"] == "older"


def test_a_write_that_cannot_render_still_stands_and_the_listing_renders_afresh(gctl, home, store):
    shutil.rmtree(home / "rendered")
    (home / "rendered").write_bytes(b"in the way")
    made = gctl.create("after", *FORMATS)
    gctl.ok("image", "set", store[0]["id"], "--name", "changed")
    shown = {i["id"]: i for i in json.loads(listing(gctl))}
    assert made["id"] in shown and shown[store[0]["id"]]["name"] == "changed"
    assert (home / "rendered").read_bytes() == b"in the way"
    repaired = gctl("doctor", "--repair", "-f", "json")
    finding = next(f for f in repaired.json() if f["check"] == "renderings")
    assert not finding["fixed"] and "repair failed" in finding["action"]
    assert repaired.exit_code == 7


def test_a_listing_without_renderings_never_makes_them(gctl, home, store):
    shutil.rmtree(home / "rendered")
    expected = listing(gctl)
    assert not (home / "rendered").exists()
    assert json.loads(expected)[0]["id"]


def test_a_temp_file_left_by_a_killed_writer_goes_with_the_next_write(gctl, home, store):
    leftover = home / "rendered" / ".00.items.tmp-999999-deadbeef"
    leftover.write_bytes(b"half")
    gctl.create("next", *FORMATS)
    assert not leftover.exists()


def test_a_lone_surrogate_from_a_hand_edit_is_written_as_its_escape(gctl, home, store):
    """orjson refuses it and UTF-8 has no bytes for it: rendered, kept and listed as \\ud800,
    and a write to its shard still stands (it used to be an internal error, exit 1)."""
    image_id = store[5]["id"]
    shard = home / "images" / f"{image_id[:2]}.json"
    text = shard.read_bytes()
    assert text.count(b'"name":"img-5"') == 1
    write_atomic(shard, text.replace(b'"name":"img-5"', b'"name":"img-5\\ud800"'))
    expected = afresh(gctl, home)
    assert b'"name": "img-5\\ud800"' in expected
    neighbour = gctl.create("neighbour", *FORMATS)  # written to its own shard: any write is
    gctl.ok("image", "set", image_id, "--property", "written=again")  # this one renders img-5's
    assert gctl.show(neighbour["id"])["name"] == "neighbour"
    assert renderings_read(gctl, home)
    shown = listing(gctl)
    assert b'"name": "img-5\\ud800"' in shown and b'"written": "again"' in shown
    assert shown == afresh(gctl, home)
    # Every JSON glancectl prints writes it so; some printed it raw, or failed with exit 1.
    for args in (("image", "show", image_id, "-f", "json"), ("image", "list", "-f", "json", "--noindent"),
                 ("image", "list", "-f", "json", "-c", "name")):
        result = gctl(*args)
        assert (result.exit_code, result.stderr) == (0, ""), args
        assert b'img-5\\ud800"' in result.stdout_bytes, args
        result.stdout_bytes.decode("utf-8")  # strict: nothing but UTF-8


def test_the_rendering_is_pinned_to_its_version():
    """Changing how an image is rendered (or how a rendering's header is checked) must bump
    renderings.Renderings.VERSION, or every store's kept renderings would go on being trusted:
    then update this pin."""
    record = {
        "id": "3f0b8c52-7d4c-4c5e-9b0a-2f9d6a1e8c10", "name": "pinned \u00e9 \x85", "status": "active",
        "visibility": "shared", "protected": False, "os_hidden": False, "disk_format": "qcow2",
        "container_format": "bare", "min_disk": 1, "min_ram": 2, "size": 3, "virtual_size": 4,
        "checksum": "c", "os_hash_algo": "sha512", "os_hash_value": "h", "owner": "o",
        "tags": ["b", "a"], "locations": [{"url": "file:///d/x", "metadata": {"store": "file"}}],
        "properties": {"zeta": "1", "alpha": "2"}, "created_at": "2026-01-01T00:00:00Z",
        "created_ns": 1, "updated_at": "2026-01-02T00:00:00Z", "status_reason": "r",
        "direct_url": "file:///d/x",
    }
    digest = hashlib.sha256(b"".join(renderings.image_items([record, {**record, "locations": []}])))
    assert (renderings.Renderings.VERSION, digest.hexdigest()) == (3, PINNED_DIGEST)


PINNED_DIGEST = "e4f5f2af4cf50372df357c5fa42294e6ded102dbab04a6d09e151777954bc169"
