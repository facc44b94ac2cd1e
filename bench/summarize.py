#!/usr/bin/env python3
"""Several runs of the benchmarks as one set of tables: median and min–max of each ratio.

Each benchmark script writes ``bench/results/<name>.json``; copy that directory
after each run (they are overwritten), then:

    python3 bench/summarize.py runA/ runB/ runC/          # markdown, as in BENCHMARKS.md

A row's verdict is taken on the median over the runs, against the row's own
target: a ratio (``<= 1.3x``, ``>= 0.85x``), added time (``< +150 ms``) or a
time (``< 1 s``); any other target counts the runs whose own verdict held.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ORDER = ("startup", "records", "maintenance", "completion", "datapath", "concurrency", "serve",
         "remote")


def _value(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    return f"{value:.1f} {unit}"


def _verdict(target: str, ratio: float, added_ms: float, seconds: float, oks: list) -> str:
    if m := re.fullmatch(r"([<>]=?)\s*([\d.]+)\s*x", target.strip()):
        limit = float(m.group(2))
        held = {"<=": ratio <= limit, "<": ratio < limit, ">=": ratio >= limit, ">": ratio > limit}
        return "PASS" if held[m.group(1)] else "MISS"
    if m := re.fullmatch(r"<\s*\+([\d.]+)\s*ms", target.strip()):
        return "PASS" if added_ms < float(m.group(1)) else "MISS"
    if m := re.fullmatch(r"<\s*([\d.]+)\s*s", target.strip()):
        return "PASS" if seconds < float(m.group(1)) else "MISS"
    judged = [ok for ok in oks if ok is not None]
    if not judged:
        return "—"
    return f"{'PASS' if all(judged) else 'MISS'} ({sum(judged)} of {len(judged)} runs)"


def summarize(run_dirs: list[Path], labels: list[str]) -> str:
    out: list[str] = []
    loads = {}
    for label, directory in zip(labels, run_dirs):
        for name in ORDER:
            path = directory / f"{name}.json"
            if path.exists():
                machine = json.loads(path.read_text())["machine"]
                loads.setdefault(label, []).append(
                    f"{name} {machine.get('date', '?')[11:]} load {machine.get('loadavg_at_start', '?').split()[0]}")
    out.append("Runs (each script's start, UTC, and its 1-minute load average then):\n")
    for label in labels:
        out.append(f"- {label}: " + "; ".join(loads.get(label, ["no results"])))
    for name in ORDER:
        runs = []
        for label, directory in zip(labels, run_dirs):
            path = directory / f"{name}.json"
            if path.exists():
                runs.append((label, {r["benchmark"]: r for r in json.loads(path.read_text())["rows"]}))
        if not runs:
            continue
        out.append(f"\n#### {name}\n")
        out.append("| benchmark | ratio, median (min–max) | per run | target | result "
                   "| glancectl / reference (median run) |")
        out.append("|---|---|---|---|---|---|")
        benchmarks = list(dict.fromkeys(b for _, rows in runs for b in rows))
        for benchmark in benchmarks:
            present = [(label, rows[benchmark]) for label, rows in runs if benchmark in rows]
            ratios = [r["glancectl"] / r["reference"] if r["reference"] else float("nan")
                      for _, r in present]
            order = sorted(range(len(present)), key=lambda i: ratios[i])
            middle = present[order[len(order) // 2]][1]  # the run whose ratio is the median
            ratio = statistics.median(ratios)
            unit = middle.get("unit", "s")
            added = statistics.median([(r["glancectl"] - r["reference"]) * 1000 for _, r in present])
            seconds = statistics.median([r["glancectl"] for _, r in present])
            verdict = _verdict(middle["target"], ratio, added, seconds, [r["ok"] for _, r in present])
            per_run = ", ".join(f"{label} {x:.2f}" for (label, _), x in zip(present, ratios))
            shown = f"**{ratio:.2f}×** ({min(ratios):.2f}–{max(ratios):.2f})"
            if "ms" in middle["target"] and "+" in middle["target"]:
                shown += f"; added {added:+.0f} ms"
            out.append(f"| {benchmark} | {shown} | {per_run} | {middle['target']} | {verdict} | "
                       f"{_value(middle['glancectl'], unit)} / {_value(middle['reference'], unit)} "
                       f"({middle['reference_name']}) |")
        notes = [(label, rows[b]["note"]) for b in benchmarks for label, rows in runs
                 if b in rows and rows[b].get("note")]
        if notes:
            out.append("")
            for benchmark in benchmarks:
                said = [f"{label}: {rows[benchmark]['note']}" for label, rows in runs
                        if benchmark in rows and rows[benchmark].get("note")]
                if said:
                    out.append(f"- {benchmark}: " + " | ".join(said))
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="directories of results JSON, one per run")
    ap.add_argument("--labels", help="comma-separated names of the runs (default A, B, C, ...)")
    args = ap.parse_args()
    labels = args.labels.split(",") if args.labels else [chr(ord("A") + i) for i in range(len(args.runs))]
    if len(labels) != len(args.runs):
        ap.error("one label per run")
    sys.stdout.write(summarize(args.runs, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
