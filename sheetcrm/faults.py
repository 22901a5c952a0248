"""Named points where a test kills the process, to prove that a crash at any moment leaves the next
run able to go on (tests/test_crash.py). Nothing happens unless the environment variable
SHEETCRM_CRASH_AT names the point; a test sets it for a subprocess only."""

from __future__ import annotations

import os
import signal

CRASH_AT = "SHEETCRM_CRASH_AT"


def crash_point(name: str) -> None:
    """Die here, as kill -9 would (no cleanup, no finally blocks), when SHEETCRM_CRASH_AT is `name`."""
    if os.environ.get(CRASH_AT) == name:
        kill = getattr(signal, "SIGKILL", None)
        if kill is None:  # Windows
            os._exit(137)
        os.kill(os.getpid(), kill)
