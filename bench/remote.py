#!/usr/bin/env python3
"""Push and pull throughput against a real Glance 33 on loopback, against openstackclient.

One Glance (tests/realglance.py: gunicorn, sqlite, file store) serves every
run. Each round times whole processes, in an order that rotates per round:

    glancectl image push IMG --method upload          vs  openstack image create --file F
    glancectl image push IMG --method glance-direct   (stage + import, for scale)
    glancectl image pull REMOTE (into a fresh store)  vs  openstack image save --file OUT REMOTE

A push verifies the remote os_hash_value and checksum, a pull hashes, inspects
and fsyncs as an upload does; openstackclient does neither. The remote image
each push creates is deleted after it is timed.

    python3 bench/remote.py                   # 1 GiB, 3 rounds
    python3 bench/remote.py --mib 128 --rounds 1   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

sys.path.insert(0, str(common.REPO))
from tests import realglance  # noqa: E402

MB = 1_000_000
OPENSTACK = str(Path(sys.executable).with_name("openstack"))


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n"
                           f"{proc.stderr.decode(errors='replace')}")
    return elapsed, proc.stdout.decode().strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_data_path_args(ap, mib=1024, what="the image")
    common.add_common_args(ap)
    args = ap.parse_args()
    info = common.setup(args)

    work = Path(tempfile.mkdtemp(prefix="glancectl-remote-", dir=args.dir))
    server = None
    try:
        server = realglance.start(work / "glance")
        clouds = work / "clouds.yaml"
        clouds.write_text(json.dumps({"clouds": {"bench": server.cloud}}))
        env = {**common.bench_env(), "OS_CLIENT_CONFIG_FILE": str(clouds)}
        env = {k: v for k, v in env.items() if not (k.startswith("OS_") and k != "OS_CLIENT_CONFIG_FILE")}
        os_cli = [OPENSTACK, "--os-cloud", "bench"]

        source = work / "source.raw"
        with open(source, "wb") as out:
            for _ in range(args.mib):
                out.write(os.urandom(1024 * 1024))
        size_mb = source.stat().st_size / MB
        home = work / "home"
        timed(common.glancectl_cmd(home, "image", "create", "bench", "--disk-format", "raw",
                                   "--container-format", "bare", "--file", str(source),
                                   "--no-progress", "-q"), env)
        links = home / "remotes.json"
        remote_ids: list[str] = []

        def delete_remote(remote_id: str) -> None:
            timed(os_cli + ["image", "delete", remote_id], env)

        def push(method: str) -> float:
            links.unlink(missing_ok=True)  # forget the last push, so this one sends the data
            t, out = timed(common.glancectl_cmd(home, "image", "push", "bench", "--os-cloud", "bench",
                                                "--method", method, "--no-progress",
                                                "-f", "value", "-c", "id"), env)
            delete_remote(out)
            return t

        def openstack_create() -> float:
            t, out = timed(os_cli + ["image", "create", "--file", str(source), "--disk-format", "raw",
                                     "--container-format", "bare", "ref", "-f", "value", "-c", "id"],
                           env)
            delete_remote(out)
            return t

        # The image the pulls and saves read, pushed once, untimed.
        _, pulled_id = timed(common.glancectl_cmd(home, "image", "push", "bench", "--os-cloud",
                                                  "bench", "--method", "upload", "--no-progress",
                                                  "-f", "value", "-c", "id"), env)
        remote_ids.append(pulled_id)

        def pull() -> float:
            target = work / "pull-home"
            t, _ = timed(common.glancectl_cmd(target, "image", "pull", pulled_id, "--os-cloud",
                                              "bench", "--no-progress", "-f", "value", "-c", "id"), env)
            shutil.rmtree(target)
            return t

        def openstack_save() -> float:
            out = work / "saved.raw"
            t, _ = timed(os_cli + ["image", "save", "--file", str(out), pulled_id], env)
            if out.stat().st_size != source.stat().st_size:
                raise RuntimeError("openstack image save wrote the wrong size")
            out.unlink()
            return t

        subjects = {
            "push_upload": lambda: push("upload"),
            "push_import": lambda: push("glance-direct"),
            "openstack_create": openstack_create,
            "pull": pull,
            "openstack_save": openstack_save,
        }

        def measure(run):
            t = run()
            print(f"  {t:.1f} s", flush=True)
            return t

        samples = common.interleaved(subjects, args.rounds, measure)

        def rate(key: str) -> float:
            return size_mb / common.median(samples[key])

        rows = [
            common.Row("push, plain upload, verified", rate("push_upload"), rate("openstack_create"),
                       "openstack image create --file", "informational", None, unit="MB/s"),
            common.Row("push, stage + glance-direct import, verified", rate("push_import"),
                       rate("openstack_create"), "openstack image create --file", "informational",
                       None, unit="MB/s"),
            common.Row("pull, hashed + inspected + fsynced", rate("pull"), rate("openstack_save"),
                       "openstack image save --file", "informational", None, unit="MB/s"),
        ]
        for row, key in zip(rows, ("push_upload", "push_import", "pull")):
            row.samples = {k: samples[k] for k in (key, "openstack_create" if "push" in key
                                                  else "openstack_save")}
        return common.report("remote", f"Push and pull over loopback to a real Glance 33, "
                             f"{args.mib} MiB of random bytes, median of {args.rounds}", rows, info,
                             markdown=args.markdown, extra={"samples_s": samples})
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
