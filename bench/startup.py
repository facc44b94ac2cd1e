#!/usr/bin/env python3
"""Start-up: what a trivial glancectl call costs against importing its two core libraries.

Times whole processes, interleaved, of

    glancectl --version
    glancectl --home SMALL_STORE image show ID        (a 100-image store)
    python3 -c "import click, tinydb"                  (the reference)

Targets: `--version` <= 1.5x the reference, `image show ID` <= 1.3x (issue 16). `python3 -c pass` is shown
for scale. With --importtime, also prints the heaviest imports of `image show`
(from `python3 -X importtime`), the evidence for what start-up spends time on.

    python3 bench/startup.py                 # 21 runs
    python3 bench/startup.py --runs 5        # smoke
    python3 bench/startup.py --importtime
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Row, Stores, glancectl_cmd, median, run_timed  # noqa: E402

TARGETS = {"--version": 1.5, "image show": 1.3}


def target_for(name: str) -> float | None:
    return next((limit for key, limit in TARGETS.items() if key in name), None)


def importtime(cmd: list[str], top: int) -> list[tuple[int, int, str]]:
    """(self us, cumulative us, module) of the slowest imports, by cumulative time."""
    proc = run_timed([cmd[0], "-X", "importtime", *cmd[1:]], capture=True)[1]
    rows = []
    for line in proc.stderr.decode(errors="replace").splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            depth = len(m.group(3)) // 2
            rows.append((int(m.group(1)), int(m.group(2)), depth, m.group(4)))
    total = sum(r[0] for r in rows)
    # Top-level (depth <= 1) imports by cumulative time, plus the heaviest single modules.
    tops = sorted((r for r in rows if r[2] <= 1), key=lambda r: -r[1])[:top]
    print(f"\n`{' '.join(cmd[1:])}` -X importtime: {len(rows)} modules, {total / 1000:.0f} ms "
          f"of import self-time in total")
    print("  cumulative ms  self ms  module (top-level imports, heaviest first)")
    for self_us, cum_us, depth, name in tops:
        print(f"  {cum_us / 1000:>13.1f}  {self_us / 1000:>7.1f}  {'  ' * depth}{name}")
    return [(r[0], r[1], r[3]) for r in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--importtime", action="store_true", help="print the import profile of image show")
    ap.add_argument("--top", type=int, default=20)
    common.add_common_args(ap)
    args = ap.parse_args()

    info = common.setup(args)
    with Stores() as stores:
        home, recs, _ = stores.make("small", 100)
        image_id = next(r["id"] for r in recs if r["status"] == "active")
        subjects = {
            "glancectl --version": glancectl_cmd(None, "--version"),
            "glancectl image show ID (100 images)": glancectl_cmd(home, "image", "show", image_id),
            "python3 -c pass": [common.PYTHON, "-c", "pass"],
            'python3 -c "import click, tinydb"': [common.PYTHON, "-c", "import click, tinydb"],
        }
        ref_name = 'python3 -c "import click, tinydb"'
        # warm-up and sanity
        for cmd in subjects.values():
            run_timed(cmd)
        _, proc = run_timed(glancectl_cmd(home, "image", "show", image_id, "-f", "json"), capture=True)
        assert json.loads(proc.stdout)["id"] == image_id

        names = list(subjects)
        times = common.interleaved(subjects, args.runs, lambda cmd: run_timed(cmd)[0])
        ref = median(times[ref_name])
        rows = []
        for name in names:
            if name == ref_name:
                continue
            t = median(times[name])
            limit = target_for(name) if name.startswith("glancectl") else None
            rows.append(Row(
                benchmark=name, glancectl=t, reference=ref, reference_name="import click, tinydb",
                target=f"<= {limit}x" if limit else "—",
                ok=(t / ref <= limit) if limit else None,
                samples={"glancectl": times[name], "reference": times[ref_name]},
            ))
        extra = {}
        if args.importtime:
            mods = importtime(glancectl_cmd(home, "image", "show", image_id), args.top)
            extra["importtime_show"] = mods
            importtime([common.PYTHON, "-c", "import click, tinydb"], 8)
    return common.report("startup", f"Start-up (median of {args.runs} runs, whole processes)",
                         rows, info, markdown=args.markdown, markdown_title="Start-up", extra=extra)


if __name__ == "__main__":
    sys.exit(main())
