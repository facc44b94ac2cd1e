"""Security of the store: IDs checked before any path use, symlinks never written through,
owner-only files, downloads that never write through a planted link."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from glancectl import datafiles
from glancectl.errors import InvalidValue
from glancectl.store import Store
from tests.conftest import FORMATS

TRAVERSALS = ("../../etc", "../images/00", "/etc/passwd", "00000000-0000-0000-0000-000000000000/../x")

_touched: list[str] | None = None


def _audit(event: str, args) -> None:
    if _touched is not None and event in ("open", "os.remove", "os.rename", "os.listdir",
                                          "os.scandir", "os.mkdir", "os.link", "os.symlink"):
        _touched.append(str(args[0]))


sys.addaudithook(_audit)  # inert unless a test sets _touched


@pytest.fixture
def paths_touched():
    global _touched
    _touched = []
    try:
        yield _touched
    finally:
        _touched = None


@pytest.mark.parametrize("ref", TRAVERSALS)
def test_image_refs_never_reach_a_path(gctl, home, tmp_path, ref, paths_touched):
    gctl.create("bystander", *FORMATS)
    paths_touched.clear()
    for args, code in (
        (["image", "show", ref], 3),
        (["image", "upload", ref, "--file", os.devnull], 3),
        (["image", "download", ref, "--file", str(tmp_path / "out")], 3),
        (["image", "delete", ref], 3),
        (["image", "create", "x", "--id", ref], 2),
    ):
        result = gctl(*args)
        assert result.exit_code == code, (args, result.stderr)
    assert not [p for p in paths_touched if ".." in p or p.startswith("/etc")], paths_touched


@pytest.mark.parametrize("ref", TRAVERSALS)
def test_store_paths_take_only_uuids(tmp_path, ref):
    store = Store(tmp_path / "h")
    for build in (store.data_path, store.staging_path, store.images.shard_path, store.take_lease,
                  store.lease_is_live, store.clear_lease):
        with pytest.raises(InvalidValue):
            build(ref)
    assert datafiles.temp_owner(tmp_path / f".{ref}.tmp-1-ab") is None
    assert not (tmp_path / "h").exists()


@pytest.fixture
def victim_dir(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    return victim


@pytest.mark.parametrize("subdir", ["data", "tmp"])
def test_upload_refuses_a_symlinked_store_dir(gctl, home, victim_dir, subdir):
    image = gctl.create("u", *FORMATS)
    (home / subdir).symlink_to(victim_dir)
    result = gctl("image", "upload", image["id"], input=b"x" * 1000)
    assert result.exit_code == 7 and f"{home / subdir}" in result.stderr
    assert list(victim_dir.iterdir()) == []
    assert gctl.show(image["id"])["status"] == "queued"


def test_delete_never_unlinks_through_a_symlinked_data_dir(gctl, home, victim_dir):
    image = gctl.ok("image", "create", "d", *FORMATS, "--file", "-", "-f", "json", input=b"x" * 1000).json()
    (home / "data").rename(home / "data.moved")
    (home / "data").symlink_to(victim_dir)
    precious = victim_dir / image["id"]
    precious.write_text("not glancectl's")
    gctl.ok("image", "delete", image["id"])
    assert precious.read_text() == "not glancectl's"


def test_planted_file_symlinks_are_replaced_never_written_through(gctl, home, tmp_path):
    image = gctl.create("p", *FORMATS)
    shard = next(p for p in (home / "images").glob("*.json") if image["id"] in p.read_text())
    bak_victim, data_victim, meta_victim = (tmp_path / n for n in ("bak", "data", "meta"))
    for victim in (bak_victim, data_victim):
        victim.write_text("keep")
    shard.with_name(shard.name + ".bak").unlink(missing_ok=True)
    shard.with_name(shard.name + ".bak").symlink_to(bak_victim)
    (home / "data").mkdir(exist_ok=True)
    (home / "data" / image["id"]).symlink_to(data_victim)
    (home / "meta.json").unlink()
    (home / "meta.json").symlink_to(meta_victim)  # dangling: recreated, not followed
    gctl.ok("image", "upload", image["id"], input=b"y" * 5000)
    gctl.ok("image", "set", image["id"], "--name", "again")
    assert bak_victim.read_text() == "keep" and data_victim.read_text() == "keep"
    assert not meta_victim.exists()
    assert (home / "data" / image["id"]).read_bytes() == b"y" * 5000
    assert not (home / "meta.json").is_symlink()


def test_symlinked_lease_or_lock_file_is_refused_with_exit_7(gctl, home, tmp_path):
    image = gctl.create("l", *FORMATS)
    (home / "leases").mkdir(exist_ok=True)
    (home / "leases" / f"{image['id']}.lock").symlink_to(tmp_path / "lease-victim")
    result = gctl("image", "upload", image["id"], input=b"z")
    assert result.exit_code == 7 and "symlink" in result.stderr
    assert not (tmp_path / "lease-victim").exists()
    (home / "store.lock").unlink()
    (home / "store.lock").symlink_to(tmp_path / "lock-victim")
    result = gctl("image", "create", "m")
    assert result.exit_code == 7 and "symlink" in result.stderr
    assert not (tmp_path / "lock-victim").exists()


def test_everything_is_owner_only_even_with_umask_0(gctl, home):
    old = os.umask(0)
    try:
        image = gctl.ok("image", "create", "o", *FORMATS, "--file", "-", "-f", "json", input=b"o" * 3000).json()
        gctl.ok("image", "set", image["id"], "--tag", "t")
        gctl.ok("image", "create", "q", *FORMATS)
    finally:
        os.umask(old)
    modes = {p: stat.S_IMODE(p.lstat().st_mode) for p in [home, *home.rglob("*")]}
    assert {p.name for p in modes} >= {"data", "images", "store.lock", "meta.json", image["id"]}
    assert {str(p): oct(m) for p, m in modes.items() if m & 0o077} == {}


def test_download_never_writes_through_a_symlink_planted_mid_stream(gctl, home, tmp_path,
                                                                     monkeypatch):
    data = os.urandom(300_000)
    image = gctl.ok("image", "create", "s", *FORMATS, "--file", "-", "-f", "json", input=data).json()
    out, victim = tmp_path / "out.img", tmp_path / "victim"
    victim.write_text("keep")
    real_pump = datafiles.pump

    def plant_then_pump(*args, **kwargs):
        out.symlink_to(victim)  # after the command looked at --file
        return real_pump(*args, **kwargs)

    monkeypatch.setattr(datafiles, "pump", plant_then_pump)
    gctl.ok("image", "download", image["id"], "--file", str(out))
    assert victim.read_text() == "keep"
    assert not out.is_symlink() and out.read_bytes() == data
