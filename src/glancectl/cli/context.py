"""The per-invocation environment: streams, terminal flags, home, settings, store.

Built once by the root group and kept on ``ctx.obj``; nothing captures
terminal state at import time, so tests can pass their own streams.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO, Mapping

from glancectl.config import Settings, load_settings, resolve_home
from glancectl.store import Store


def _isatty(stream: IO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass
class Env:
    home_option: str | None = None
    lock_timeout: float = 30.0
    debug: bool = False
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin: IO = field(default_factory=lambda: sys.stdin)
    stdout: IO = field(default_factory=lambda: sys.stdout)
    stderr: IO = field(default_factory=lambda: sys.stderr)

    @cached_property
    def stdin_isatty(self) -> bool:
        return _isatty(self.stdin)

    @cached_property
    def stdout_isatty(self) -> bool:
        return _isatty(self.stdout)

    @cached_property
    def stderr_isatty(self) -> bool:
        return _isatty(self.stderr)

    @property
    def no_color(self) -> bool:
        return bool(self.environ.get("NO_COLOR"))

    @cached_property
    def home(self) -> Path:
        return resolve_home(self.home_option, self.environ)[0]

    @cached_property
    def home_source(self) -> str:
        return resolve_home(self.home_option, self.environ)[1]

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.home, self.environ)

    @cached_property
    def store(self) -> Store:
        from glancectl.operations.recovery import sweep

        # Settings only when a write happens: failing an abandoned task needs them.
        return Store(self.home, lock_timeout=self.lock_timeout,
                     after_lock=lambda store: sweep(store, self.settings))

    def console(self, *, stderr: bool = False):
        """A Rich console on one of our streams; Rich is imported only when drawing."""
        from rich.console import Console

        stream = self.stderr if stderr else self.stdout
        tty = self.stderr_isatty if stderr else self.stdout_isatty
        return Console(
            file=stream,
            force_terminal=tty,
            no_color=self.no_color or not tty,
            highlight=False,
            emoji=False,
            markup=False,
            soft_wrap=not tty,
        )

    def message(self, text: str) -> None:
        """A one-line message for people, on stderr."""
        print(text, file=self.stderr, flush=True)
