"""Is a process still there? What a lock or a temporary file left by a killed run is judged by."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool | None:
    """Whether process `pid` runs on this machine; None where that cannot be asked (Windows, where
    os.kill with signal 0 would end the process)."""
    if os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def process_started(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, Linux): a PID is reused, its start time
    is not. None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name is in parentheses and may hold spaces: count the fields after it
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None
