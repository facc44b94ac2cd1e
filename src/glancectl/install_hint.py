"""How to install glancectl's dependencies: one wording for the launcher and the CLI.

Standard library only, so the launcher can use it before any dependency loads.
Debian and Ubuntu refuse ``pip install`` into the system Python (PEP 668,
"externally-managed-environment"), so outside a virtual environment the advice
is to make the checkout's ``.venv``, which ``./glancectl`` then uses by itself.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

VENV_DIR = ".venv"


def checkout_root() -> Path | None:
    """The source checkout this code runs from, or None when installed as a package."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def in_virtualenv() -> bool:
    return sys.prefix != sys.base_prefix


def install_hint() -> str:
    root = checkout_root()
    if root is None:
        if in_virtualenv():
            return ("Reinstall glancectl with its dependencies: "
                    f"{shlex.quote(sys.executable)} -m pip install --force-reinstall glancectl")
        return "Reinstall glancectl with its dependencies, e.g.: pipx install --force glancectl"
    if in_virtualenv():
        return ("Install the dependencies with: "
                f"{shlex.quote(sys.executable)} -m pip install -e {shlex.quote(str(root))}")
    venv = root / VENV_DIR
    return ("Install the dependencies into a virtual environment, which ./glancectl then uses:\n"
            f"  python3 -m venv {shlex.quote(str(venv))} && "
            f"{shlex.quote(str(venv / 'bin' / 'python'))} -m pip install -e {shlex.quote(str(root))}")
