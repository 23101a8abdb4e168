"""Where the demo's jobs run: in this process (the default), or on `python -m nst_core.worker` processes behind
a Redis queue when the operator sets NST_QUEUE_URL (nst_core.serve). The handlers call `ENGINE.stylize` and
`ENGINE.stylize_video` either way: same arguments, same progress records, same errors, same cancel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import nst_core
from nst_core.serve import JobQueue


@dataclass(frozen=True)
class Engine:
    stylize: Callable[..., Any]
    stylize_video: Callable[..., Any]
    queue: JobQueue | None = None


def engine_from_env() -> Engine:
    """The queue's workers when NST_QUEUE_URL names one, else this process (nothing of Redis imported)."""
    queue = JobQueue.from_env()
    if queue is None:
        return Engine(nst_core.stylize, nst_core.stylize_video)
    return Engine(queue.stylize, queue.stylize_video, queue)


def show_progress(progress: Any, p: nst_core.Progress, describe: Callable[[nst_core.Progress], str]) -> None:
    """Gradio's bar for one record: a job still waiting for a queue worker says its place, not 100 %."""
    if p.position:
        progress(0.0, desc=f"Waiting for a free worker: this picture is {place_in_line(p.position)}.")
    else:
        progress(p.fraction, desc=describe(p))


def place_in_line(position: int) -> str:
    """'next', 'number 3 in line': a waiting job's place, in the same words for the page's queue (demo/waiting.py)
    and the workers' queue."""
    return "next" if position == 1 else f"number {position} in line"
