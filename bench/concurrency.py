#!/usr/bin/env python3
"""Concurrency: 8 writers, each creating 100 images in one store, as separate CLI processes.

Each of --workers threads runs a loop of `glancectl --home STORE image create NAME -q`
subprocesses, so up to --workers glancectl processes contend for the store lock
at any moment. Reported: total wall time, records/s, failures, and a check that
every created ID is listed afterwards (`image list -q`), that there are exactly
workers x per-worker of them, and that no temporary files were left behind.

References, measured in the same run, in interleaved rounds:
  * the start-up floor: the same number of `python3 -c "import click, tinydb"`
    processes with the same parallelism (what the process starts alone cost);
  * serial: one worker creating --serial images in a fresh store (records/s
    without contention).

    python3 bench/concurrency.py                           # 8 x 100
    python3 bench/concurrency.py --workers 4 --per-worker 10 --serial 20   # smoke
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Row, Stores, glancectl_cmd, run_timed  # noqa: E402


def run_loops(workers: int, per_worker: int, make_cmd) -> tuple[float, list, list, list]:
    """``workers`` threads of ``per_worker`` subprocesses each: wall, outputs, failures, latencies."""
    outputs: list[str] = []
    failures: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(workers)

    def loop(worker: int) -> None:
        barrier.wait()
        for i in range(per_worker):
            elapsed, proc = run_timed(make_cmd(worker, i), capture=True, check=False)
            with lock:
                latencies.append(elapsed)
                if proc.returncode == 0:
                    outputs.append(proc.stdout.decode().strip())
                else:
                    failures.append(f"worker {worker} #{i}: exit {proc.returncode}: "
                                    f"{proc.stderr.decode(errors='replace').strip()}")

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(loop, range(workers)))
    return time.perf_counter() - start, outputs, failures, latencies


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--per-worker", type=int, default=100)
    ap.add_argument("--serial", type=int, default=100,
                    help="images one worker creates for the serial reference (0 to skip)")
    ap.add_argument("--rounds", type=int, default=4,
                    help="split the work into this many interleaved rounds (default: %(default)s)")
    ap.add_argument("--base", type=int, default=0,
                    help="pre-populate the store with this many images first")
    common.add_common_args(ap)
    args = ap.parse_args()
    info = common.setup(args)

    total = args.workers * args.per_worker
    rows: list[Row] = []
    extra: dict = {}
    with Stores() as stores:
        home, _, _ = stores.make("concurrent", args.base)
        serial_home, _, _ = stores.make("serial", args.base)
        # warm-up (bytecode cache, page cache)
        run_timed(glancectl_cmd(stores.root / "warm", "image", "create", "warm"))
        run_timed([common.PYTHON, "-c", "import click, tinydb"])

        # Rounds alternate floor -> concurrent -> serial, so load from other work on the
        # machine spreads over all three; the figures are the sums over the rounds.
        floor_wall = wall = serial_wall = 0.0
        ids: list[str] = []
        failures: list[str] = []
        lat: list[float] = []
        serial_done = 0
        for rnd in range(args.rounds):
            share = args.per_worker // args.rounds + (rnd < args.per_worker % args.rounds)
            offset = rnd * (args.per_worker // args.rounds) + min(rnd, args.per_worker % args.rounds)
            t, _, floor_fail, _ = run_loops(
                args.workers, share, lambda w, i: [common.PYTHON, "-c", "import click, tinydb"])
            assert not floor_fail, floor_fail
            floor_wall += t
            t, out, fail, lats = run_loops(
                args.workers, share,
                lambda w, i: glancectl_cmd(home, "image", "create", f"w{w}-{offset + i:03d}", "-q"))
            wall += t
            ids += out
            failures += fail
            lat += lats
            if args.serial:
                n = args.serial // args.rounds + (rnd < args.serial % args.rounds)
                t, _, serial_fail, _ = run_loops(
                    1, n, lambda w, i: glancectl_cmd(serial_home, "image", "create",
                                                     f"s{serial_done + i}", "-q"))
                assert not serial_fail, serial_fail
                serial_wall += t
                serial_done += n
            print(f"  round {rnd + 1}/{args.rounds} done", flush=True)

        # Verify: every created ID listed, exactly total (+ base) of them, no temp files left.
        _, proc = run_timed(glancectl_cmd(home, "image", "list", "-q"),
                            capture=True)
        listed = proc.stdout.decode().split()
        created = set(ids)
        missing = created - set(listed)
        visible_base = len(listed) - len(created & set(listed))
        leftovers = [p for p in os.listdir(home / "images") if ".tmp-" in p]
        lat.sort()

        rate = total / wall
        floor_rate = total / floor_wall
        intact = not failures and not missing and len(created) == total and not leftovers
        note = (f"{len(created)}/{total} created, {len(listed)} listed "
                f"({visible_base} pre-populated visible), {len(missing)} missing, "
                f"{len(failures)} failed, {len(leftovers)} temp files left; per-call latency "
                f"median {lat[len(lat) // 2] * 1000:.0f} ms, p95 {lat[int(len(lat) * 0.95)] * 1000:.0f} ms, "
                f"max {lat[-1] * 1000:.0f} ms")
        rows.append(Row(
            benchmark=f"{args.workers} x {args.per_worker} creates, wall time",
            glancectl=wall, reference=floor_wall,
            reference_name=f"{total} x `import click, tinydb`, {args.workers}-way",
            target=f"all {total} present", ok=intact, note=note,
        ))
        rows.append(Row(
            benchmark=f"{args.workers} x {args.per_worker} creates, throughput",
            glancectl=rate, reference=floor_rate, unit="records/s",
            reference_name="start-up floor", target="—", ok=None,
        ))
        if args.serial:
            serial_rate = args.serial / serial_wall
            rows.append(Row(
                benchmark=f"{args.workers}-way concurrent vs 1 writer, throughput",
                glancectl=rate, reference=serial_rate, unit="records/s",
                reference_name=f"1 x {args.serial} serial", target="—", ok=None,
            ))
            extra["serial_seconds"] = serial_wall
        extra.update(wall_seconds=wall, floor_seconds=floor_wall, failures=failures[:20],
                     listed=len(listed), missing=sorted(missing)[:20])
        for failure in failures[:5]:
            print("  FAILED:", failure)

    return common.report("concurrency", f"Concurrency: {args.workers} processes x "
                         f"{args.per_worker} creates (store pre-populated with {args.base:,})",
                         rows, info, markdown=args.markdown, markdown_title="Concurrency",
                         extra=extra)


if __name__ == "__main__":
    sys.exit(main())
