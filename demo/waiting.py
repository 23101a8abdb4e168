"""A visitor waiting in the page's queue is told in words that another painting is being made, and about how long
until theirs starts (#24 item 4).

Why the server says it and not Gradio: Gradio's own sign is a small "queue: 1/1 | 8.0/69.8s" over an input; the
result panel stays blank. The server knows more: which page sessions pressed Stylize and wait (in click order, as
Gradio's queue serves them), which jobs hold the slots and how long each has left (its progress records' time
left). `Line` keeps that for one queue (a Gradio concurrency id); `waiting_words` says it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

import nst_core
from nst_core.progress import human_duration

from .dispatch import place_in_line

PRIVATE = {"api_visibility": "private", "queue": False}  # page-only events, answered at once
CANCELLED_WAITING = "Cancelled before it started: nothing was painted."
TICK = 1.0  # seconds between a waiting page's updates of its words
STALE = 10 * TICK  # a waiting page silent this long was closed: it no longer counts as ahead of anyone


@dataclass
class _Job:
    session: str | None
    started: float
    progress: nst_core.Progress | None = None

    def left(self) -> float | None:
        """Seconds until this job frees its slot, by its own newest estimate (None before it has a pace)."""
        return self.progress.eta if self.progress is not None else None


class Line:
    """One queue of `slots` jobs at a time: the sessions waiting, in click order, and the jobs running."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._lock = threading.Lock()
        self._waiting: dict[str, float] = {}  # session -> when its page last asked, in the order they pressed
        self._running: dict[int, _Job] = {}
        self._tokens = itertools.count()
        self._last_duration: float | None = None  # of the last job that ended: the guess for jobs not started yet

    def join(self, session: str | None) -> None:
        """A page pressed Stylize (its job may wait). Ignored when that session's job already started first."""
        with self._lock:
            if session and not any(job.session == session for job in self._running.values()):
                self._waiting.pop(session, None)
                self._waiting[session] = time.monotonic()

    def leave(self, session: str | None) -> bool:
        """The session stopped before its job started; True when it was indeed waiting."""
        with self._lock:
            return self._waiting.pop(session or "", None) is not None

    def start(self, session: str | None) -> int:
        """A job took a slot; returns its token for `report` and `finish` (API calls have no page session)."""
        with self._lock:
            self._waiting.pop(session or "", None)
            token = next(self._tokens)
            self._running[token] = _Job(session, time.monotonic())
            return token

    def report(self, token: int, progress: nst_core.Progress) -> None:
        with self._lock:
            if (job := self._running.get(token)) is not None:
                job.progress = progress

    def finish(self, token: int) -> None:
        with self._lock:
            if (job := self._running.pop(token, None)) is not None:
                self._last_duration = time.monotonic() - job.started

    def place(self, session: str | None) -> tuple[int, float | None] | None:
        """(1 = next, seconds until it starts or None when unknown) for a waiting session; None when it is not
        waiting (it started, ended, stopped, or never pressed Stylize)."""
        with self._lock:
            if not session or session not in self._waiting:
                return None
            now = self._waiting[session] = time.monotonic()
            for gone in [s for s, seen in self._waiting.items() if now - seen > STALE]:
                del self._waiting[gone]
            position = list(self._waiting).index(session) + 1
            return position, self._wait(position)

    def _wait(self, position: int) -> float | None:
        """When a slot frees for the `position`-th waiting job: each job ahead takes the first slot to free, for
        as long as the last job took (the running ones' own time left is known better)."""
        frees = [job.left() for job in self._running.values()]
        if any(left is None for left in frees):
            return None
        slots = sorted([*frees, *[0.0] * (self.slots - len(frees))])  # type: ignore[list-item]
        for _ in range(position - 1):
            if self._last_duration is None:
                return None
            heapq.heappush(slots, heapq.heappop(slots) + self._last_duration)
        return slots[0]


def waiting_words(position: int, seconds: float | None) -> str:
    """'Another painting is being made. Yours is next: it starts in about 40 s.' (Stop cancels it.)"""
    ahead = "Another painting is being made" if position == 1 else "Other paintings are being made"
    when = "as soon as a place is free" if seconds is None else f"in about {human_duration(max(seconds, 1))}"
    return f"{ahead}. Yours is {place_in_line(position)}: it starts {when}. **Stop** cancels it."


class WaitingNotice:
    """The page's side of one `Line`, for the words in the result panel (demo/painting_tab.py wires it): Stylize
    joins the line and starts a timer; each tick says the place and the wait, or stops once the job has started;
    Stop while waiting leaves the line and says so; the job's end clears the words."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self._cancelled: set[str] = set()  # sessions whose words say "Cancelled", until their next Stylize

    def join(self, request: gr.Request) -> tuple[str, gr.Timer]:
        self._cancelled.discard(request.session_hash)
        self.line.join(request.session_hash)
        return self._words(request.session_hash), gr.Timer(active=True)

    def tick(self, request: gr.Request) -> tuple[Any, gr.Timer]:
        if request.session_hash in self._cancelled:  # a tick sent before Stop: the words stay "Cancelled"
            return gr.skip(), gr.Timer(active=False)
        words = self._words(request.session_hash)
        return words, gr.Timer(active=bool(words))

    def stop(self, cancelled: int, request: gr.Request) -> tuple[Any, Any, Any]:
        """Stop while waiting: the words say so, and `cancelled` changes, which takes the job out of Gradio's queue
        (its `.change` cancels the job's event). A running job is left to the Stop switch (Stylist.stop)."""
        if not self.line.leave(request.session_hash):
            return gr.skip(), gr.skip(), gr.skip()
        self._cancelled.add(request.session_hash)
        gr.Info(CANCELLED_WAITING)
        return CANCELLED_WAITING, gr.Timer(active=False), cancelled + 1

    def done(self, request: gr.Request) -> tuple[Any, gr.Timer]:
        """The job ended (or was refused before it began): out of the line, and the words go (but "Cancelled")."""
        self.line.leave(request.session_hash)
        if request.session_hash in self._cancelled:
            self._cancelled.discard(request.session_hash)
            return gr.skip(), gr.Timer(active=False)
        return "", gr.Timer(active=False)

    def _words(self, session: str | None) -> str:
        place = self.line.place(session)
        return "" if place is None else waiting_words(*place)


def join_on_click(notice: WaitingNotice, button: gr.Button, status: gr.Markdown) -> gr.Timer:
    """Stylize joins the line and starts the timer that keeps the words current. Wire it before the job's own
    event: the page sends a click's later events only once a queued one before them has ended."""
    timer = gr.Timer(TICK, active=False)
    button.click(notice.join, None, [status, timer], **PRIVATE)
    return timer


def wire_waiting(notice: WaitingNotice, timer: gr.Timer, stop: gr.Button, job: Any, status: gr.Markdown) -> None:
    """Each tick says the place; Stop while waiting cancels the queued `job` event (a running one is stopped by the
    job itself: cancelling it from outside raced with its streamed pictures); the job's end clears the words."""
    cancelled = gr.State(0)
    timer.tick(notice.tick, None, [status, timer], **PRIVATE)
    stop.click(notice.stop, [cancelled], [status, timer, cancelled], **PRIVATE)
    cancelled.change(None, None, None, cancels=[job], **PRIVATE)
    job.then(notice.done, None, [status, timer], **PRIVATE)
