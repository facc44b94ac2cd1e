#!/usr/bin/env python3
"""`glancectl serve`: start-up, request latency and rate, and the data path over HTTP.

* start: from starting ``glancectl serve --port 0`` to the first 200 from
  ``GET /v2/images`` (a 100-image store); reference: ``glancectl image list``
  on the same store, a whole CLI process.
* latency: median ``GET /v2/images/{id}`` over one keep-alive connection at
  ``--images`` images (default 10,000); reference: ``GET /versions``, which
  touches no store (the framework's and server's own cost).
* rate: ``GET /v2/images/{id}`` per second from 8 client processes for
  ``--seconds``; reference: one client.
* data path: upload (POST + PUT file) of ``--mib`` MiB of random bytes over
  loopback HTTP, against the CLI's own ``image create --file``; download
  (GET file, the bytes read and dropped) against the CLI's ``image download``
  to /dev/null, so both sides measure what glancectl sends, not how the
  receiver writes; each image read once beforehand, so neither side reads the
  disk while the other reads memory. Target: HTTP >= 0.8x the CLI.
  Informational: the download written to a file, the client writing as
  Python's buffered I/O does and fsyncing at the end, against
  ``image download --file`` (O_DIRECT writes).

    python3 bench/serve.py                          # 10,000 images, 256 MiB, 3 rounds
    python3 bench/serve.py --mib 64 --rounds 1 --runs 3 --seconds 2   # smoke
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from datapath import make_source, warm  # noqa: E402

MB = 1_000_000
CHUNK = 1024 * 1024


class Server:
    """``glancectl serve --port 0`` on a home; the URL comes from its first stdout line."""

    def __init__(self, home: Path):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(common.glancectl_cmd(home, "serve", "--port", "0"),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=common.bench_env())
        self.url = self.proc.stdout.readline().decode().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"serve did not start (said {self.url!r})")
        parts = urlsplit(self.url)
        self.host, self.port = parts.hostname, parts.port

    def connection(self) -> http.client.HTTPConnection:
        # A 1 MiB send size, so the client is not what limits an upload.
        return http.client.HTTPConnection(self.host, self.port, timeout=120, blocksize=CHUNK)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def request(conn: http.client.HTTPConnection, method: str, path: str, body=None,
            headers: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def time_to_first_list(home: Path) -> float:
    server = Server(home)
    try:
        while True:
            try:
                conn = server.connection()
                if request(conn, "GET", "/v2/images")[0] == 200:
                    return time.perf_counter() - server.started
            except OSError:
                time.sleep(0.005)
    finally:
        server.stop()


def latencies(server: Server, path_for, count: int) -> list[float]:
    conn = server.connection()
    times = []
    for i in range(count):
        start = time.perf_counter()
        status, _ = request(conn, "GET", path_for(i))
        times.append(time.perf_counter() - start)
        assert status in (200, 300), status
    conn.close()
    return times


def _client(args) -> int:
    host, port, ids, seconds, start_at = args
    conn = http.client.HTTPConnection(host, port, timeout=120)
    while time.time() < start_at:
        time.sleep(0.001)
    done, rng = 0, random.Random(os.getpid())
    while time.time() < start_at + seconds:
        status, _ = request(conn, "GET", f"/v2/images/{rng.choice(ids)}")
        assert status == 200, status
        done += 1
    return done


def rate(server: Server, ids: list[str], clients: int, seconds: float) -> float:
    start_at = time.time() + 1.0  # every client connected and ready before the clock starts
    with multiprocessing.Pool(clients) as pool:
        counts = pool.map(_client, [(server.host, server.port, ids, seconds, start_at)] * clients)
    return sum(counts) / seconds


def http_upload(server: Server, source: Path) -> tuple[float, str]:
    conn = server.connection()
    start = time.perf_counter()
    status, body = request(conn, "POST", "/v2/images",
                           b'{"name": "bench", "disk_format": "raw", "container_format": "bare"}',
                           {"Content-Type": "application/json"})
    assert status == 201, body
    image_id = __import__("json").loads(body)["id"]
    with open(source, "rb") as data:
        status, body = request(conn, "PUT", f"/v2/images/{image_id}/file", data,
                               {"Content-Type": "application/octet-stream",
                                "Content-Length": str(source.stat().st_size)})
    assert status == 204, body
    return time.perf_counter() - start, image_id


def http_download(server: Server, image_id: str, out: Path | None) -> float:
    """Seconds to GET the image's data: into ``out``, fsynced, or (None) read and dropped."""
    conn = server.connection()
    start = time.perf_counter()
    conn.request("GET", f"/v2/images/{image_id}/file")
    response = conn.getresponse()
    assert response.status == 200
    if out is None:
        buffer = memoryview(bytearray(CHUNK))
        while response.readinto(buffer):
            pass
    else:
        with open(out, "wb") as handle:
            while chunk := response.read(CHUNK):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=10_000, help="store size for latency and rate")
    ap.add_argument("--runs", type=int, default=11, help="start-up runs (default 11)")
    ap.add_argument("--requests", type=int, default=1000, help="GETs timed for latency")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each rate run")
    common.add_data_path_args(ap, mib=256, what="the data path's file")
    common.add_common_args(ap)
    args = ap.parse_args()
    info = common.setup(args)
    rows: list[common.Row] = []
    work = Path(tempfile.mkdtemp(prefix="glancectl-serve-bench-", dir=args.dir))
    try:
        small, _, _ = common.Stores(str(work)).make("small", 100)
        common.run_timed(common.glancectl_cmd(small, "image", "list"))  # warm the .pyc cache
        time_to_first_list(small)
        starts = common.interleaved({
            "serve": lambda: time_to_first_list(small),
            "list": lambda: common.run_timed(common.glancectl_cmd(small, "image", "list",
                                                                  "-f", "json"))[0],
        }, args.runs, lambda measure: measure())
        rows.append(common.Row("serve -> first GET /v2/images (100 images)",
                               common.median(starts["serve"]), common.median(starts["list"]),
                               "glancectl image list, whole process", "< 1 s",
                               common.median(starts["serve"]) < 1.0))

        big, records, _ = common.Stores(str(work)).make("big", args.images)
        ids = [r["id"] for r in records if r["status"] not in ("deleted", "pending_delete")]
        server = Server(big)
        try:
            rng = random.Random(1)
            latencies(server, lambda i: "/versions", 50)  # warm-up
            floor = latencies(server, lambda i: "/versions", args.requests)
            show = latencies(server, lambda i: f"/v2/images/{rng.choice(ids)}", args.requests)
            rows.append(common.Row(f"GET /v2/images/{{id}} at {args.images:,} images, median",
                                   common.median(show) * 1000, common.median(floor) * 1000,
                                   "GET /versions (no store)", "informational", None, unit="ms",
                                   note=f"p95 {sorted(show)[int(len(show) * .95)] * 1000:.1f} ms"))
            one = rate(server, ids, 1, args.seconds)
            eight = rate(server, ids, 8, args.seconds)
            rows.append(common.Row(f"GET /v2/images/{{id}} with 8 clients, {args.images:,} images",
                                   eight, one, "1 client", "informational", None, unit="req/s"))
        finally:
            server.stop()

        source = make_source(work, args.mib)
        size_mb = source.stat().st_size / MB
        samples: dict[str, list[float]] = {k: [] for k in (
            "cli_up", "http_up", "cli_down", "http_down", "cli_down_file", "http_down_file")}
        out = work / "out.raw"
        for rnd in range(args.rounds):
            cli_home, http_home = work / f"cli-{rnd}", work / f"http-{rnd}"
            elapsed, proc = common.run_timed(common.glancectl_cmd(
                cli_home, "image", "create", "bench", "--disk-format", "raw",
                "--container-format", "bare", "--file", str(source), "--no-progress", "-q"),
                capture=True)
            samples["cli_up"].append(elapsed)
            cli_id = proc.stdout.decode().strip()
            server = Server(http_home)
            try:
                elapsed, http_id = http_upload(server, source)
                samples["http_up"].append(elapsed)
                # Written past the page cache: read once, so both sides read from memory.
                for home, image_id in ((cli_home, cli_id), (http_home, http_id)):
                    warm(home / "data" / image_id)
                samples["http_down"].append(http_download(server, http_id, None))
                samples["cli_down"].append(common.run_timed(common.glancectl_cmd(
                    cli_home, "image", "download", cli_id))[0])  # stdout: /dev/null
                samples["http_down_file"].append(http_download(server, http_id, out))
                out.unlink()
            finally:
                server.stop()
            samples["cli_down_file"].append(common.run_timed(common.glancectl_cmd(
                cli_home, "image", "download", cli_id, "--file", str(out), "--no-progress"))[0])
            out.unlink()
            shutil.rmtree(cli_home)
            shutil.rmtree(http_home)
            print(f"round {rnd + 1}/{args.rounds}: " + ", ".join(
                f"{k} {size_mb / v[-1]:.0f} MB/s" for k, v in samples.items()), flush=True)

        def mbps(key: str) -> float:
            return size_mb / common.median(samples[key])

        for what, key, reference in (
                ("upload", "up", "CLI image create --file"),
                ("download, bytes dropped", "down", "CLI image download > /dev/null")):
            rows.append(common.Row(f"{what} {args.mib} MiB over HTTP", mbps(f"http_{key}"),
                                   mbps(f"cli_{key}"), f"{reference}, whole process",
                                   ">= 0.80x", mbps(f"http_{key}") >= 0.8 * mbps(f"cli_{key}"),
                                   unit="MB/s"))
        rows.append(common.Row(
            f"download {args.mib} MiB over HTTP to a file (buffered, fsync)",
            mbps("http_down_file"), mbps("cli_down_file"),
            "CLI image download --file (O_DIRECT), whole process", "informational", None,
            unit="MB/s"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return common.report("serve", "glancectl serve", rows, info, markdown=args.markdown)


if __name__ == "__main__":
    sys.exit(main())
