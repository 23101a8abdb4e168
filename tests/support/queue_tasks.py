"""Jobs only the queue tests' workers accept (`--allow-task`): a poisoned job that kills the process running it."""

from __future__ import annotations

import os
import signal
from typing import Any


def crash(kind: str, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """What a segfault or the OOM killer does to a worker: the process is gone, mid-job, with no answer."""
    os.kill(os.getpid(), signal.SIGKILL)
    return {}
