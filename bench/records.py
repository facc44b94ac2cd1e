#!/usr/bin/env python3
"""Record commands and listing as the store grows.

Populates stores of each size directly (same shard layout and record shape as
the CLI writes), then times whole processes of

    image show ID | image create NAME | image set ID --name x | image delete ID
    (and, reported without a target, image show NAME -- a lookup by name)

with the 100-image store as the reference measured in the same run
(targets: 10,000 <= 1.3x, 100,000 <= 2x), and

    image list -f json | image list --status active --tag t

against bench/list_floor.py doing the same work with the standard library
(target: 10,000 images listed in < 1 s).

Measurements are interleaved (run 1 of every size and command, then run 2, ...)
so load from other work on the machine spreads over every figure.

    python3 bench/records.py                          # full: 100,1000,10000,100000
    python3 bench/records.py --sizes 100,1000 --runs 3 # smoke
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Row, Stores, glancectl_cmd, median, run_timed  # noqa: E402

COMMANDS = ("show", "create", "set", "delete", "show NAME")
GRADED = {"show", "create", "set", "delete"}  # `show NAME` scans every shard: reported, not graded
LIST_KINDS = {
    "list -f json": (["image", "list", "-f", "json"], []),
    "list --status active --tag t -f json": (
        ["image", "list", "--status", "active", "--tag", common.BENCH_TAG, "-f", "json"],
        ["--status", "active", "--tag", common.BENCH_TAG],
    ),
}
FLOOR = Path(__file__).resolve().parent / "list_floor.py"


def target_for(size: int, ref_size: int) -> float | None:
    if size == ref_size:
        return None
    return 1.3 if size <= 10_000 else 2.0


class Subject:
    """One populated store and the IDs its commands use."""

    def __init__(self, size: int, home: Path, recs: list[dict], runs: int, seed: int):
        self.size = size
        self.home = home
        rng = random.Random(seed)
        live = [r for r in recs if r["status"] in ("active", "queued") and not r["protected"]]
        picks = rng.sample(live, min(len(live), runs + 4))
        self.show_id = picks[0]["id"]
        self.show_name = picks[0]["name"]  # populated names are unique
        self.set_id = picks[1]["id"]
        self.delete_ids = [r["id"] for r in picks[2:]]
        self.visible = sum(1 for r in recs if r["status"] not in ("deleted", "pending_delete", "killed")
                           and not r["os_hidden"])
        self.tagged = sum(1 for r in recs if r["status"] == "active" and not r["os_hidden"]
                          and common.BENCH_TAG in r["tags"])
        self.created = 0

    def argv(self, command: str) -> list[str]:
        if command == "show":
            return glancectl_cmd(self.home, "image", "show", self.show_id)
        if command == "show NAME":
            return glancectl_cmd(self.home, "image", "show", self.show_name)
        if command == "create":
            self.created += 1
            return glancectl_cmd(self.home, "image", "create", f"bench-new-{self.created}")
        if command == "set":
            return glancectl_cmd(self.home, "image", "set", self.set_id, "--name", "x")
        if command == "delete":
            return glancectl_cmd(self.home, "image", "delete", self.delete_ids.pop())
        raise ValueError(command)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000,100000",
                    help="store sizes; the first is the reference (default: %(default)s)")
    ap.add_argument("--runs", type=int, default=7, help="runs per record command and size")
    ap.add_argument("--list-runs", type=int, default=5, help="runs per list command and size")
    ap.add_argument("--no-list", action="store_true", help="skip the list benchmarks")
    ap.add_argument("--no-records", action="store_true", help="skip show/create/set/delete")
    ap.add_argument("--root", help="where to build the stores (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    ap.add_argument("--seed", type=int, default=1)
    common.add_common_args(ap)
    args = ap.parse_args()

    sizes = common.parse_sizes(args.sizes)
    ref_size = sizes[0]
    info = common.setup(args)

    rows: list[Row] = []
    extra: dict = {"populate_seconds": {}}
    with Stores(args.root, keep=args.keep) as stores:
        subjects = []
        for size in sizes:
            home, recs, took = stores.make(f"s{size}", size, args.seed)
            extra["populate_seconds"][size] = round(took, 2)
            print(f"populated {size:>7,} images in {took:.1f} s -> {home}", flush=True)
            subjects.append(Subject(size, home, recs, args.runs, args.seed))

        # Warm-up (page cache, .pyc) and a check that each command does what we think.
        for s in subjects:
            _, proc = run_timed(glancectl_cmd(s.home, "image", "show", s.show_id, "-f", "json"),
                                capture=True)
            assert json.loads(proc.stdout)["id"] == s.show_id
            for command in ("create", "set"):
                run_timed(s.argv(command))
            run_timed([common.PYTHON, "-c", "import click, tinydb"])

        if not args.no_records:
            times = {(s.size, c): [] for s in subjects for c in COMMANDS}
            for run in range(args.runs):
                order = subjects[run % len(subjects):] + subjects[:run % len(subjects)]
                for s in order:
                    for command in COMMANDS:
                        elapsed, _ = run_timed(s.argv(command))
                        times[(s.size, command)].append(elapsed)
                print(f"  record commands: run {run + 1}/{args.runs} done", flush=True)
            for command in COMMANDS:
                ref = median(times[(ref_size, command)])
                for s in subjects:
                    t = median(times[(s.size, command)])
                    limit = target_for(s.size, ref_size) if command in GRADED else None
                    rows.append(Row(
                        benchmark=f"image {command} @ {s.size:,}",
                        glancectl=t, reference=ref, reference_name=f"same @ {ref_size:,}",
                        target=("reference" if s.size == ref_size else "—") if limit is None
                        else f"<= {limit:.1f}x",
                        ok=None if limit is None else t / ref <= limit,
                        samples={"glancectl": times[(s.size, command)],
                                 "reference": times[(ref_size, command)]},
                    ))
            # Deleted images must really be deleted.
            for s in subjects:
                _, proc = run_timed(glancectl_cmd(s.home, "image", "show", s.set_id, "-f", "json"),
                                    capture=True)
                assert json.loads(proc.stdout)["name"] == "x"

        if not args.no_list:
            list_times = {(s.size, k): [] for s in subjects for k in LIST_KINDS}
            floor_times = {(s.size, k): [] for s in subjects for k in LIST_KINDS}
            # Check the counts once, untimed.
            for s in subjects:
                for kind, (cli_args, floor_args) in LIST_KINDS.items():
                    _, proc = run_timed(glancectl_cmd(s.home, *cli_args), capture=True)
                    _, fproc = run_timed([common.PYTHON, str(FLOOR), str(s.home), *floor_args],
                                         capture=True)
                    got, want = len(json.loads(proc.stdout)), len(json.loads(fproc.stdout))
                    if got != want:
                        print(f"  WARNING {kind} @ {s.size}: glancectl listed {got}, floor {want}")
            for run in range(args.list_runs):
                for s in subjects:
                    for kind, (cli_args, floor_args) in LIST_KINDS.items():
                        elapsed, _ = run_timed(glancectl_cmd(s.home, *cli_args))
                        list_times[(s.size, kind)].append(elapsed)
                        elapsed, _ = run_timed([common.PYTHON, str(FLOOR), str(s.home), *floor_args])
                        floor_times[(s.size, kind)].append(elapsed)
                print(f"  list commands: run {run + 1}/{args.list_runs} done", flush=True)
            for kind in LIST_KINDS:
                for s in subjects:
                    t = median(list_times[(s.size, kind)])
                    ref = median(floor_times[(s.size, kind)])
                    graded = s.size == 10_000
                    rows.append(Row(
                        benchmark=f"image {kind} @ {s.size:,}",
                        glancectl=t, reference=ref, reference_name="stdlib floor",
                        target="< 1 s" if graded else "—",
                        ok=(t < 1.0) if graded else None,
                        samples={"glancectl": list_times[(s.size, kind)],
                                 "reference": floor_times[(s.size, kind)]},
                    ))

    runs = ", ".join(([f"record commands: median of {args.runs}"] if not args.no_records else [])
                     + ([f"list: median of {args.list_runs}"] if not args.no_list else []))
    return common.report("records", f"Record commands and listing ({runs} runs)", rows, info,
                         markdown=args.markdown, markdown_title="Record commands and listing",
                         extra=extra)


if __name__ == "__main__":
    sys.exit(main())
