"""`glancectl serve` driven by the command-line clients: openstackclient and glanceclient."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.glanceserver import glance_server, server_env  # noqa: F401  (fixture)

DATA = os.urandom(2 * 1024 * 1024 + 5)
BIN = Path(sys.executable).parent  # the clients are installed with the test extra


def run(glance_server, tool: str, *args: str, close_stdin: bool = False,
        extra_env: dict | None = None):
    """One client command, as a user types it; glanceclient reads stdin as image data
    unless it is closed, so ``close_stdin`` runs it with ``<&-``."""
    argv = [str(BIN / tool), *args]
    env = {k: v for k, v in server_env(glance_server.home, extra_env).items()
           if k != "GLANCECTL_HOME"}
    if close_stdin:
        argv = ["sh", "-c", shlex.join(argv) + " <&-"]
    result = subprocess.run(argv, capture_output=True, env=env, timeout=120,
                            stdin=None if close_stdin else subprocess.DEVNULL)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def openstack(glance_server, *args: str) -> str:
    code, out, err = run(glance_server, "openstack", "--os-auth-type", "none",
                         "--os-endpoint", glance_server.url, *args)
    assert code == 0, err
    return out


def glance(glance_server, *args: str, close_stdin: bool = False):
    return run(glance_server, "glance", "--os-image-url", glance_server.url,
               "--os-auth-token", "local", *args, close_stdin=close_stdin)


@pytest.fixture
def disk(tmp_path) -> Path:
    path = tmp_path / "disk.raw"
    path.write_bytes(DATA)
    return path


def test_openstackclient_image_commands(glance_server, disk, tmp_path):
    created = json.loads(openstack(glance_server, "image", "create", "--file", str(disk),
                                   "--disk-format", "raw", "--container-format", "bare",
                                   "osc-image", "-f", "json"))
    assert (created["status"], created["size"]) == ("active", len(DATA))
    listed = json.loads(openstack(glance_server, "image", "list", "-f", "json"))
    assert {"ID": created["id"], "Name": "osc-image", "Status": "active"} in listed
    openstack(glance_server, "image", "set", "--property", "os_distro=cirros", "osc-image")
    shown = json.loads(openstack(glance_server, "image", "show", "osc-image", "-f", "json"))
    assert shown["properties"]["os_distro"] == "cirros"
    assert shown["checksum"] == hashlib.md5(DATA).hexdigest()
    saved = tmp_path / "saved.raw"
    openstack(glance_server, "image", "save", "--file", str(saved), "osc-image")
    assert saved.read_bytes() == DATA
    openstack(glance_server, "image", "delete", "osc-image")
    assert glance_server.get(f"/v2/images/{created['id']}").status_code == 404
    code, _, err = run(glance_server, "openstack", "--os-auth-type", "none", "--os-endpoint",
                       glance_server.url, "image", "show", created["id"])
    assert code == 1 and "No Image found for" in err


def _field(table: str, name: str) -> str:
    """A value from glanceclient's two-column table."""
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    raise AssertionError(f"no {name} in {table}")


def test_glanceclient_image_commands(glance_server, disk, tmp_path):
    code, out, err = glance(glance_server, "image-create", "--name", "gc-image", "--disk-format",
                            "raw", "--container-format", "bare", close_stdin=True)
    assert code == 0, err
    image_id = _field(out, "id")
    assert _field(out, "status") == "queued"
    code, out, err = glance(glance_server, "image-upload", "--file", str(disk), image_id)
    assert code == 0, err
    assert glance_server.get(f"/v2/images/{image_id}").json()["size"] == len(DATA)
    target = tmp_path / "downloaded.raw"
    code, out, err = glance(glance_server, "image-download", "--file", str(target), image_id)
    assert code == 0, err
    assert target.read_bytes() == DATA
    code, out, err = glance(glance_server, "image-delete", image_id)
    assert code == 0, err
    code, out, err = glance(glance_server, "image-show", image_id)
    assert code == 1 and f"404 Not Found: No image found with ID {image_id}" in err
    # With data on the command line, image-create uploads it too (chunked, as glanceclient does).
    code, out, err = glance(glance_server, "image-create", "--name", "gc-file", "--disk-format",
                            "raw", "--container-format", "bare", "--file", str(disk))
    assert code == 0, err
    assert (_field(out, "status"), _field(out, "size")) == ("active", str(len(DATA)))


def test_glanceclient_shows_glances_refusal(glance_server, disk):
    code, out, err = glance(glance_server, "image-create", "--name", "gc-twice", "--disk-format",
                            "raw", "--container-format", "bare", "--file", str(disk))
    assert code == 0, err
    code, _, err = glance(glance_server, "image-upload", "--file", str(disk), _field(out, "id"))
    assert code == 1
    assert "HTTP 409 Conflict: Image status transition from active to saving is not allowed" in err
