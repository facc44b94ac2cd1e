#!/usr/bin/env python3
"""scrub and purge as the store grows, and a writer's wait while scrub runs.

Stores of --sizes pending_delete images (each with a small data file, deleted in
2020) are populated once and copied fresh before every timed run, then

    glancectl scrub                      every image -> deleted, its data removed
    glancectl purge --age-in-days 0      every record removed

are timed as whole processes, interleaved. Targets: the largest size takes at most
12x the smallest (10,000 vs 1,000: linear is 10x). While one more scrub of the largest
store runs, `image create` is run again and again with the default lock timeout: each
must succeed, and the longest is reported (scrub lets go of the lock every second).

    python3 bench/maintenance.py                      # 1,000 and 10,000, 3 runs
    python3 bench/maintenance.py --sizes 1000,10000 --runs 5
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Row, Stores, glancectl_cmd, median, run_timed  # noqa: E402

GROWTH_TARGET = 12.0


def pending_delete_store(stores: Stores, size: int, seed: int) -> Path:
    home, recs, _ = stores.make(f"template{size}", size, seed)
    # Every image pending_delete since 2020, with its data file, as delete leaves it.
    import json

    data = home / "data"
    data.mkdir(mode=common.DIR_MODE)
    for shard in (home / "images").glob("??.json"):
        doc = json.loads(shard.read_bytes())
        for record in doc["images"].values():
            record.update(status="pending_delete", deleted_at="2020-01-01T00:00:00Z", protected=False)
            (data / record["id"]).write_bytes(b"data")
        shard.write_text(json.dumps(doc, separators=(",", ":")))
    common._write_indexes(home)
    return home


def fresh_copy(template: Path, root: Path) -> Path:
    copy = root / f"{template.name}-run"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(template, copy, symlinks=True)
    return copy


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    common.add_common_args(ap)
    args = ap.parse_args()
    sizes = common.parse_sizes(args.sizes)
    info = common.setup(args)
    rows: list[Row] = []
    with Stores() as stores:
        templates = {size: pending_delete_store(stores, size, args.seed) for size in sizes}
        times: dict = {(verb, size): [] for verb in ("scrub", "purge") for size in sizes}
        for run in range(args.runs):
            order = sizes[run % len(sizes):] + sizes[:run % len(sizes)]
            for size in order:
                home = fresh_copy(templates[size], stores.root)
                elapsed, proc = run_timed(glancectl_cmd(home, "scrub", "-f", "value", "-c", "id"),
                                          capture=True)
                assert len(proc.stdout.split()) == size, "every image scrubbed"
                times[("scrub", size)].append(elapsed)
                elapsed, proc = run_timed(glancectl_cmd(home, "purge", "--age-in-days", "0", "-f",
                                                        "value", "-c", "id"), capture=True)
                assert len(proc.stdout.split()) == size, "every record purged"
                times[("purge", size)].append(elapsed)
            print(f"  run {run + 1}/{args.runs} done", flush=True)
        small, large = sizes[0], sizes[-1]
        for verb in ("scrub", "purge"):
            t, ref = median(times[(verb, large)]), median(times[(verb, small)])
            rows.append(Row(benchmark=f"{verb} {large:,} images", glancectl=t, reference=ref,
                            reference_name=f"{verb} {small:,}", target=f"<= {GROWTH_TARGET:g}x",
                            ok=t / ref <= GROWTH_TARGET,
                            samples={"glancectl": times[(verb, large)], "reference": times[(verb, small)]}))

        # A writer with the default lock timeout, again and again, while a scrub runs.
        home = fresh_copy(templates[large], stores.root)
        scrub = subprocess.Popen(glancectl_cmd(home, "scrub"), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=common.bench_env())
        waits, failed = [], 0
        while scrub.poll() is None:
            elapsed, proc = run_timed(glancectl_cmd(home, "image", "create", "during-scrub", "-q"),
                                      check=False)
            if scrub.poll() is None:
                waits.append(elapsed)
            failed += proc.returncode != 0
        create_alone = median([run_timed(glancectl_cmd(home, "image", "create", "after", "-q"))[0]
                               for _ in range(5)])
        longest = max(waits) if waits else float("nan")
        rows.append(Row(benchmark=f"image create during a {large:,}-image scrub, longest",
                        glancectl=longest, reference=create_alone, reference_name="create alone",
                        target="all succeed", ok=failed == 0 and bool(waits),
                        note=f"{len(waits)} creates during the scrub, {failed} failed",
                        samples={"glancectl": waits, "reference": [create_alone]}))
    return common.report("maintenance", f"scrub and purge (median of {args.runs} runs)", rows, info,
                         markdown=args.markdown, markdown_title="Scrub and purge")


if __name__ == "__main__":
    sys.exit(main())
