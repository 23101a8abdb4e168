"""Long jobs for the page: a worker thread whose progress reaches an async Gradio handler, and per-visitor Stop.

Why: the core's long calls (`stylize`, `stylize_video`) are blocking and report through a callback on their own
thread; a Gradio handler is a coroutine that must yield pictures and update `gr.Progress`. `run_in_thread` bridges
the two (newest progress only, so a slow page never falls behind) and cancels the job when the handler is closed
(tab closed, API cancel, time limit). `StopSwitches` is the Stop button: a switch armed when Stylize is clicked
(so a job still queued can be stopped too) and claimed by the job when it starts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

log = logging.getLogger("nst.demo")

MAX_SWITCHES = 1024  # armed Stop switches kept at most (one per page session with a job)


class StopSwitches:
    """Page session -> the cancel event of its queued or running job (one family of jobs per instance)."""

    def __init__(self) -> None:
        self._switches: dict[str, threading.Event] = {}

    def arm(self, session: str | None) -> None:
        if not session:
            return
        switch = self._switches.get(session)
        if switch is None or switch.is_set():  # an unused switch (the job took it first, or is queued) is kept
            while len(self._switches) >= MAX_SWITCHES:  # sessions whose job never ran: forget the oldest
                self._switches.pop(next(iter(self._switches)))
            self._switches[session] = threading.Event()

    def stop(self, session: str | None) -> None:
        switch = self._switches.get(session or "")
        if switch is not None:
            switch.set()

    def claim(self, session: str | None) -> threading.Event:
        """The job's cancel event: the session's armed switch, or a new one (also for API calls without a page)."""
        if not session:
            return threading.Event()
        return self._switches.setdefault(session, threading.Event())

    def release(self, session: str | None, switch: threading.Event) -> None:
        if session and self._switches.get(session) is switch:
            del self._switches[session]


async def run_in_thread(
    work: Callable[[Callable[[Any], None]], Any], cancel: threading.Event, name: str
) -> AsyncIterator[tuple[str, Any]]:
    """Run `work(callback)` on a thread; yield ("progress", newest record) while it runs, then ("done", result).

    The work's exception is raised here. Records (`nst_core.Progress`) that piled up while the consumer was busy
    come as one: the newest count with the newest picture any of them carried.
    Closing this generator before the end sets `cancel`, so the core stops at its next step.
    """
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def post(kind: str, payload: Any) -> None:
        try:
            loop.call_soon_threadsafe(events.put_nowait, (kind, payload))
        except RuntimeError:  # the page went away and its loop with it: nobody is listening
            cancel.set()

    def run() -> None:
        try:
            post("done", work(lambda record: post("progress", record)))
        except BaseException as exc:
            post("error", exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    finished = False
    try:
        while True:
            kind, payload = await events.get()
            latest, picture = None, None
            while kind == "progress":  # drain what piled up: the newest count, with the newest picture
                latest, picture = payload, payload.image if payload.image is not None else picture
                if events.empty():
                    break
                kind, payload = events.get_nowait()
            if latest is not None:
                yield "progress", latest if latest.image is picture else dataclasses.replace(latest, image=picture)
            if kind == "done":
                finished = True
                yield "done", payload
                return
            if kind == "error":
                finished = True
                raise payload
    finally:
        if not finished:  # closed tab, API cancel or time limit: the core stops at its next step
            cancel.set()
            log.info("%s stopped before the end (closed page, cancelled or time limit)", name)
