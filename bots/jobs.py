"""The bounded worker pool both bots share: admission (rate limit, queue cap), FIFO slots, progress, timeouts.

Stylisation is CPU/GPU-bound and not async, so it runs in a ThreadPoolExecutor with exactly `workers` threads
(one by default: one GPU job at a time). The event loop stays free to answer Discord's and Slack's 3-second
deadlines while a job runs. A job keeps its worker slot until its thread really ends, even when the waiting
coroutine is cancelled or times out, so the GPU is never oversubscribed.

With NST_QUEUE_URL set, a job's thread hands it to the GPU workers (`nst_core.serve.JobQueue.stylize` and
`.stylize_video`, drop-ins for the engine's calls) and waits for it there, so everything below (admission, FIFO,
progress, cancel, timeouts) stays the same. Admission is this pool's alone: the queue takes whatever is admitted
here, in order. NST_BOT_WORKERS is then how many of this bot's jobs may be on the queue at once (set it to the
number of GPU workers); the status line shows the queue's own position once a job is on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image

import nst_core

from .clips import Clip, ClipResult, StylizeVideoFn, check_clip_spec, render_clip
from .config import CommonConfig
from .encode import Encoded, encode_under_limit
from .messages import Busy, JobTimeout, progress_text, queue_text
from .options import JobSpec

log = logging.getLogger("bots.jobs")

HISTORY = 100  # job records kept (StylizeService.history)
StatusCallback = Callable[[str], Awaitable[None]]
StylizeFn = Callable[..., Image.Image]
T = TypeVar("T")


class Ticket:
    """One admitted request. Use `async with` so its place is always given back, whatever happens."""

    def __init__(self, service: StylizeService, user: str, seq: int) -> None:
        self.service = service
        self.user = user
        self.seq = seq
        self.running = False
        self.finished = False
        self._turn: asyncio.Future[None] | None = None

    @property
    def position(self) -> int:
        """0 = running or about to; N = N-th in line for a worker."""
        return self.service._position(self)

    async def __aenter__(self) -> Ticket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.service._finish(self)

    async def run(
        self,
        spec: JobSpec,
        content: Image.Image,
        *,
        style_image: Image.Image | None = None,
        on_status: StatusCallback | None = None,
    ) -> Image.Image:
        """Wait for a worker, then stylise; status texts ('You are number 2…', 'Stylising… 40%') go to
        on_status."""
        return await self.service._run(self, spec, content, style_image, on_status)

    async def run_clip(
        self,
        spec: JobSpec,
        clip: Clip,
        limit: int,
        *,
        style_image: Image.Image | None = None,
        on_status: StatusCallback | None = None,
    ) -> ClipResult:
        """The same for a GIF or a video: a file of at most `limit` bytes ('Stylising… frame 3 of 40')."""
        return await self.service._run_clip(self, spec, clip, limit, style_image, on_status)


@dataclass(frozen=True)
class JobRecord:
    """What a job was handed to nst_core as: whose, which method, a picture or a clip. The service keeps the last
    few (`StylizeService.history`) so an admin (or a test) can tell which engine served a request, timing-free."""

    user: str
    method: str  # nst_core's: fast | arbitrary | gatys
    kind: str  # picture | clip


def remote_queue(config: CommonConfig) -> Any:
    """The job queue of NST_QUEUE_URL (with this bot's job timeout), or None: jobs run in this process."""
    if not config.queue_url:
        return None
    from nst_core.queue_protocol import QueueSettings
    from nst_core.serve import JobQueue

    settings = dataclasses.replace(QueueSettings.from_env(), url=config.queue_url.get(), job_timeout=config.job_timeout)
    log.info("jobs go to the queue at %s", settings.redacted_url)
    return JobQueue(settings=settings)


def progress_sink() -> tuple[list[str | None], Callable[[nst_core.Progress], None]]:
    """A one-slot box for the latest status text and the callback that fills it from the worker thread."""
    latest: list[str | None] = [None]

    def callback(progress: nst_core.Progress) -> None:  # worker thread: only store, never touch the loop
        latest[0] = progress_text(progress)

    return latest, callback


def deduplicated(send: StatusCallback) -> StatusCallback:
    """A status sender that skips a text equal to the last one sent: the queue position is shown before the
    download and again by the queue's own reporter, and a chat must not show the same line twice."""
    last: list[str | None] = [None]

    async def send_new(text: str) -> None:
        if text != last[0]:
            last[0] = text
            await send(text)

    return send_new


class StylizeService:
    """Shared by every handler of one bot process."""

    def __init__(
        self,
        config: CommonConfig,
        *,
        stylize: StylizeFn | None = None,
        stylize_video: StylizeVideoFn | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.remote = remote_queue(config) if stylize is None and stylize_video is None else None
        if self.remote is not None:  # the engine's two calls, run by the queue's workers
            stylize, stylize_video = self.remote.stylize, self.remote.stylize_video
        self._stylize = stylize or nst_core.stylize
        self._stylize_video = stylize_video  # None: nst_core.stylize_video (tests pass a stand-in)
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="nst-worker")
        self._seq = itertools.count(1)
        self._pending: list[Ticket] = []  # admitted, not yet running, in admission order
        self._waiting: list[Ticket] = []  # ready to run, waiting for a slot, FIFO
        self._running = 0
        self._active: dict[str, int] = {}
        self._last_start: dict[str, float] = {}
        self._cancels: set[threading.Event] = set()
        self._closed = False
        self.history: deque[JobRecord] = deque(maxlen=HISTORY)  # the latest jobs asked of the pool, oldest first

    # ----- admission -------------------------------------------------------------------------------------
    def admit(self, user: str) -> Ticket:
        """Reserve a place for `user` or raise `Busy` with the reason; cheap and synchronous (no awaits)."""
        if self._closed:
            raise Busy("The bot is shutting down; please try again in a minute.")
        cfg = self.config
        if self._active.get(user, 0) >= cfg.max_per_user:
            if cfg.max_per_user == 1:
                raise Busy("You already have an image in the works; please wait for it to finish.")
            raise Busy(f"You already have {cfg.max_per_user} images in the works; please wait for one to finish.")
        last = self._last_start.get(user)
        if last is not None and cfg.user_cooldown > 0:
            left = cfg.user_cooldown - (self._clock() - last)
            if left > 0:
                raise Busy(f"Please wait {max(1, round(left))} s before your next image.")
        if len(self._pending) >= max(cfg.max_queue, 0) + max(0, cfg.workers - self._running):
            raise Busy(f"The queue is full ({len(self._pending)} waiting); please try again in a few minutes.")
        ticket = Ticket(self, user, next(self._seq))
        self._pending.append(ticket)
        self._active[user] = self._active.get(user, 0) + 1
        return ticket

    def _position(self, ticket: Ticket) -> int:
        if ticket.running or ticket.finished:
            return 0
        if ticket in self._waiting:
            return self._waiting.index(ticket) + 1
        # Still downloading: everyone admitted before it, plus one if all workers are busy.
        ahead = self._pending.index(ticket) if ticket in self._pending else 0
        free = self.config.workers - self._running
        return max(0, ahead - free + 1)

    def _finish(self, ticket: Ticket) -> None:
        if ticket.finished:
            return
        ticket.finished = True
        if ticket in self._pending:
            self._pending.remove(ticket)
        if ticket in self._waiting:
            self._waiting.remove(ticket)
        left = self._active.get(ticket.user, 1) - 1
        if left > 0:
            self._active[ticket.user] = left
        else:
            self._active.pop(ticket.user, None)

    # ----- slots -----------------------------------------------------------------------------------------
    async def _acquire(self, ticket: Ticket, on_status: StatusCallback | None) -> None:
        if self._running < self.config.workers and not self._waiting:
            self._start(ticket)
            return
        loop = asyncio.get_running_loop()
        ticket._turn = loop.create_future()
        self._waiting.append(ticket)
        reporter = self._report(on_status, lambda: queue_text(ticket.position)) if on_status else None
        task = asyncio.ensure_future(reporter) if reporter else None
        try:
            await ticket._turn
        except asyncio.CancelledError:
            if ticket._turn.done() and not ticket._turn.cancelled():
                self._release()  # the slot was handed to us just as we were cancelled: pass it on
            with contextlib.suppress(ValueError):
                self._waiting.remove(ticket)
            raise
        finally:
            if task:
                task.cancel()

    def _start(self, ticket: Ticket) -> None:
        self._running += 1
        ticket.running = True
        if ticket in self._pending:
            self._pending.remove(ticket)
        self._last_start[ticket.user] = self._clock()

    def _release(self) -> None:
        self._running -= 1
        while self._waiting and self._running < self.config.workers:
            nxt = self._waiting.pop(0)
            if nxt._turn is not None and not nxt._turn.done():
                self._start(nxt)
                nxt._turn.set_result(None)

    # ----- running ---------------------------------------------------------------------------------------
    async def _report(self, on_status: StatusCallback, text: Callable[[], str | None]) -> None:
        """Send the status text whenever it changes, at most once per progress_interval (chat rate limits)."""
        last = None
        while True:
            current = text()
            if current and current != last:
                last = current
                try:
                    await on_status(current)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a failed status edit must never kill the job
                    log.warning("status update failed: %s", type(exc).__name__)
            await asyncio.sleep(max(self.config.progress_interval, 0.05))

    async def _run(
        self,
        ticket: Ticket,
        spec: JobSpec,
        content: Image.Image,
        style_image: Image.Image | None,
        on_status: StatusCallback | None,
    ) -> Image.Image:
        if ticket.finished or ticket.running:
            raise RuntimeError("a ticket runs one job only")
        if spec.custom and style_image is None:
            raise ValueError("custom style jobs need a style image")
        latest, callback = progress_sink()
        cancel = threading.Event()
        kwargs = spec.stylize_kwargs(content.size, self.config)  # before taking a slot: nothing can leak it
        styles: Sequence[Image.Image] = (style_image,) if style_image is not None else ()
        call = functools.partial(
            self._stylize,
            content,
            spec.style,
            style_images=styles,
            callback=callback,
            cancel=cancel,
            **kwargs,
        )
        self.history.append(JobRecord(ticket.user, kwargs["method"], "picture"))
        return await self._execute(ticket, call, cancel, latest, on_status)

    async def _run_clip(
        self,
        ticket: Ticket,
        spec: JobSpec,
        clip: Clip,
        limit: int,
        style_image: Image.Image | None,
        on_status: StatusCallback | None,
    ) -> ClipResult:
        if ticket.finished or ticket.running:
            raise RuntimeError("a ticket runs one job only")
        latest, callback = progress_sink()
        cancel = threading.Event()
        call = functools.partial(render_clip, clip, spec, self.config, limit, style_image=style_image,
                                 callback=callback, cancel=cancel, stylize_video=self._stylize_video)  # fmt: skip
        check_clip_spec(spec, self.config)  # stylize_video: an installed style, or a painting in one pass
        self.history.append(JobRecord(ticket.user, spec.method, "clip"))
        return await self._execute(ticket, call, cancel, latest, on_status)

    async def _execute(
        self,
        ticket: Ticket,
        call: Callable[[], T],
        cancel: threading.Event,
        latest: list[str | None],
        on_status: StatusCallback | None,
    ) -> T:
        """Wait for a slot, run `call` in the pool with progress (from `latest`) and the job timeout."""
        await self._acquire(ticket, on_status)
        loop = asyncio.get_running_loop()
        self._cancels.add(cancel)
        latest[0] = "Stylising…"  # shown until the first progress record arrives
        try:
            fut = loop.run_in_executor(self._executor, call)
        except RuntimeError:  # executor shut down
            self._release()
            self._cancels.discard(cancel)
            raise Busy("The bot is shutting down; please try again in a minute.") from None
        # The slot is freed when the thread ends, not when we stop waiting for it.
        fut.add_done_callback(lambda _f: (self._release(), self._cancels.discard(cancel)))
        reporter = None
        if on_status:
            reporter = asyncio.ensure_future(self._report(on_status, lambda: latest[0]))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self.config.job_timeout)
        except asyncio.TimeoutError:
            cancel.set()  # nst_core checks it every step; the slot stays taken until the thread really ends
            await asyncio.wait({fut}, timeout=60)
            raise JobTimeout(
                f"That took over {self.config.job_timeout:.0f} s and was stopped; try a smaller `size`."
            ) from None
        except asyncio.CancelledError:
            cancel.set()
            raise
        finally:
            if reporter:
                reporter.cancel()
                with contextlib.suppress(BaseException):
                    await reporter

    async def encode(self, img: Image.Image, limit: int, *, lossy: str = "WEBP") -> Encoded:
        """Encoding a big PNG takes a while too: off the event loop (default executor, not the GPU pool)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(encode_under_limit, img, limit, lossy=lossy))

    async def close(self) -> None:
        """Stop admitting, ask running jobs to stop, and let their threads wind down."""
        self._closed = True
        for cancel in list(self._cancels):
            cancel.set()
        for ticket in list(self._waiting):
            if ticket._turn is not None and not ticket._turn.done():
                ticket._turn.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def stats(self) -> dict[str, Any]:
        return {"running": self._running, "waiting": len(self._waiting), "pending": len(self._pending)}
