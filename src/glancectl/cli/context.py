"""The per-invocation environment: streams, terminal flags, home, settings, store.

Built once by the root group and kept on ``ctx.obj``; nothing captures
terminal state at import time, so tests can pass their own streams.
"""

from __future__ import annotations

import os
import stat
import sys
from functools import cached_property
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Callable, Mapping

from glancectl.errors import OutputFailed, StoreUnavailable

if TYPE_CHECKING:
    from glancectl.config import Settings
    from glancectl.store import Store


def resolve_home(option: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """The store home, absolute, and where it came from: ``--home DIR``, then ``GLANCECTL_HOME``,
    then the platform's user data dir. A symlinked home is followed once, here.

    A string, not a Path: see ``store.Store.root``.
    """
    if option:
        return _absolute(option), "--home"
    if environ.get("GLANCECTL_HOME"):
        return _absolute(environ["GLANCECTL_HOME"]), "GLANCECTL_HOME"
    import platformdirs  # only needed when no home is given

    return _absolute(platformdirs.user_data_dir("glancectl", appauthor=False)), "platform default"


def _absolute(path: str) -> str:
    """``path`` made absolute, its symlinks followed; refused when it cannot be a store's home,
    so that a read never reports an empty store where there is no store to read."""
    home = os.path.realpath(os.path.expanduser(path))
    try:
        is_dir = stat.S_ISDIR(os.stat(home).st_mode)
    except FileNotFoundError:
        return home  # a new store: made by its first write
    except OSError as exc:  # a symlink loop, a parent that is a file, no permission
        raise StoreUnavailable(f"store home {home}: {exc.strerror}") from None
    if not is_dir:
        raise StoreUnavailable(f"store home {home} is not a directory")
    return home


class GuardedOutput:
    """Standard output whose write failures (a full disk, a closed descriptor) raise
    ``OutputFailed``, saying whether the command had already changed the store.

    A reader that went away (EPIPE) is left to the caller, as before.
    """

    def __init__(self, stream: IO, changed: Callable[[], bool]):
        self._stream = stream
        self._changed = changed

    def write(self, data):
        if self._stream is None:  # Python's stdout when descriptor 1 was closed (>&-)
            raise self._failure("it is closed")
        with self._guard():
            return self._stream.write(data)

    def flush(self) -> None:
        if self._stream is not None:
            with self._guard():
                self._stream.flush()

    @property
    def buffer(self) -> "GuardedOutput":
        return GuardedOutput(self._stream.buffer, self._changed)

    def __getattr__(self, name):
        return getattr(self._stream, name)

    @contextmanager
    def _guard(self):
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._discard_pending()
            raise self._failure(exc.strerror or str(exc)) from None

    def _failure(self, reason: str) -> OutputFailed:
        if self._changed():
            return OutputFailed(
                f"the change was made and kept, but its output could not be written to "
                f"standard output: {reason}.",
                hint="Look at the result with 'show' or 'list'; do not repeat the change.")
        return OutputFailed(f"could not write to standard output: {reason}.")

    def _discard_pending(self) -> None:
        # What stays buffered would fail again when the interpreter exits; send it nowhere.
        try:
            fd = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)


def _isatty(stream: IO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Env:
    # A plain class, not a dataclass: every command builds one, and a dataclass costs
    # start-up time to define (bench/startup.py).
    def __init__(self, home_option: str | None = None, lock_timeout: float = 30.0,
                 debug: bool = False, environ: Mapping[str, str] | None = None,
                 stdin: IO | None = None, stdout: IO | None = None, stderr: IO | None = None):
        """Streams and environ default to the process's own, as they are when it is built."""
        self.home_option = home_option
        self.lock_timeout = lock_timeout
        self.debug = debug
        self.environ = os.environ if environ is None else environ
        self.stdin = sys.stdin if stdin is None else stdin
        self.stdout = GuardedOutput(sys.stdout if stdout is None else stdout, self._store_changed)
        self.stderr = sys.stderr if stderr is None else stderr

    def _store_changed(self) -> bool:
        return "store" in self.__dict__ and self.store.changed

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
    def home(self) -> str:
        return resolve_home(self.home_option, self.environ)[0]

    @cached_property
    def home_source(self) -> str:
        return resolve_home(self.home_option, self.environ)[1]

    @cached_property
    def settings(self) -> Settings:
        from glancectl.config import load_settings  # only commands that write need settings

        return load_settings(self.home, self.environ)

    @cached_property
    def store(self) -> Store:
        # Imported here: --version, --help and `lifecycle` never open a store.
        from glancectl.operations.recovery import sweep
        from glancectl.store import Store

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
