"""Is a process still there? What a lock or a temporary file left by a killed run is judged by."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def machine() -> str:
    """This machine as far as process IDs go: the host name, and on Linux the PID namespace (two
    containers, or a container and its host, may share a host name but never their PIDs)."""
    try:
        ns = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return socket.gethostname()
    return f"{socket.gethostname()}~{ns.removeprefix('pid:[').removesuffix(']')}"


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
