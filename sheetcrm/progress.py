"""Progress of long steps: a rich bar on a terminal, one line per step (with seconds) in cron and CI
logs, where a bar would be noise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

Update = Callable[[str, int], None]


def log_line(line: str) -> None:
    """A progress line: to stderr, so a command's output on stdout stays clean for pipes."""
    print(line, file=sys.stderr, flush=True)


@contextmanager
def progress(label: str, total: int, *, console: Console | None = None) -> Iterator[Update]:
    """Yield `update(step, done)`: a bar per step on a terminal, one line per step otherwise."""
    console = console or Console(stderr=True, highlight=False)
    started = time.monotonic()
    if console.is_terminal:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            tasks: dict[str, Any] = {}

            def update(step: str, done: int) -> None:
                if step not in tasks:
                    tasks[step] = bar.add_task(f"{label}: {step}", total=total)
                bar.update(tasks[step], completed=done)

            yield update
    else:
        current: dict[str, Any] = {}

        def close_step() -> None:
            if current:
                seconds = time.monotonic() - current["since"]
                log_line(f"{label}: {current['step']} {current['done']:,} in {seconds:.1f} s")

        def update(step: str, done: int) -> None:
            if current.get("step") != step:
                close_step()
                current.update(step=step, since=time.monotonic())
            current["done"] = done

        yield update
        close_step()
    log_line(f"{label}: done in {time.monotonic() - started:.1f} s")
