"""README's set-up and test commands, .ci/run, the launcher's advice, and the package metadata."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib

from tests.conftest import LAUNCHER, REPO
from tests.test_launcher import without_module

README = (REPO / "README.md").read_text()


def readme_block(after: str) -> str:
    """The first ```sh block after the line ``after``."""
    return re.search(re.escape(after) + r".*?```sh\n(.*?)```", README, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    test_command = readme_block("Run the tests:")
    ci_commands = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
                   if line.strip() and not line.lstrip().startswith("#")]
    assert ci_commands[-1] == test_command


def test_readme_installs_into_the_venv_the_tests_use():
    """Debian/Ubuntu refuse pip into the system Python (PEP 668): set-up makes .venv, tests use it."""
    setup = readme_block("Set up and run the main job")
    assert setup.startswith("python3 -m venv .venv && .venv/bin/python -m pip install -e '.[test]'")
    assert "python3 -m pip install" not in setup
    assert readme_block("Run the tests:").startswith(".venv/bin/python ")


def copy_checkout(tmp_path):
    """A checkout of its own (launcher, src/, pyproject.toml), so its .venv is the test's to make."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy2(LAUNCHER, checkout / "glancectl")
    shutil.copy2(REPO / "pyproject.toml", checkout / "pyproject.toml")
    shutil.copytree(REPO / "src", checkout / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return checkout


def run_outside_any_venv(checkout, *args, env):
    """The launcher under the base interpreter, as `./glancectl` runs with a system python3."""
    base_python = getattr(sys, "_base_executable", sys.executable)
    return subprocess.run([base_python, str(checkout / "glancectl"), *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_missing_dependency_outside_a_venv_advises_a_venv_not_a_refused_pip(tmp_path):
    checkout = copy_checkout(tmp_path)
    env = {**os.environ, "PYTHONPATH": without_module(tmp_path, "tinydb"),
           "GLANCECTL_HOME": str(tmp_path / "h")}
    env.pop("VIRTUAL_ENV", None)
    result = run_outside_any_venv(checkout, "image", "list", env=env)
    assert result.returncode == 69, result.stderr
    venv = checkout / ".venv"
    assert "missing dependency '" in result.stderr  # tinydb, or click where the base has none
    assert f"python3 -m venv {venv} && {venv}/bin/python -m pip install -e {checkout}" in result.stderr
    assert "python3 -m pip install" not in result.stderr
    assert not (tmp_path / "h").exists()


def test_launcher_runs_in_the_checkouts_venv(tmp_path):
    """Outside any venv, ./glancectl switches to .venv: the advice then names .venv's python."""
    checkout = copy_checkout(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(checkout / ".venv")],
                   check=True, timeout=120)
    env = {**os.environ, "PYTHONPATH": without_module(tmp_path, "tinydb"),
           "GLANCECTL_HOME": str(tmp_path / "h")}
    env.pop("VIRTUAL_ENV", None)
    result = run_outside_any_venv(checkout, "image", "list", env=env)
    assert result.returncode == 69, result.stderr
    venv_python = checkout / ".venv" / "bin" / "python"
    assert f"Install the dependencies with: {venv_python} -m pip install -e {checkout}" in result.stderr


def test_license_is_an_spdx_string():
    """A TOML table here makes setuptools warn on every install (project.license is deprecated)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in pyproject["project"].get("classifiers", []))
