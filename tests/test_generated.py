"""Files generated from the app (completions/, docs/lifecycle.md, README's diagram) must match what it generates now."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import LAUNCHER, REPO

_spec = importlib.util.spec_from_file_location("regen_generated", REPO / "scripts" / "regen_generated.py")
regen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen)
EXPECTED = regen.expected_files()


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_committed_file_is_current(path):
    committed = REPO / path
    assert committed.is_file(), f"{path} is missing; run: python3 scripts/regen_generated.py"
    assert committed.read_text() == EXPECTED[path], (
        f"{path} is stale; run: python3 scripts/regen_generated.py")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_what_click_generates(gctl, shell):
    printed = gctl.ok("completion", shell).stdout
    env = {**os.environ, "_GLANCECTL_COMPLETE": f"{shell}_source"}
    sourced = subprocess.run([sys.executable, str(LAUNCHER)], env=env, capture_output=True,
                             text=True, timeout=60)
    assert sourced.returncode == 0 and sourced.stderr == ""
    assert printed == (REPO / regen.COMPLETION_FILES[shell]).read_text()
    # Click 8.4 ends its own output with an extra newline and 8.5 does not.
    assert sourced.stdout.rstrip("\n") + "\n" == printed
    assert "_GLANCECTL_COMPLETE" in printed


def test_unknown_shell_is_a_usage_error(gctl):
    result = gctl("completion", "tcsh")
    assert result.exit_code == 2 and "'tcsh' is not one of" in result.stderr


def test_image_diagram_in_docs_is_the_command_output(gctl):
    mermaid = gctl.ok("lifecycle", "image", "--format", "mermaid").stdout
    assert f"```mermaid\n{mermaid}```" in (REPO / regen.LIFECYCLE_DOC).read_text()
