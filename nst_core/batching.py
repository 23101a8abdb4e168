"""Concurrent Gatys requests of one size bucket optimised together: `GatysBatcher` feeds `run_gatys_batch` (#21).

Why: on a GPU a 512 px L-BFGS step is bound by the host, so a batch of N pictures costs little more per step than
one (bench/RESULTS.md, "GPU: one H200"). On a CPU the cost grows with the pixels and batching gives nothing
(bench/bench_gatys_batch.py), so the process-wide switch NST_GATYS_BATCH (the largest batch) defaults to 1, off,
on a CPU and to 8 on CUDA.

`nst_core.stylize` hands its Gatys requests to `shared_batcher()` when the switch is on, so every front end that
runs several requests at once in one process (the demo with a Gatys concurrency above 1, the bots' pool with
several workers) batches without code of its own. A queue worker (`nst_core.worker`, `worker_rq`) runs one job
at a time, so it never batches. Requests that `run_gatys_batch` cannot take (blends, colour keeping, Adam, a
start image, pictures too thin for the loss network) and a request that found no partner within the window run
alone through `run_gatys`, as they would with the switch off, on the batcher's thread too: one Gatys run holds the
device at a time, however many requests the front end lets in. (Regions, `nst_core.regions`, are not batched.)
"""

from __future__ import annotations

import dataclasses
import functools
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, TimeoutError
from dataclasses import dataclass, field

import torch
from PIL import Image

from .device import resolve_device
from .envvars import env_number
from .errors import Cancelled, DeviceOutOfMemory, OptionsError
from .gatys import MIN_NET_SIDE, GatysOptions, plan_scales, run_gatys
from .gatys_batch import run_gatys_batch
from .images import sized_for
from .progress import ProgressCallback, check_cancel

__all__ = ["BATCH_ENV", "GatysBatcher", "batch_limit", "batchable", "close_shared_batcher", "shared_batcher", "wait"]

BATCH_ENV = "NST_GATYS_BATCH"
MAX_BATCH = 64
GPU_BATCH = 8  # the default on CUDA: the target is 8 requests of 512 px per second on one H200
WINDOW_S = 0.1  # how long the first request of a batch waits for partners (a Gatys run takes seconds)
CANCEL_POLL_S = 0.1  # how often a waiting caller looks at its cancel
ALONE = "alone"  # the key's first item for a request that runs on its own
MAX_PENDING = 256  # requests waiting for the batcher at most; beyond it `submit` refuses


def batch_limit(device: str | None = None, env: dict[str, str] | None = None) -> int:
    """NST_GATYS_BATCH, else GPU_BATCH on CUDA and 1 (off) on a CPU or MPS."""
    kind = resolve_device(device or "auto").type
    return int(env_number(BATCH_ENV, GPU_BATCH if kind == "cuda" else 1, lo=1, hi=MAX_BATCH, env=env))


def batchable(content: Image.Image, styles: Sequence[Image.Image], opts: GatysOptions) -> bool:
    """Whether `run_gatys_batch` paints this request as `run_gatys` would: resolved `opts`, no edge padding."""
    if opts.optimizer != "lbfgs" or opts.init != "content" or opts.preserve_colors or opts.style_blend:
        return False
    if not styles:
        return False
    w, h = sized_for(*content.size, opts.size)
    coarsest = plan_scales(max(w, h), opts.multiscale, opts.steps)[0][0]
    return min(w, h) * coarsest // max(w, h) >= MIN_NET_SIDE


@dataclass(eq=False)  # a request is itself: never equal to another with the same pictures
class _Request:
    content: Image.Image
    styles: list[Image.Image]
    opts: GatysOptions  # resolved
    callback: ProgressCallback | None
    cancel: threading.Event | None
    init_image: Image.Image | None = None
    future: Future = field(default_factory=Future)

    @functools.cached_property
    def key(self) -> tuple:
        """Requests with equal keys share a batch: the same options and the same painted size. One that
        `run_gatys_batch` cannot paint as `run_gatys` would has a key of its own."""
        if self.init_image is not None or not batchable(self.content, self.styles, self.opts):
            return (ALONE, id(self))
        return (tuple(sorted(dataclasses.asdict(self.opts).items())), sized_for(*self.content.size, self.opts.size))

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()


