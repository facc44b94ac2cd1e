"""A full disk mid-upload and mid-record-write: a clear exit 7, nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import subprocess

import pytest

from glancectl import datafiles
from tests.conftest import FORMATS

MiB = 1024 * 1024


def leftovers(home):
    return [p for p in home.rglob("*") if ".tmp-" in p.name or p.parent.name == "data"]


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MiB filesystem (tmpfs), where this machine lets us mount one."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=700", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_upload_onto_a_really_full_disk(gctl, small_disk, tmp_path):
    home = small_disk / "home"
    big = tmp_path / "big.raw"
    big.write_bytes(os.urandom(5 * MiB))
    image = gctl.ok("--home", str(home), "image", "create", "x", *FORMATS, "-q").stdout.strip()
    result = gctl("--home", str(home), "image", "upload", image, "--file", str(big))
    assert result.exit_code == 7, result.stderr
    assert "No space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    shown = json.loads(gctl.ok("--home", str(home), "image", "show", image, "-f", "json").stdout)
    assert shown["status"] == "queued" and shown["size"] is None
    assert leftovers(home) == []
    small = tmp_path / "small.raw"
    small.write_bytes(os.urandom(MiB))
    gctl.ok("--home", str(home), "image", "upload", image, "--file", str(small))


def test_record_write_on_a_full_disk_keeps_the_old_record(gctl, small_disk):
    home = small_disk / "home"
    image = gctl.ok("--home", str(home), "image", "create", "keep", "-q").stdout.strip()
    filler = small_disk / "filler"
    with open(filler, "wb") as out:  # take every last block
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    result = gctl("--home", str(home), "image", "set", image, "--name", "x" * 200,
                  "--property", "big=" + "y" * 10000)
    assert result.exit_code == 7, result.stderr
    assert "No space left on device" in result.stderr
    filler.unlink()
    shown = json.loads(gctl.ok("--home", str(home), "image", "show", image, "-f", "json").stdout)
    assert shown["name"] == "keep"
    gctl.ok("--home", str(home), "image", "create", "next")
    assert not [p for p in home.rglob("*") if ".tmp-" in p.name]


def test_injected_enospc_mid_stream(gctl, home, tmp_path, monkeypatch):
    """The same path without needing mount rights: the writer fails after 1 MiB."""
    real_call = datafiles._Writer.__call__
    written = {"n": 0}

    def failing(self, chunk):
        if written["n"] >= MiB:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written["n"] += len(chunk)
        real_call(self, chunk)

    monkeypatch.setattr(datafiles._Writer, "__call__", failing)
    data = tmp_path / "d.raw"
    data.write_bytes(os.urandom(12 * MiB))
    image = gctl.create("inj", *FORMATS)
    result = gctl("image", "upload", image["id"], "--file", str(data))
    assert result.exit_code == 7 and "No space left on device" in result.stderr
    assert gctl.show(image["id"])["status"] == "queued"
    assert leftovers(home) == []


def test_two_uploads_streaming_side_by_side_cannot_overrun_the_quota(tmp_path):
    """The quota is checked again under the lock when the data is put in place."""
    import io

    import pytest as _pytest

    from glancectl.config import Settings
    from glancectl.errors import LimitExceeded
    from glancectl.operations import data, images
    from glancectl.store import Store

    blob = os.urandom(MiB)
    settings = Settings(user_storage_quota=len(blob) + 100)
    store = Store(tmp_path / "h")
    spec = dict(disk_format="raw", container_format="bare")
    first = images.create_image(store, settings, images.ImageSpec(name="first", **spec))
    second = images.create_image(store, settings, images.ImageSpec(name="second", **spec))

    class Source:
        """first's data; when it ends, second is uploaded whole, as another process would."""
        size = None

        def __init__(self):
            self.stream = io.BytesIO(blob)

        def readinto(self, buf):
            n = self.stream.readinto(buf)
            if n == 0 and not getattr(self, "raced", False):
                self.raced = True
                other = type(self)()
                other.raced = True
                data.upload(store, settings, second["id"], other)
            return n

    with _pytest.raises(LimitExceeded, match="exceeds the quota"):
        data.upload(store, settings, first["id"], Source())
    assert store.images.get(second["id"])["status"] == "active"
    after = store.images.get(first["id"])
    assert after["status"] == "queued" and after["size"] is None
    assert not [p for p in (tmp_path / "h").rglob("*") if ".tmp-" in p.name]
    assert sorted(p.name for p in (tmp_path / "h" / "data").iterdir()) == [second["id"]]
