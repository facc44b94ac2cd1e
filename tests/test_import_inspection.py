"""Unsafe and valid disk images through the import paths: web-download, glance-direct, the import task."""

from __future__ import annotations

from tests import imagefactory as factory
from tests.httpserver import http_server  # noqa: F401  (fixture)
from tests.test_tasks import create_task, import_input, leftovers

QCOW2 = ("--disk-format", "qcow2", "--container-format", "bare")


def test_import_task_refuses_a_qcow2_with_a_backing_file(gctl, home, http_server, tmp_path):
    disk = factory.qcow2_with_backing_file(tmp_path)
    url = http_server.add("/overlay.qcow2", disk.read_bytes())
    result = create_task(gctl, "--wait", "--input", import_input(url, "qcow2"))
    assert result.exit_code == 5, result.stderr
    task = result.json()
    assert task["status"] == "failure" and "backing_file" in task["message"]
    assert gctl.show(task["image_id"])["status"] == "killed"
    assert leftovers(home) == []


def test_web_download_refuses_a_vmdk_pointing_elsewhere(gctl, home, http_server, tmp_path):
    disk = factory.vmdk_sparse_extent_elsewhere(tmp_path)
    url = http_server.add("/evil.vmdk", disk.read_bytes())
    image = gctl.create("evil", "--disk-format", "vmdk", "--container-format", "bare")
    result = gctl("image", "import", image["id"], "--method", "web-download", "--uri", url, "--wait")
    assert result.exit_code == 5, result.stderr
    assert "descriptor" in result.stderr
    assert gctl.show(image["id"])["status"] == "queued", "a failed import goes back to queued"
    assert leftovers(home) == []


def test_staging_refuses_unsafe_data_before_any_import(gctl, home, tmp_path):
    disk = factory.qcow2_with_data_file(tmp_path)
    image = gctl.create("staged", *QCOW2)
    result = gctl("image", "stage", image["id"], "--file", str(disk))
    assert result.exit_code == 5 and "data_file" in result.stderr
    assert gctl.show(image["id"])["status"] == "queued"
    assert not (home / "staging" / image["id"]).exists()
    assert leftovers(home) == []


def test_valid_qcow2_import_records_virtual_size(gctl, http_server, tmp_path):
    disk = factory.qcow2(tmp_path, size=3 * 1024 * 1024)
    url = http_server.add("/good.qcow2", disk.read_bytes())
    result = create_task(gctl, "--wait", "--input", import_input(url, "qcow2"))
    assert result.exit_code == 0, result.stderr
    image = gctl.show(result.json()["result"]["image_id"])
    assert image["status"] == "active"
    assert image["virtual_size"] == factory.qemu_info(disk, "qcow2")["virtual-size"]
