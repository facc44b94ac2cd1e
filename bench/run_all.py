#!/usr/bin/env python3
"""Run every glancectl benchmark, in sequence, with the settings BENCHMARKS.md reports.

    python3 bench/run_all.py              # full set (~6 minutes on 2 cores, plus the 1 GiB data path)
    python3 bench/run_all.py --markdown -- --rev b39c6f8   # what BENCHMARKS.md reports
    python3 bench/run_all.py --quick      # smoke run (~30 s)
    python3 bench/run_all.py --markdown   # also print markdown tables for BENCHMARKS.md

Options after `--` are passed to every script (e.g. `-- --rev worktree`, `-- --no-pyc`).
Exit status is non-zero when any target is missed or a script fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "startup.py": ["--runs", "21", "--importtime"],
    "records.py": ["--sizes", "100,1000,10000,100000", "--runs", "7", "--list-runs", "5"],
    "maintenance.py": ["--sizes", "1000,10000", "--runs", "3"],
    "concurrency.py": ["--workers", "8", "--per-worker", "100", "--serial", "100"],
    "datapath.py": [],  # upload/download throughput (1 GiB); its own defaults
    "completion.py": ["--runs", "7"],
    "serve.py": [],  # glancectl serve: 10,000 images, 256 MiB over HTTP; its own defaults
}
QUICK = {
    "startup.py": ["--runs", "5"],
    "records.py": ["--sizes", "100,1000", "--runs", "3", "--list-runs", "2"],
    "maintenance.py": ["--sizes", "100,300", "--runs", "1"],
    "concurrency.py": ["--workers", "4", "--per-worker", "10", "--serial", "10"],
    "datapath.py": ["--mib", "64", "--rounds", "1"],
    "completion.py": ["--runs", "2", "--size", "1000"],
    "serve.py": ["--images", "1000", "--requests", "100", "--runs", "3", "--seconds", "1",
                 "--mib", "32", "--rounds", "1"],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes and few runs")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--only", help="comma-separated script names, e.g. startup,records")
    ap.add_argument("--skip", help="comma-separated script names to leave out, e.g. datapath")
    ap.add_argument("passthrough", nargs="*", help="after --: options for every script")
    args = ap.parse_args()

    plan = QUICK if args.quick else FULL
    if args.only:
        wanted = {f"{name.strip().removesuffix('.py')}.py" for name in args.only.split(",")}
        plan = {k: v for k, v in plan.items() if k in wanted}
    if args.skip:
        unwanted = {f"{name.strip().removesuffix('.py')}.py" for name in args.skip.split(",")}
        plan = {k: v for k, v in plan.items() if k not in unwanted}
    worst = 0
    for script, script_args in plan.items():
        cmd = [sys.executable, str(HERE / script), *script_args, *args.passthrough]
        if args.markdown:
            cmd.append("--markdown")
        print(f"\n=== {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.run(cmd).returncode
        print(f"=== {script}: exit {code} after {time.perf_counter() - start:.0f} s", flush=True)
        worst = max(worst, code)
    return worst


if __name__ == "__main__":
    sys.exit(main())
