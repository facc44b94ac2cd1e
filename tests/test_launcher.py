"""The real `glancectl` executable, run as a shell script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import LAUNCHER, REPO, run_launcher


def test_create_and_list_through_the_launcher(tmp_path):
    home = tmp_path / "h"
    made = run_launcher("image", "create", "cirros", "-q", home=home)
    assert made.returncode == 0, made.stderr
    image_id = made.stdout.decode().strip()
    listed = run_launcher("image", "list", "-f", "json", home=home)
    assert [i["id"] for i in json.loads(listed.stdout)] == [image_id]
    assert listed.stderr == b""


def test_exit_codes_reach_the_shell(tmp_path):
    home = tmp_path / "h"
    assert run_launcher("image", "show", "nope", home=home).returncode == 3
    assert run_launcher("image", "create", "--disk-format", "floppy", home=home).returncode == 2
    assert run_launcher("image", "frobnicate", home=home).returncode == 2
    version = run_launcher("--version", home=home)
    assert version.returncode == 0 and version.stdout.decode().startswith("glancectl, version ")


def test_python_dash_m_works(tmp_path):
    env = {**os.environ, "GLANCECTL_HOME": str(tmp_path / "h"),
           "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([sys.executable, "-m", "glancectl", "image", "list", "-q"],
                            capture_output=True, env=env)
    assert result.returncode == 0 and result.stdout == b""


def test_missing_dependency_exits_69_with_install_hint(tmp_path):
    # A sitecustomize that hides tinydb simulates a fresh machine without it.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'tinydb':\n"
        "            raise ModuleNotFoundError(\"No module named 'tinydb'\", name='tinydb')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(blocker), "GLANCECTL_HOME": str(tmp_path / "h")}
    result = subprocess.run([sys.executable, str(LAUNCHER), "image", "list"], capture_output=True, env=env)
    assert result.returncode == 69
    assert b"missing dependency 'tinydb'" in result.stderr and b"pip install" in result.stderr


def test_pipe_closed_early_is_not_an_error(tmp_path):
    home = tmp_path / "h"
    for i in range(3):
        run_launcher("image", "create", f"i{i}", home=home)
    env = {**os.environ, "GLANCECTL_HOME": str(home)}
    shell = f"'{sys.executable}' '{LAUNCHER}' image list -f json | head -c 1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, env=env)
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
