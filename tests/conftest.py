"""Shared fixtures: an isolated store home, a CliRunner wrapper, the real launcher."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from glancectl.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
LAUNCHER = REPO / "glancectl"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes = b""

    def json(self):
        return json.loads(self.stdout)


class Glancectl:
    """Runs glancectl in-process against one home; every call returns what a user sees."""

    def __init__(self, home: Path, monkeypatch):
        self.home = home
        self.env = {"GLANCECTL_HOME": str(home)}
        monkeypatch.delenv("GLANCECTL_HOME", raising=False)
        for name in list(os.environ):
            if name.startswith("GLANCECTL_"):
                monkeypatch.delenv(name, raising=False)

    def __call__(self, *args: str, input: bytes | str | None = None, env: dict | None = None) -> Result:
        runner = CliRunner()
        result = runner.invoke(cli, list(args), input=input, env={**self.env, **(env or {})},
                               catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr, result.stdout_bytes)

    def ok(self, *args: str, **kwargs) -> Result:
        result = self(*args, **kwargs)
        assert result.exit_code == 0, f"{args} -> {result.exit_code}: {result.stderr}"
        return result

    def create(self, name: str = "img", *args: str) -> dict:
        return self.ok("image", "create", name, "-f", "json", *args).json()

    def show(self, ref: str) -> dict:
        return self.ok("image", "show", ref, "-f", "json").json()


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def gctl(home, monkeypatch) -> Glancectl:
    return Glancectl(home, monkeypatch)


FORMATS = ("--disk-format", "raw", "--container-format", "bare")


def run_launcher(*args: str, home: Path, input: bytes | None = None, env: dict | None = None,
                 timeout: float = 60) -> subprocess.CompletedProcess:
    """The real executable, as a shell script would run it."""
    return run_launcher_with(list(args), home=home, input=input, env=env, timeout=timeout)


def run_launcher_with(args: list[str], *, home: Path, input: bytes | None = None,
                      env: dict | None = None, timeout: float = 60,
                      stdin=None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    """``run_launcher`` with the streams under the caller's control (e.g. a pty)."""
    streams = {"input": input} if input is not None else {"stdin": stdin}
    return subprocess.run([sys.executable, str(LAUNCHER), *args], **streams, stdout=stdout,
                          stderr=subprocess.PIPE, env=launcher_env(home, env), timeout=timeout)


def launcher_env(home: Path, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCECTL_")}
    env.update({"GLANCECTL_HOME": str(home)}, **(extra or {}))
    return env


def _ctrl_c_reaches_the_child() -> None:
    # A shell that runs the suite in the background starts it with SIGINT ignored, and a
    # child inherits that (Python then never raises KeyboardInterrupt). A user's command
    # in a terminal has the default, so the tests that press Ctrl-C start it that way.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_launcher(*args: str, home: Path, stdin=None) -> subprocess.Popen:
    """The real executable running in the background, as a user would have started it."""
    return subprocess.Popen([sys.executable, str(LAUNCHER), *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=launcher_env(home), preexec_fn=_ctrl_c_reaches_the_child)
