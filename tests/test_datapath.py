"""The upload copy loop (datafiles.receive): what it stores and hashes, how it overlaps, and
that none of its threads outlives the stream."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import threading

import pytest

from glancectl import datafiles

CHUNK = datafiles.CHUNK_SIZE


def short_reads(data: bytes, seed: int):
    """``readinto`` over ``data`` that hands out uneven pieces, as a pipe or socket does."""
    rng, pos = random.Random(seed), 0

    def readinto(buf) -> int:
        nonlocal pos
        n = min(len(buf), len(data) - pos, rng.choice([1, 7, 4096, 65536, CHUNK]))
        buf[:n] = data[pos:pos + n]
        pos += n
        return n

    return readinto


def sink_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("glancectl-sink")]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_stored_bytes_and_hashes_are_the_data_whatever_its_size_and_read_pieces(tmp_path, size):
    data = os.urandom(size)
    inspected = bytearray()
    fd, temp = datafiles.create_temp(tmp_path, "img")
    try:
        got = datafiles.receive(short_reads(data, size), fd, temp,
                                extra_sinks=[inspected.extend])
    finally:
        os.close(fd)
    assert got.size == size
    assert got.checksum == hashlib.md5(data).hexdigest()
    assert got.os_hash_value == hashlib.sha512(data).hexdigest()
    assert temp.read_bytes() == data
    assert bytes(inspected) == data  # the inspector sees every byte, in order
    assert sink_threads() == []


def test_a_write_held_up_by_the_disk_holds_up_no_hash(tmp_path, monkeypatch):
    """md5 is the slowest stage; while one write waits for the disk it hashes the next chunks."""
    md5_chunks = []
    hashed_ahead = threading.Event()
    real_md5, real_write = hashlib.md5, datafiles._Writer.__call__

    class WatchedMd5:
        def __init__(self, **kwargs):
            self._md5 = real_md5(**kwargs)

        def update(self, chunk) -> None:
            self._md5.update(chunk)
            md5_chunks.append(len(chunk))
            if len(md5_chunks) >= 3:
                hashed_ahead.set()

        def hexdigest(self) -> str:
            return self._md5.hexdigest()

    waited = []

    def slow_first_write(self, chunk) -> None:
        if not waited:  # the disk stalls on the first chunk until md5 has gone on without it
            waited.append(hashed_ahead.wait(timeout=10))
        real_write(self, chunk)

    monkeypatch.setattr(hashlib, "md5", WatchedMd5)
    monkeypatch.setattr(datafiles._Writer, "__call__", slow_first_write)
    data = os.urandom(4 * CHUNK)
    fd, temp = datafiles.create_temp(tmp_path, "img")
    try:
        got = datafiles.receive(short_reads(data, 1), fd, temp)
    finally:
        os.close(fd)
    assert waited == [True], "md5 waited for the write of the chunk before"
    assert got.checksum == real_md5(data).hexdigest() and temp.read_bytes() == data


def test_no_thread_outlives_a_full_disk(tmp_path):
    fd = os.open("/dev/full", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as failed:
            datafiles.receive(short_reads(os.urandom(3 * CHUNK), 2), fd, tmp_path / "unused")
    finally:
        os.close(fd)
    assert failed.value.errno == errno.ENOSPC
    assert sink_threads() == []


def test_no_thread_outlives_an_interrupt_mid_stream(tmp_path):
    """Ctrl-C (and SIGTERM, which the CLI turns into the same) lands on the reading thread."""
    def interrupted(total: int) -> None:
        if total > CHUNK:
            raise KeyboardInterrupt

    fd, temp = datafiles.create_temp(tmp_path, "img")
    try:
        with pytest.raises(KeyboardInterrupt):
            datafiles.receive(short_reads(os.urandom(8 * CHUNK), 3), fd, temp, on_chunk=interrupted)
    finally:
        os.close(fd)
    assert sink_threads() == []


def takes_direct_io(directory) -> bool:
    import fcntl

    fd, path = datafiles.create_temp(directory, "probe")
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_DIRECT)
        return True
    except (OSError, AttributeError):
        return False
    finally:
        os.close(fd)
        path.unlink()


def test_whole_chunks_bypass_the_page_cache_and_the_tail_goes_through_it(tmp_path, monkeypatch):
    """Direct writes spare the copy into the cache and the kernel's writeback (the upload's
    biggest CPU cost after the hashes); the last, partial chunk cannot be written direct."""
    import fcntl

    if not takes_direct_io(tmp_path):
        pytest.skip("this file system has no O_DIRECT")
    writes, real_write = [], os.write

    def watched(fd, data):
        writes.append((len(data), bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", watched)
    data = os.urandom(2 * CHUNK + 100)
    fd, temp = datafiles.create_temp(tmp_path, "img")
    try:
        datafiles.receive(short_reads(data, 4), fd, temp)
    finally:
        os.close(fd)
    assert writes == [(CHUNK, True), (CHUNK, True), (100, False)]
    assert temp.read_bytes() == data


def test_a_direct_writer_given_bytes_off_the_page_boundary_still_writes_them_all(tmp_path):
    """A file system or buffer O_DIRECT refuses (EINVAL) is written through the cache instead."""
    blob = os.urandom(3 * 4096 + 1)
    fd, temp = datafiles.create_temp(tmp_path, "img")
    try:
        write = datafiles._Writer(fd, direct=True)
        write(memoryview(blob)[1:4097])  # whole pages long, but not on a page boundary
        write(memoryview(blob)[4097:])
        os.fsync(fd)
    finally:
        os.close(fd)
    assert temp.read_bytes() == blob[1:]
