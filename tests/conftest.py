"""Shared fixtures: an isolated store home, a CliRunner wrapper, the real launcher."""

from __future__ import annotations

import json
import os
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
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GLANCECTL_")}
    full_env.update({"GLANCECTL_HOME": str(home)}, **(env or {}))
    streams = {"input": input} if input is not None else {"stdin": stdin}
    return subprocess.run([sys.executable, str(LAUNCHER), *args], **streams, stdout=stdout,
                          stderr=subprocess.PIPE, env=full_env, timeout=timeout)
