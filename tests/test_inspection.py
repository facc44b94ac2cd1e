"""Disk-format inspection over real images, fed the way an upload feeds them.

Images come from tests/imagefactory.py: qemu-img where possible (those tests
skip without qemu-img), crafted bytes for ISO, MBR and the odd cases.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from glancectl.errors import DataError
from glancectl.inspection import INSPECT_BLOCK, InspectionResult, StreamInspector
from tests import imagefactory as factory
from tests.imagefactory import MiB, needs_qemu_img

# Irregular sizes put chunk boundaries inside every header the inspectors read.
MIXED = (1, 3, 509, 7, 4096, 65_535, 513, 1 << 20, 4 << 20)
# How an image is cut into chunks. "bytes" feeds the first 70 KiB one byte at
# a time (past the first 64 KiB inspection block), then 1 MiB chunks.
CHUNKINGS = ["bytes", 7, 512, 4097, 65_536, 4 << 20, "mixed", "whole"]


def chunks(data: bytes, chunking):
    view = memoryview(data)
    if chunking == "whole":
        yield view
        return
    if chunking == "bytes":
        sizes = itertools.chain(itertools.repeat(1, 70 * 1024), itertools.repeat(MiB))
    elif chunking == "mixed":
        sizes = itertools.cycle(MIXED)
    else:
        sizes = itertools.repeat(chunking)
    pos = 0
    for size in sizes:
        if pos >= len(data):
            return
        yield view[pos:pos + size]
        pos += size


def inspect(path: Path, disk_format, chunking="mixed", **kwargs) -> InspectionResult:
    data = Path(path).read_bytes()
    inspector = StreamInspector(disk_format, **kwargs)
    for chunk in chunks(data, chunking):
        inspector.feed(chunk)
    return inspector.finish(len(data))


def refused(path: Path, disk_format, chunking="mixed") -> str:
    with pytest.raises(DataError) as info:
        inspect(path, disk_format, chunking)
    return str(info.value)


# -- valid images: format and virtual size ---------------------------------------
@needs_qemu_img
@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_qcow2_virtual_size_matches_qemu_img(tmp_path, chunking):
    image = factory.qcow2(tmp_path, size=3 * MiB)
    expected = factory.qemu_info(image, "qcow2")["virtual-size"]
    assert expected == 3 * MiB
    assert inspect(image, "qcow2", chunking) == InspectionResult("qcow2", expected)


@needs_qemu_img
@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize(
    "disk_format, qemu_format, options",
    [
        ("vhd", "vpc", ()),
        ("vhdx", "vhdx", ()),
        ("vdi", "vdi", ()),
        ("vmdk", "vmdk", ("subformat=monolithicSparse",)),
        ("vmdk", "vmdk", ("subformat=streamOptimized",)),
    ],
    ids=["vhd", "vhdx", "vdi", "vmdk-sparse", "vmdk-stream"],
)
def test_converted_formats_report_qemu_virtual_size(
    tmp_path, disk_format, qemu_format, options, chunking
):
    raw = factory.random_raw(tmp_path, 3 * MiB + 512)
    image = factory.convert(tmp_path, raw, qemu_format, f"disk.{disk_format}", *options)
    expected = factory.qemu_info(image, qemu_format)["virtual-size"]
    assert inspect(image, disk_format, chunking) == InspectionResult(disk_format, expected)


@pytest.mark.parametrize("chunking", [1, 511, 65_536, "mixed", "whole"])
def test_raw_data_is_raw_sized_by_its_bytes(tmp_path, chunking):
    image = factory.random_raw(tmp_path, 300 * 1024 + 5)
    assert inspect(image, "raw", chunking) == InspectionResult("raw", 300 * 1024 + 5)


@pytest.mark.parametrize("chunking", [1, 2048, "mixed", "whole"])
def test_iso9660_virtual_size_from_primary_volume_descriptor(tmp_path, chunking):
    image = factory.iso9660(tmp_path, blocks=40)
    assert inspect(image, "iso", chunking) == InspectionResult("iso", 40 * 2048)


def test_iso_volume_size_can_differ_from_file_size(tmp_path):
    image = factory.iso9660(tmp_path, blocks=40)
    with open(image, "ab") as fh:
        fh.write(bytes(4096))  # padding after the volume
    assert inspect(image, "iso").virtual_size == 40 * 2048


def test_hybrid_iso_with_mbr_counts_as_iso(tmp_path):
    """Glance: iso+gpt together is a bootable ISO, not an ambiguous image."""
    image = factory.iso9660(tmp_path, blocks=40, hybrid_mbr=True)
    assert inspect(image, "iso") == InspectionResult("iso", 40 * 2048)


def test_iso_made_by_a_real_tool(tmp_path):
    image = factory.tool_iso(tmp_path)
    if image is None:
        pytest.skip("no genisoimage/mkisofs/xorrisofs (apt-get install genisoimage)")
    assert inspect(image, "iso") == InspectionResult("iso", image.stat().st_size)


# -- mismatches ------------------------------------------------------------------
@pytest.mark.parametrize("chunking", ["bytes", "whole"])
def test_raw_data_claiming_qcow2_is_refused(tmp_path, chunking):
    image = factory.random_raw(tmp_path, 256 * 1024)
    message = refused(image, "qcow2", chunking)
    assert "raw" in message and "qcow2" in message


@pytest.mark.parametrize("size", [0, 100, 511])
def test_data_shorter_than_a_header_is_raw(tmp_path, size):
    image = tmp_path / "short"
    image.write_bytes(b"QFI\xfb" + bytes(max(0, size - 4)) if size else b"")
    message = refused(image, "qcow2")
    assert "raw" in message and "qcow2" in message
    expected_size = size or None  # Glance leaves virtual_size unset for 0
    assert inspect(image, "raw") == InspectionResult("raw", expected_size)


@needs_qemu_img
def test_qcow2_claiming_another_format_is_refused(tmp_path):
    image = factory.qcow2(tmp_path)
    for declared in ("vmdk", "vhd", "iso"):
        message = refused(image, declared)
        assert "qcow2" in message and declared in message


@needs_qemu_img
def test_raw_declared_accepts_a_safe_qcow2_sized_by_bytes(tmp_path):
    """Glance 33: disk_format raw takes any safe data, virtual_size = byte count."""
    image = factory.qcow2(tmp_path)
    assert inspect(image, "raw") == InspectionResult("qcow2", image.stat().st_size)


def test_raw_declared_accepts_iso_data(tmp_path):
    image = factory.iso9660(tmp_path, blocks=20)
    assert inspect(image, "raw") == InspectionResult("iso", 20 * 2048)


@needs_qemu_img
def test_two_formats_at_once_are_refused(tmp_path):
    image = factory.qcow2_mbr_polyglot(tmp_path)
    for declared in ("qcow2", "raw", None):
        message = refused(image, declared)
        assert "more than one" in message and "gpt" in message and "qcow2" in message


# -- safety checks -----------------------------------------------------------------
@needs_qemu_img
@pytest.mark.parametrize("declared", ["qcow2", "raw", None])
@pytest.mark.parametrize("chunking", ["bytes", "whole"])
def test_qcow2_with_backing_file_is_refused(tmp_path, declared, chunking):
    image = factory.qcow2_with_backing_file(tmp_path)
    assert factory.qemu_info(image, "qcow2").get("backing-filename")
    assert "backing_file" in refused(image, declared, chunking)


@needs_qemu_img
@pytest.mark.parametrize("declared", ["qcow2", "raw"])
def test_qcow2_with_external_data_file_is_refused(tmp_path, declared):
    image = factory.qcow2_with_data_file(tmp_path)
    assert "data_file" in refused(image, declared)


@needs_qemu_img
def test_qcow2_with_unknown_feature_bits_is_refused(tmp_path):
    image = factory.qcow2_unknown_feature(tmp_path)
    assert "unknown_features" in refused(image, "qcow2")


@needs_qemu_img
@pytest.mark.parametrize("chunking", [1, 7, 4096, "whole"])
def test_vmdk_flat_descriptor_pointing_at_another_file_is_refused(tmp_path, chunking):
    image = factory.vmdk_monolithic_flat(tmp_path)
    assert (tmp_path / "flat-flat.vmdk").exists()
    for declared in ("vmdk", "raw"):
        message = refused(image, declared, chunking)
        assert "descriptor" in message and "vmdk" in message


@needs_qemu_img
@pytest.mark.parametrize("chunking", ["bytes", "whole"])
def test_vmdk_sparse_with_extent_in_another_file_is_refused(tmp_path, chunking):
    image = factory.vmdk_sparse_extent_elsewhere(tmp_path, "/etc/passwd")
    message = refused(image, "vmdk", chunking)
    assert "descriptor" in message and "extent" in message.lower()


@needs_qemu_img
@pytest.mark.parametrize("chunking", [4096, "mixed", "whole"])
def test_vmdk_stream_optimized_footer_is_checked(tmp_path, chunking):
    """The footer is read from the end of the stream after per-chunk work stopped."""
    image = factory.vmdk_stream_with_footer(tmp_path)
    inspector = StreamInspector("vmdk")
    data = image.read_bytes()
    for chunk in chunks(data, chunking):
        inspector.feed(chunk)
    assert inspector.settled
    assert inspector.finish(len(data)) == InspectionResult("vmdk", 2 * MiB)
    broken = bytearray(data)
    broken[-512 + 12] = 9  # end-of-stream marker type
    image.write_bytes(bytes(broken))
    assert "footer" in refused(image, "vmdk", chunking)


def test_valid_mbr_disk_declared_raw_is_accepted(tmp_path):
    image = factory.mbr_disk(tmp_path, valid=True)
    assert inspect(image, "raw") == InspectionResult("gpt", 2 * MiB)


@pytest.mark.parametrize("declared", ["raw", "ami", None])
def test_invalid_mbr_is_refused(tmp_path, declared):
    image = factory.mbr_disk(tmp_path, valid=False)
    assert "mbr" in refused(image, declared)


@pytest.mark.parametrize("declared", ["aki", "ari"])
def test_invalid_mbr_is_tolerated_for_kernels_and_ramdisks(tmp_path, declared):
    image = factory.mbr_disk(tmp_path, valid=False)
    assert inspect(image, declared) == InspectionResult("gpt", None)


def test_qed_is_banned(tmp_path):
    image = tmp_path / "disk.qed"
    image.write_bytes(b"QED\x00" + bytes(4092))
    assert "banned" in refused(image, "raw")


# -- formats oslo cannot inspect, and no format at all ------------------------------
@pytest.mark.parametrize("declared", ["ami", "ari", "aki", "ploop", None])
def test_uninspectable_formats_accept_unrecognised_data(tmp_path, declared):
    image = factory.random_raw(tmp_path, 200 * 1024)
    assert inspect(image, declared) == InspectionResult("raw", None)


@needs_qemu_img
@pytest.mark.parametrize("declared", ["ami", "ari", "aki", "ploop"])
def test_uninspectable_formats_refuse_recognised_data(tmp_path, declared):
    """Glance: only data it did not recognise passes as ami/ari/aki/ploop."""
    image = factory.qcow2(tmp_path)
    message = refused(image, declared)
    assert "qcow2" in message and declared in message


@needs_qemu_img
def test_no_disk_format_still_records_virtual_size(tmp_path):
    image = factory.qcow2(tmp_path, size=3 * MiB)
    assert inspect(image, None) == InspectionResult("qcow2", 3 * MiB)


@needs_qemu_img
def test_non_bare_container_is_not_inspected(tmp_path):
    """Glance only inspects container_format bare: an ova is a tarball, not a disk."""
    image = factory.qcow2_with_backing_file(tmp_path)
    assert inspect(image, "vmdk", container_format="ova") == InspectionResult(None, None)
    assert "backing_file" in refused(image, "qcow2")  # bare is the default


# -- streaming contract --------------------------------------------------------------
def test_per_chunk_work_stops_after_the_headers(tmp_path):
    inspector = StreamInspector("raw")
    chunk = os.urandom(INSPECT_BLOCK)
    for _ in range(8):
        inspector.feed(chunk)
    assert inspector.settled
    for _ in range(8):
        inspector.feed(chunk)
    assert inspector.finish(16 * INSPECT_BLOCK) == InspectionResult("raw", 16 * INSPECT_BLOCK)


@needs_qemu_img
def test_vhdx_in_one_huge_chunk_still_finds_the_virtual_size(tmp_path):
    """oslo alone misses VHDX's size record when fed multi-MiB chunks."""
    raw = factory.random_raw(tmp_path, MiB)
    image = factory.convert(tmp_path, raw, "vhdx", "disk.vhdx")
    assert inspect(image, "vhdx", "whole") == InspectionResult("vhdx", MiB)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_feed_accepts_bytes_like_objects(tmp_path, kind):
    data = factory.iso9660(tmp_path, blocks=20).read_bytes()
    inspector = StreamInspector("iso")
    for i in range(0, len(data), 3000):
        inspector.feed(kind(data[i:i + 3000]))
    assert inspector.finish(len(data)) == InspectionResult("iso", 20 * 2048)


def test_feed_does_not_keep_references_to_caller_buffers(tmp_path):
    data = factory.iso9660(tmp_path, blocks=20).read_bytes()
    inspector = StreamInspector("iso")
    buf = bytearray(1000)
    for i in range(0, len(data), 1000):
        piece = data[i:i + 1000]
        buf[:len(piece)] = piece
        inspector.feed(memoryview(buf)[:len(piece)])
        buf[:] = b"\xff" * len(buf)  # reuse the buffer, as a readinto loop does
    assert inspector.finish(len(data)) == InspectionResult("iso", 20 * 2048)


def test_finish_checks_the_byte_count_and_is_final():
    inspector = StreamInspector("raw")
    inspector.feed(b"abc")
    with pytest.raises(ValueError):
        inspector.finish(4)
    with pytest.raises(RuntimeError):
        inspector.feed(b"d")
    with pytest.raises(RuntimeError):
        inspector.finish(3)


def test_mismatch_is_a_data_error_with_the_verification_exit_code(tmp_path):
    from glancectl.exit_codes import ExitCode

    image = factory.random_raw(tmp_path, 4096)
    with pytest.raises(DataError) as info:
        inspect(image, "vdi")
    assert info.value.exit_code == ExitCode.VERIFICATION_FAILED
