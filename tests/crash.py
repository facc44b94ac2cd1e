"""Crash a real glancectl process at an exact point: it SIGKILLs itself there.

Random kills (tests/test_kill.py) find windows by chance; these helpers
hit a named window every time, so a regression in one cannot hide.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

_CHILD = r"""
import importlib, os, signal, sys
sys.path[:0] = [sys.argv[1]]
target, when, nth = sys.argv[2], sys.argv[3], int(sys.argv[4])
module_name, func_name = target.split(":")
module = importlib.import_module(module_name)
original = getattr(module, func_name)
calls = 0

def crash(*args, **kwargs):
    global calls
    calls += 1
    if calls < nth:
        return original(*args, **kwargs)
    if when == "after":
        original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)

setattr(module, func_name, crash)
from glancectl.cli.main import main
sys.argv = ["glancectl", *sys.argv[5:]]
main()
"""


def crash_during(home: Path, *args: str, at: str, after: bool = False, nth: int = 1,
                 input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ``glancectl ARGS`` and kill it -9 on the ``nth`` call of ``at`` ("module:function").

    With ``after`` the call completes first, so the crash lands just past it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCECTL_")}
    env["GLANCECTL_HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(REPO / "src"), at, "after" if after else "before",
         str(nth), *args],
        input=input, capture_output=True, env=env, timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, (
        f"glancectl {' '.join(args)} never reached {at}: exit {proc.returncode}, {proc.stderr!r}"
    )
    return proc


def leftovers(home: Path) -> list[Path]:
    """What a dead writer may leave: temp files, and lease files of dead holders."""
    temps = [p for p in home.rglob("*") if ".tmp-" in p.name]
    leases = home / "leases"
    return temps + (sorted(leases.iterdir()) if leases.is_dir() else [])
