"""Format inspection on the upload paths, through the CLI: virtual_size, mismatch, unsafe data."""

from __future__ import annotations

import pytest

from tests import imagefactory as factory

MiB = 1024 * 1024


def data_and_temps(home):
    return [p for p in home.rglob("*") if p.is_file() and (p.parent.name in ("data", "tmp"))]


def test_valid_qcow2_gets_qemu_virtual_size(gctl, home, tmp_path):
    disk = factory.qcow2(tmp_path, size=3 * MiB)
    expected = factory.qemu_info(disk, "qcow2")["virtual-size"]
    image = gctl.create("q", "--disk-format", "qcow2", "--container-format", "bare", "--file", str(disk))
    assert image["status"] == "active"
    assert image["virtual_size"] == expected == 3 * MiB
    assert image["size"] == disk.stat().st_size
    shown = gctl.ok("image", "show", image["id"], "-f", "value", "-c", "virtual_size").stdout.strip()
    assert shown == str(expected)


def test_upload_of_raw_claiming_qcow2_is_killed(gctl, home, tmp_path):
    raw = factory.random_raw(tmp_path, MiB)
    image = gctl.create("liar", "--disk-format", "qcow2", "--container-format", "bare")
    result = gctl("image", "upload", image["id"], "--file", str(raw))
    assert result.exit_code == 5
    assert "raw" in result.stderr and "qcow2" in result.stderr
    assert gctl.show(image["id"])["status"] == "killed"
    assert data_and_temps(home) == []


@pytest.mark.parametrize("build,check", [
    (factory.qcow2_with_backing_file, "backing_file"),
    (factory.qcow2_with_data_file, "data_file"),
    (factory.vmdk_sparse_extent_elsewhere, "descriptor"),
])
def test_unsafe_images_are_killed_naming_the_check(gctl, home, tmp_path, build, check):
    disk = build(tmp_path)
    fmt = "vmdk" if disk.suffix == ".vmdk" else "qcow2"
    image = gctl.create("unsafe", "--disk-format", fmt, "--container-format", "bare")
    result = gctl("image", "upload", image["id"], "--file", str(disk))
    assert result.exit_code == 5, result.stderr
    assert check in result.stderr
    assert gctl.show(image["id"])["status"] == "killed"
    assert data_and_temps(home) == []


def test_raw_accepts_plain_bytes_and_records_byte_count(gctl, tmp_path):
    raw = factory.random_raw(tmp_path, MiB + 7)
    image = gctl.create("r", "--disk-format", "raw", "--container-format", "bare", "--file", str(raw))
    assert image["virtual_size"] == MiB + 7


def test_iso_upload(gctl, tmp_path):
    iso = factory.iso9660(tmp_path)
    image = gctl.create("iso", "--disk-format", "iso", "--container-format", "bare", "--file", str(iso))
    assert image["status"] == "active" and image["virtual_size"] == iso.stat().st_size


def test_stdin_upload_is_inspected_too(gctl, tmp_path):
    disk = factory.qcow2_with_backing_file(tmp_path)
    image = gctl.create("pipe", "--disk-format", "qcow2", "--container-format", "bare")
    result = gctl("image", "upload", image["id"], input=disk.read_bytes())
    assert result.exit_code == 5 and "backing_file" in result.stderr
