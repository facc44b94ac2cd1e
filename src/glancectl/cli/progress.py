"""A byte progress bar on stderr, only when stderr is a terminal, in binary units (MiB)."""

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
        BarColumn, DownloadColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn,
    )
    from rich.text import Text

    from glancectl.cli.output import human_size

    class BinarySpeedColumn(ProgressColumn):
        """Rich's TransferSpeedColumn counts in powers of 1000; sizes here are MiB, GiB."""

        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("?" if speed is None else f"{human_size(int(speed))}/s",
                        style="progress.data.speed")

    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               BinarySpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=env.console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def update(done: int) -> None:
            bar.update(task, completed=done)

        yield update
