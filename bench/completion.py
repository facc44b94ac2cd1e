#!/usr/bin/env python3
"""Tab completion of IMAGE arguments on a big store: one whole completion round trip per Tab.

Times the real protocol a shell runs on each Tab press
(``_GLANCECTL_COMPLETE=bash_complete COMP_WORDS=... COMP_CWORD=... glancectl``),
interleaved, on a store of --size images (default 10,000):

    glancectl image show <Tab>          every image (one candidate each)
    glancectl image show ub<Tab>        a name prefix
    glancectl image show 3f<Tab>        an ID prefix
    glancectl image show <Tab>          on an empty store: the reference

Reference: the same Tab on an empty store. Target: reading 10,000 images adds < 150 ms
to a Tab press, so completion stays well under the ~0.25 s at which a Tab starts to feel slow.
The added cost is parsing shard files (about 50 ms for all of 10,000 images on 2 cores);
a typed ID prefix parses only its own shard, a name prefix only the shards holding it.

    python3 bench/completion.py                  # 11 runs, 10,000 images
    python3 bench/completion.py --size 100000 --runs 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Row, Stores, median, run_timed  # noqa: E402

TARGET_EXTRA_S = 0.15


def protocol_cmd(words: str) -> tuple[list[str], dict]:
    words_list = words.split(" ")
    env = dict(common.bench_env(), _GLANCECTL_COMPLETE="bash_complete", COMP_WORDS=words,
               COMP_CWORD=str(len(words_list) - 1))
    return [common.PYTHON, str(common.LAUNCHER)], env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--size", type=int, default=10_000)
    common.add_common_args(ap)
    args = ap.parse_args()

    info = common.setup(args)
    with Stores() as stores:
        home, recs, took = stores.make("big", args.size)
        print(f"populated {args.size} images in {took:.2f} s")
        empty, _, _ = stores.make("empty", 0)
        id_prefix = next(r["id"] for r in recs if r["status"] != "deleted")[:2]
        base = f"glancectl --home {home} image"
        subjects = {
            f"IMAGE, nothing typed ({args.size:,} images)": f"{base} show ",
            f"IMAGE, name prefix 'ub' ({args.size:,} images)": f"{base} show ub",
            f"IMAGE, ID prefix '{id_prefix}' ({args.size:,} images)": f"{base} show {id_prefix}",
            "IMAGE, nothing typed, empty store (reference)": f"glancectl --home {empty} image show ",
        }
        ref_name = "IMAGE, nothing typed, empty store (reference)"
        counts = {}
        for name, words in subjects.items():  # warm-up and sanity
            cmd, env = protocol_cmd(words)
            _, proc = run_timed(cmd, capture=True, env=env)
            assert not proc.stderr, proc.stderr
            counts[name] = len(proc.stdout.splitlines())
            assert counts[name] > 0 or name == ref_name, name
        names = list(subjects)

        def measure(subject) -> float:
            cmd, env = protocol_cmd(subject)
            return run_timed(cmd, capture=True, env=env)[0]

        times = common.interleaved(subjects, args.runs, measure)
        ref = median(times[ref_name])
        rows = []
        for name in names:
            if name == ref_name:
                continue
            t = median(times[name])
            rows.append(Row(benchmark=name, glancectl=t, reference=ref,
                            reference_name="the same on an empty store",
                            target=f"< +{TARGET_EXTRA_S * 1000:.0f} ms", ok=t - ref < TARGET_EXTRA_S,
                            note=f"{counts[name]} candidates, +{(t - ref) * 1000:.0f} ms",
                            samples={"glancectl": times[name], "reference": times[ref_name]}))
    return common.report("completion", f"Completion round trip (median of {args.runs} runs, "
                         "whole processes)", rows, info, markdown=args.markdown,
                         markdown_title="Completion")


if __name__ == "__main__":
    sys.exit(main())
