"""Progress of long steps: a rich bar on a terminal, one line per step (with seconds) in cron and CI
logs, where a bar would be noise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console


class Update(Protocol):
    def __call__(self, step: str, done: int, finished: bool = False) -> None: ...


def log_line(line: str) -> None:
    """A progress line: to stderr, so a command's output on stdout stays clean for pipes."""
    print(line, file=sys.stderr, flush=True)


@contextmanager
def progress(label: str, total: int, *, console: Console | None = None) -> Iterator[Update]:
    """Yield `update(step, done, finished)`. On a terminal each step is a line that moves while
    it runs (a spinner and the time so far; a bar when `total` is known) and stays on screen
    when the step ends, with its count and seconds. Elsewhere (cron, CI) one plain line per
    step."""
    console = console or Console(stderr=True, highlight=False)
    started = time.monotonic()
    if console.is_terminal:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = [SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn()]  # fmt: skip
        with Progress(*columns, console=console, transient=False, refresh_per_second=8) as bar:
            tasks: dict[str, Any] = {}

            def update(step: str, done: int, finished: bool = False) -> None:
                if step not in tasks:  # no known total: the bar pulses and the clock runs
                    tasks[step] = bar.add_task(f"{label}: {step}", total=total or None)
                if finished:
                    bar.update(tasks[step], total=max(done, 1), completed=max(done, 1),
                               description=f"{label}: {step} {done:,}")  # fmt: skip
                    bar.stop_task(tasks[step])
                else:
                    bar.update(tasks[step], completed=done)

            yield update
    else:
        current: dict[str, Any] = {}

        def close_step() -> None:
            if current:
                seconds = time.monotonic() - current["since"]
                log_line(f"{label}: {current['step']} {current['done']:,} in {seconds:.1f} s")
                current.clear()

        def update(step: str, done: int, finished: bool = False) -> None:
            if current.get("step") != step:
                close_step()
                current.update(step=step, since=time.monotonic())
            current["done"] = done
            if finished:
                close_step()

        yield update
        close_step()
    log_line(f"{label}: done in {time.monotonic() - started:.1f} s")
