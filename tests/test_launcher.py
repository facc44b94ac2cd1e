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


def without_module(tmp_path, module: str) -> str:
    """A PYTHONPATH whose sitecustomize hides ``module``: a machine where it is not installed."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {module!r}:\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    return str(blocker)


def test_missing_dependency_exits_69_with_install_hint(tmp_path):
    env = {**os.environ, "PYTHONPATH": without_module(tmp_path, "tinydb"),
           "GLANCECTL_HOME": str(tmp_path / "h")}
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


def test_a_dependency_missing_on_a_lazy_path_is_also_69(tmp_path):
    """oslo.utils loads only when data arrives; its absence must still say how to install."""
    home = tmp_path / "h"
    data = tmp_path / "d.raw"
    data.write_bytes(b"z" * 1000)
    env = {**os.environ, "PYTHONPATH": without_module(tmp_path, "oslo_utils"),
           "GLANCECTL_HOME": str(home)}
    made = subprocess.run([sys.executable, str(LAUNCHER), "image", "create", "x", "--disk-format", "raw",
                           "--container-format", "bare", "-q"], capture_output=True, env=env)
    assert made.returncode == 0, "commands that need no inspector still work"
    image_id = made.stdout.decode().strip()
    result = subprocess.run([sys.executable, str(LAUNCHER), "image", "upload", image_id, "--file",
                             str(data)], capture_output=True, env=env)
    assert result.returncode == 69, result.stderr
    assert b"missing dependency 'oslo_utils" in result.stderr and b"pip install" in result.stderr
    shown = run_launcher("image", "show", image_id, "-f", "value", "-c", "status", home=home)
    assert shown.stdout.decode().strip() == "queued", "the upload was rolled back"


def test_a_symlinked_home_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    made = run_launcher("--home", str(link), "image", "create", "via-link", "-q", home=tmp_path / "unused")
    assert made.returncode == 0, made.stderr
    assert (real / "images").is_dir()
