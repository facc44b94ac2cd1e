"""A byte progress bar on stderr, only when stderr is a terminal."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def byte_progress(env, description: str, total: int | None, *, enabled: bool = True
                  ) -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the running byte count, or None when nothing is drawn."""
    if not (enabled and env.stderr_isatty):
        yield None
        return
    from rich.progress import (
        BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=env.console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int) -> None:
            bar.update(task, completed=done)

        yield update
