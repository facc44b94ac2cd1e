"""Build real disk images for tests: with qemu-img where it can, crafted in Python where not.

Every builder takes a directory and returns the path of the image it made.
The qemu-img builders need ``qemu-img`` (Debian/Ubuntu package ``qemu-utils``);
tests that use them should carry ``needs_qemu_img``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

QEMU_IMG = shutil.which("qemu-img")
needs_qemu_img = pytest.mark.skipif(
    QEMU_IMG is None,
    reason="qemu-img not installed (apt-get install qemu-utils); qemu-built images skipped",
)

ISO_SECTOR = 2048
MiB = 1024 * 1024


def qemu_img(*args: str) -> str:
    if QEMU_IMG is None:
        pytest.skip("qemu-img not installed (apt-get install qemu-utils)")
    proc = subprocess.run(
        [QEMU_IMG, *args], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}
    )
    if proc.returncode != 0:
        raise RuntimeError(f"qemu-img {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def qemu_info(path: Path, fmt: str | None = None) -> dict:
    """``qemu-img info --output=json``; pass ``fmt`` to stop qemu probing."""
    args = ["info", "--output=json"]
    if fmt:
        args += ["-f", fmt]
    return json.loads(qemu_img(*args, str(path)))


def random_raw(directory: Path, size: int, name: str = "disk.raw", seed: int = 0) -> Path:
    """Pseudo-random bytes (deterministic, so a failure reproduces)."""
    import random

    path = Path(directory) / name
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, MiB)
            fh.write(rng.randbytes(n))
            left -= n
    return path


# -- qemu-img built ------------------------------------------------------------
def convert(directory: Path, source: Path, fmt: str, name: str, *options: str) -> Path:
    """``qemu-img convert -f raw -O fmt`` (qemu calls vhd ``vpc``)."""
    out = Path(directory) / name
    args = ["convert", "-f", "raw", "-O", fmt]
    for opt in options:
        args += ["-o", opt]
    qemu_img(*args, str(source), str(out))
    return out


def qcow2(directory: Path, size: int = 2 * MiB, name: str = "disk.qcow2") -> Path:
    """A valid qcow2 holding random data (so it has real clusters, not just a header)."""
    raw = random_raw(directory, size, name=name + ".src")
    return convert(directory, raw, "qcow2", name)


def qcow2_with_backing_file(directory: Path) -> Path:
    base = random_raw(directory, MiB, name="base.raw")
    out = Path(directory) / "overlay.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(out))
    return out


def qcow2_with_data_file(directory: Path) -> Path:
    data = Path(directory) / "external-data.raw"
    out = Path(directory) / "external.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={data}", str(out), "1M")
    return out


def vmdk_monolithic_flat(directory: Path) -> Path:
    """A text VMDK descriptor whose FLAT extent is another file (``*-flat.vmdk``)."""
    out = Path(directory) / "flat.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", str(out), "1M")
    return out


def vmdk_sparse(directory: Path, name: str = "sparse.vmdk") -> Path:
    raw = random_raw(directory, MiB, name=name + ".src")
    return convert(directory, raw, "vmdk", name, "subformat=monolithicSparse")


def vmdk_stream_optimized(directory: Path) -> Path:
    raw = random_raw(directory, 2 * MiB, name="so.src")
    return convert(directory, raw, "vmdk", "stream.vmdk", "subformat=streamOptimized")


def vmdk_stream_with_footer(directory: Path) -> Path:
    """A streamOptimized VMDK whose header defers to a footer at the end of the file.

    That is how VMware writes them (qemu 7.2 does not): the header's gdOffset
    is GD_AT_END and the file ends with footer marker, footer, end-of-stream
    marker. oslo then also checks the last 1536 bytes of the stream.
    """
    path = vmdk_stream_optimized(directory)
    data = bytearray(path.read_bytes())
    header = bytes(data[:512])
    data[56:64] = struct.pack("<Q", 0xFFFFFFFFFFFFFFFF)
    marker = struct.pack("<QII", 1, 0, 3).ljust(512, b"\x00")  # MARKER_FOOTER
    eos = bytes(512)  # MARKER_EOS
    path.write_bytes(bytes(data) + marker + header + eos)
    return path


def vmdk_sparse_extent_elsewhere(directory: Path, target: str = "/etc/passwd") -> Path:
    """A monolithicSparse VMDK whose embedded descriptor names an extent in another file."""
    path = vmdk_sparse(directory, name="evil.vmdk")
    data = bytearray(path.read_bytes())
    old = b'SPARSE "evil.vmdk"'
    new = b'SPARSE "' + target.encode() + b'"'
    at = data.index(old)
    end = data.index(b"\x00", at)  # the descriptor is NUL-padded; keep its length
    text = bytes(data[at:end]).replace(old, new, 1)
    data[at:at + len(text)] = text
    path.write_bytes(bytes(data))
    return path


def qcow2_unknown_feature(directory: Path) -> Path:
    """A qcow2 v3 with an incompatible-feature bit oslo (and qemu) do not know."""
    path = qcow2(directory, size=MiB, name="future.qcow2")
    data = bytearray(path.read_bytes())
    data[0x48] |= 0x80  # top byte of the 8-byte big-endian incompatible_features
    path.write_bytes(bytes(data))
    return path


# -- crafted in Python ---------------------------------------------------------
def _mbr_entry(boot: int, ostype: int, chs: tuple[int, int, int], lba: int, sectors: int) -> bytes:
    return struct.pack("<B3BB3BII", boot, *chs, ostype, 0xFE, 0xFF, 0xFF, lba, sectors)


def mbr_disk(directory: Path, *, valid: bool = True, size: int = 2 * MiB,
             name: str = "mbr.raw") -> Path:
    """A raw disk with an MBR partition table. ``valid=False`` sets a bad boot flag."""
    path = random_raw(directory, size, name=name, seed=7)
    data = bytearray(path.read_bytes())
    data[0:446] = bytes(446)  # boot code area; keep the FAT heuristic from firing
    entries = _mbr_entry(0x80 if valid else 0x42, 0x83, (0x20, 0x21, 0x00), 2048,
                         size // 512 - 2048)
    data[446:510] = entries + bytes(48)
    data[510:512] = b"\x55\xaa"
    path.write_bytes(bytes(data))
    return path


def iso9660(directory: Path, *, blocks: int = 40, hybrid_mbr: bool = False,
            name: str = "disk.iso") -> Path:
    """A minimal ISO 9660 image: empty system area, one PVD, a terminator.

    ``hybrid_mbr`` puts a protective-MBR style partition table in the system
    area, the way bootable "isohybrid" ISOs do, so it also looks like gpt.
    """
    data = bytearray(blocks * ISO_SECTOR)
    pvd = 16 * ISO_SECTOR
    data[pvd:pvd + 7] = b"\x01CD001\x01"
    data[pvd + 8:pvd + 40] = b"LINUX".ljust(32)
    data[pvd + 40:pvd + 72] = b"GLANCECTL_TEST".ljust(32)
    data[pvd + 80:pvd + 88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
    data[pvd + 120:pvd + 124] = struct.pack("<H", 1) + struct.pack(">H", 1)
    data[pvd + 124:pvd + 128] = struct.pack("<H", 1) + struct.pack(">H", 1)
    data[pvd + 128:pvd + 132] = struct.pack("<H", ISO_SECTOR) + struct.pack(">H", ISO_SECTOR)
    term = 17 * ISO_SECTOR
    data[term:term + 7] = b"\xffCD001\x01"
    if hybrid_mbr:
        data[446:462] = _mbr_entry(0x80, 0x17, (0x00, 0x01, 0x00), 0, blocks * 4)
        data[510:512] = b"\x55\xaa"
    path = Path(directory) / name
    path.write_bytes(bytes(data))
    return path


def tool_iso(directory: Path) -> Path | None:
    """An ISO made by genisoimage/xorriso/mkisofs, or None if none is installed."""
    tool = next((t for t in ("genisoimage", "mkisofs", "xorrisofs") if shutil.which(t)), None)
    if tool is None:
        return None
    src = Path(directory) / "iso-src"
    src.mkdir()
    (src / "hello.txt").write_text("hello from glancectl\n")
    out = Path(directory) / "tool.iso"
    subprocess.run([tool, "-quiet", "-o", str(out), "-V", "GLANCECTL", str(src)], check=True,
                   capture_output=True)
    return out


def qcow2_mbr_polyglot(directory: Path) -> Path:
    """A qcow2 header that also carries a valid MBR: two formats at once."""
    path = qcow2(directory, size=MiB, name="polyglot.qcow2")
    data = bytearray(path.read_bytes())
    data[446:462] = _mbr_entry(0x00, 0x83, (0x20, 0x21, 0x00), 2048, 2048)
    data[462:510] = bytes(48)
    data[510:512] = b"\x55\xaa"
    path.write_bytes(bytes(data))
    return path
