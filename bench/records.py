#!/usr/bin/env python3
"""Record commands and listing as the store grows.

Populates stores of each size directly (same shard layout and record shape as
the CLI writes), then times whole processes of

    image show ID | image create NAME | image set ID --name x | image delete ID
    | image show NAME (a lookup by name, through the name index)

with the smallest store (100 images) as the reference measured in the same run
(target: every size <= 1.3x), and

    image list -f json | image list -f value -c id | image list --status active -f value -c id

against bench/parse_floor.py, which starts up (import click, tinydb) and
json.loads every shard with the standard library (target at the largest size:
<= 1.5x, peak RSS <= 300 MiB), and `task list` at 10,000 tasks against the
same at 10 (<= 1.5x).

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
LIST_KINDS = {
    "list -f json": ["image", "list", "-f", "json"],
    "list -f value -c id": ["image", "list", "-f", "value", "-c", "id"],
    "list --status active -f value -c id": ["image", "list", "--status", "active", "-f", "value",
                                            "-c", "id"],
}
FLOOR = Path(__file__).resolve().parent / "parse_floor.py"
LIST_TARGET = 1.5  # x the parse floor, at the largest size
RSS_TARGET_MIB = 300
TASK_SIZES = (10, 10_000)


def target_for(size: int, ref_size: int) -> float | None:
    return None if size == ref_size else 1.3


class Subject:
    """One populated store and the IDs its commands use."""

    def __init__(self, size: int, home: Path, recs: list[dict], runs: int, seed: int):
        self.size = size
        self.home = home
        rng = random.Random(seed)
        # Shown by a plain listing (its count is checked after the deletes), and deletable.
        live = [r for r in recs if r["status"] in ("active", "queued") and not r["protected"]
                and not r["os_hidden"]]
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
        self.deleted = 0

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
            self.deleted += 1
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
                    limit = target_for(s.size, ref_size)
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
            # Check the counts once, untimed.
            for s in subjects:
                _, proc = run_timed(glancectl_cmd(s.home, "image", "list", "-f", "value", "-c", "id"),
                                    capture=True)
                got = len(proc.stdout.split())
                expected = s.visible + s.created - s.deleted
                if got != expected:
                    print(f"  WARNING list @ {s.size}: glancectl listed {got}, expected {expected}")
            task_homes = {}
            for count in TASK_SIZES:
                task_homes[count] = stores.root / f"tasks{count}"
                common.populate_tasks(task_homes[count], count, args.seed)
            commands = {("floor", s.size): [common.PYTHON, str(FLOOR), str(s.home)] for s in subjects}
            commands.update({(kind, s.size): glancectl_cmd(s.home, *argv)
                             for s in subjects for kind, argv in LIST_KINDS.items()})
            commands.update({("task list", count): glancectl_cmd(home, "task", "list")
                             for count, home in task_homes.items()})
            rss: dict = {name: [] for name in commands}
            cpu: dict = {name: [] for name in commands}

            def measure(name):
                elapsed, used, peak = common.run_measured(commands[name])
                rss[name].append(peak)
                cpu[name].append(used)
                return elapsed

            times = common.interleaved({name: name for name in commands}, args.list_runs, measure)
            biggest = subjects[-1].size
            for kind in LIST_KINDS:
                for s in subjects:
                    t, ref = median(times[(kind, s.size)]), median(times[("floor", s.size)])
                    peak = max(rss[(kind, s.size)]) / 1024
                    graded = s.size == biggest
                    rows.append(Row(
                        benchmark=f"image {kind} @ {s.size:,}",
                        glancectl=t, reference=ref, reference_name="parse floor",
                        target=f"<= {LIST_TARGET}x" if graded else "—",
                        ok=(t / ref <= LIST_TARGET) if graded else None,
                        note=f"peak RSS {peak:.0f} MiB" + (f" (target <= {RSS_TARGET_MIB})" if graded else "")
                        + f"; CPU time {median(cpu[(kind, s.size)]):.2f} s vs "
                          f"{median(cpu[('floor', s.size)]):.2f} s: "
                          f"{median(cpu[(kind, s.size)]) / median(cpu[('floor', s.size)]):.2f}x",
                        samples={"glancectl": times[(kind, s.size)],
                                 "reference": times[("floor", s.size)],
                                 "peak_rss_kib": rss[(kind, s.size)],
                                 "cpu_s": cpu[(kind, s.size)], "reference_cpu_s": cpu[("floor", s.size)]},
                    ))
                    if graded and peak > RSS_TARGET_MIB:
                        rows[-1].ok = False
            small, large = TASK_SIZES
            t, ref = median(times[("task list", large)]), median(times[("task list", small)])
            rows.append(Row(
                benchmark=f"task list @ {large:,} tasks", glancectl=t, reference=ref,
                reference_name=f"same @ {small}", target="<= 1.5x", ok=t / ref <= 1.5,
                note=f"CPU time {median(cpu[('task list', large)]):.2f} s vs "
                     f"{median(cpu[('task list', small)]):.2f} s: "
                     f"{median(cpu[('task list', large)]) / median(cpu[('task list', small)]):.2f}x",
                samples={"glancectl": times[("task list", large)],
                         "reference": times[("task list", small)]},
            ))

    runs = ", ".join(([f"record commands: median of {args.runs}"] if not args.no_records else [])
                     + ([f"list: median of {args.list_runs}"] if not args.no_list else []))
    return common.report("records", f"Record commands and listing ({runs} runs)", rows, info,
                         markdown=args.markdown, markdown_title="Record commands and listing",
                         extra=extra)


if __name__ == "__main__":
    sys.exit(main())