class GatysBatcher:
    """One background thread that runs the pending requests, batch after batch, up to `max_batch` a batch.

    The first request of a batch waits at most `window_s` for partners of its key; others stay queued, in order,
    for a later batch. Each request has its own progress, cancel (its future then raises `Cancelled`, the
    others go on) and error: an exception of a batch reaches every request in it."""

    def __init__(self, max_batch: int, window_s: float = WINDOW_S, max_pending: int = MAX_PENDING) -> None:
        if max_batch < 1:
            raise OptionsError(f"max_batch must be at least 1, not {max_batch}")
        self.max_batch, self.window_s, self.max_pending = max_batch, window_s, max_pending
        self._inbox: queue.Queue[_Request | None] = queue.Queue(maxsize=max_pending)
        self._held: list[_Request] = []  # taken from the inbox, waiting for a batch of their key
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nst-gatys-batcher", daemon=True)
        self._thread.start()

    def submit(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        options: GatysOptions | None = None,
        *,
        callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        init_image: Image.Image | None = None,
    ) -> Future:
        """Queue one request; its future gives the painted picture (`wait` blocks on it like `run_gatys`).
        Options are checked here, so a bad request fails alone instead of failing the batch it would have joined.
        A request the batch cannot paint as `run_gatys` would runs alone, on the batcher's thread too: one Gatys
        run on the device at a time, whatever the front end's concurrency."""
        if self._closed.is_set():
            raise RuntimeError("the Gatys batcher is closed")
        opts = (options or GatysOptions()).resolved(resolve_device((options or GatysOptions()).device))
        if not styles:
            raise OptionsError("Gatys needs at least one style image.")
        styles = [s.convert("RGB") for s in styles]
        request = _Request(content.convert("RGB"), styles, opts, callback, cancel, init_image)
        try:
            self._inbox.put_nowait(request)
        except queue.Full:
            raise OptionsError("Too many Gatys requests are waiting; please try again in a minute.") from None
        return request.future

    def close(self, timeout: float | None = None) -> None:
        """Stop taking requests, let the running batch end, and fail the ones still waiting."""
        self._closed.set()
        self._inbox.put(None)
        self._thread.join(timeout)

    # ----- the batcher's thread ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                break
            self._run(batch)
        for request in self._held + self._drain():
            _fail(request, RuntimeError("the Gatys batcher was closed before this request ran"))

    def _next_batch(self) -> list[_Request] | None:
        """The oldest request's key and up to max_batch requests of it, waiting up to window_s for more."""
        if not self._held:
            first = self._inbox.get()
            if first is None:
                return None
            self._held.append(first)
        key = self._held[0].key
        deadline = time.monotonic() + (0 if key[0] == ALONE else self.window_s)  # no partner can come
        while sum(r.key == key for r in self._held) < self.max_batch and len(self._held) < self.max_pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                request = self._inbox.get(timeout=left)
            except queue.Empty:
                break
            if request is None:
                return None
            self._held.append(request)
        batch = [r for r in self._held if r.key == key][: self.max_batch]
        taken = {id(r) for r in batch}
        self._held = [r for r in self._held if id(r) not in taken]
        return batch

    def _drain(self) -> list[_Request]:
        left = []
        while True:
            try:
                request = self._inbox.get_nowait()
            except queue.Empty:
                return left
            if request is not None:
                left.append(request)

    def _run(self, batch: list[_Request]) -> None:
        """Run one batch; every future gets its picture, Cancelled, or the batch's exception."""
        batch = [r for r in batch if not _cancelled_early(r)]
        if not batch:
            return
        try:
            results = self._paint(batch)
        except torch.OutOfMemoryError as exc:
            if len(batch) > 1:  # too many pictures at once for this device: each alone still fits, maybe
                _free_device_memory()
                for r in batch:
                    self._run([r])
                return
            err = DeviceOutOfMemory(f"The device ran out of memory for a batch of {len(batch)} Gatys requests.")
            err.__cause__ = exc
            results = [err] * len(batch)
        except BaseException as exc:  # whatever it is, every request of the batch hears of it
            results = [exc] * len(batch)
        for r, result in zip(batch, results, strict=True):
            if isinstance(result, Image.Image):
                if not r.future.done():
                    r.future.set_result(result)
            else:
                _fail(r, result if isinstance(result, BaseException) else Cancelled("Stopped on request."))

    @staticmethod
    def _paint(batch: list[_Request]) -> list[Image.Image | None]:
        if len(batch) == 1:  # no partner came: the normal path, exactly what the switch off gives
            r = batch[0]
            return [run_gatys(r.content, r.styles, r.opts, init_image=r.init_image, callback=r.callback,
                              cancel=r.cancel)]  # fmt: skip
        return run_gatys_batch(
            [r.content for r in batch], [r.styles for r in batch], batch[0].opts,
            cancels=[r.cancel for r in batch], callback=_Watch(batch), callbacks=[r.callback for r in batch],
        )  # fmt: skip


class _Watch:
    """The batch's own callback: a request whose cancel is set hears Cancelled at once, not when the batch ends."""

    def __init__(self, batch: list[_Request]) -> None:
        self.batch = batch

    def __call__(self, _progress) -> None:
        for r in self.batch:
            if r.cancelled():
                _fail(r, Cancelled("Stopped on request."))


def wait(future: Future, cancel: threading.Event | None = None) -> Image.Image:
    """The request's picture, blocking like `run_gatys`; a Stop (`cancel`) is answered within CANCEL_POLL_S,
    also while the request still waits for its batch (the batcher then drops it, or freezes it in its batch)."""
    while True:
        try:
            return future.result(timeout=CANCEL_POLL_S)
        except TimeoutError:
            check_cancel(cancel)


def _free_device_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _cancelled_early(request: _Request) -> bool:
    if request.cancelled():
        _fail(request, Cancelled("Stopped on request."))
        return True
    return False


def _fail(request: _Request, exc: BaseException) -> None:
    if not request.future.done():
        request.future.set_exception(exc)


_shared: GatysBatcher | None = None
_shared_lock = threading.Lock()


def shared_batcher() -> GatysBatcher | None:
    """The process's batcher (made on first use, NST_GATYS_BATCH a batch), or None when batching is off."""
    global _shared
    with _shared_lock:
        if _shared is None:
            limit = batch_limit()
            if limit <= 1:
                return None
            _shared = GatysBatcher(limit)
        return _shared


def close_shared_batcher() -> None:
    """Close the process's batcher; the next `shared_batcher()` reads NST_GATYS_BATCH again (tests, shutdown)."""
    global _shared
    with _shared_lock:
        batcher, _shared = _shared, None
    if batcher is not None:
        batcher.close()
