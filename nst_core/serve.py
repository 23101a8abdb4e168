"""The front ends' side of the job queue: hand a stylisation to the GPU workers and follow it, without Redis
leaking out.

Why: with `NST_QUEUE_URL` set, the demo and the bots run their jobs on `python -m nst_core.worker` processes on
other machines instead of in their own process. They keep their own code: `JobQueue.stylize` and
`JobQueue.stylize_video` take the arguments of `nst_core.stylize` / `nst_core.stylize_video` (callback, cancel
included) and block a thread the same way, so a front end swaps the function and nothing else. Below them:

    handle = queue.submit(photo_bytes, style="udnie", size=512)   # -> JobHandle, at once
    for progress in handle.progress(): ...                        # Progress records: .position while queued, then steps
    handle.cancel()                                               # reaches the running job within ~0.2 s
    handle.result(timeout=60).image()                             # PNG bytes -> PIL; engine errors re-raised

Every failure is an `NSTError` whose message is one sentence for people: `QueueUnavailable` (Redis down past
NST_QUEUE_RECONNECT_SECONDS), `JobLost` (Redis restarted without the job), `WorkerLost` (the job's worker died
twice), `JobTimedOut`, `Cancelled`, or the engine's own error from the worker.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from PIL import Image

from . import queue_protocol as qp
from .atomic import atomic_write
from .errors import Cancelled, JobLost, JobTimedOut, NSTError, OptionsError, QueueUnavailable, WorkerLost
from .progress import Progress, ProgressCallback
from .video.run import VideoResult

UNAVAILABLE = "The job queue is not reachable right now; please try again in a minute."
LOST = "The job queue lost this job (it restarted, or the job waited too long); please send it again."
WORKER_LOST = "The worker running this job stopped twice while on it, so it was not tried again; try a smaller size."
POLL_SECONDS = 0.1  # how often a waiting front end reads its job's state (three small reads in one round trip)
CANCEL_GRACE = 3.0  # seconds to wait for the worker's own answer after a cancel
WAITING = ("queued", "started", "deferred", "scheduled", None)


@dataclass(frozen=True)
class JobResult:
    """A finished job: the result file's bytes and what the worker said about it (format, size, frames...)."""

    data: bytes
    meta: dict[str, Any]

    def image(self) -> Image.Image:
        img = Image.open(io.BytesIO(self.data))
        img.load()
        return img


class JobQueue:
    """A connection to the queue. Thread-safe: one per process, shared by every handler."""

    def __init__(self, url: str | None = None, *, settings: qp.QueueSettings | None = None) -> None:
        import redis  # the optional "queue" extra; the engine never imports it
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.settings = settings or qp.QueueSettings.from_env()
        url = url or self.settings.url
        if not url:
            raise OptionsError("No job queue: set NST_QUEUE_URL (redis://host:6379/0).")
        self._errors = (redis.ConnectionError, redis.TimeoutError)
        self.conn = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10)
        self.rq = Queue(self.settings.name, connection=self.conn, serializer=JSONSerializer)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> JobQueue | None:
        """The queue named by NST_QUEUE_URL, or None when it is unset (run jobs in-process)."""
        settings = qp.QueueSettings.from_env(env)
        return cls(settings=settings) if settings.url else None

    # ----- submitting ------------------------------------------------------------------------------------
    def submit(
        self,
        content: Any,
        style: str | None = None,
        *,
        style_images: Sequence[Any] = (),
        mask: Any = None,
        init_image: Any = None,
        timeout: float | None = None,
        **options: Any,
    ) -> JobHandle:
        """A picture job with `nst_core.stylize`'s arguments (images as bytes, paths or PIL); returns at once."""
        inputs = {"content": content, "mask": mask, "init_image": init_image}
        inputs.update({f"style:{i}": s for i, s in enumerate(style_images)})
        return self._enqueue(qp.TASK, "picture", {"style": style, **options}, inputs, timeout)

    def submit_video(
        self,
        source: Any,
        *,
        suffix: str = ".mp4",
        style: str | None = None,
        style_images: Sequence[Any] = (),
        timeout: float | None = None,
        **options: Any,
    ) -> JobHandle:
        """A video or animation job with `nst_core.stylize_video`'s options; the result is a `suffix` file."""
        if dataclasses.is_dataclass(options.get("limits")):
            options["limits"] = dataclasses.asdict(options["limits"])
        inputs = {"content": source, **{f"style:{i}": s for i, s in enumerate(style_images)}}
        return self._enqueue(qp.TASK, "video", {"style": style, "suffix": suffix, **options}, inputs, timeout)

    def _enqueue(self, task: str, kind: str, options: dict, inputs: dict[str, Any], timeout: float | None) -> JobHandle:
        from rq import Retry

        files = {name: to_bytes(src) for name, src in inputs.items() if src is not None}
        if sum(map(len, files.values())) > self.settings.max_input_mb * 1024 * 1024:
            raise OptionsError(f"The files of one job must be at most {self.settings.max_input_mb} MB together.")
        timeout = float(timeout or self.settings.job_timeout)
        job_id = uuid.uuid4().hex
        keep = int(self.settings.wait_ttl + timeout + 60)
        try:
            with self.conn.pipeline() as pipe:
                pipe.hset(qp.key("in", job_id), mapping=files)
                pipe.expire(qp.key("in", job_id), keep)
                pipe.execute()
            self.rq.enqueue(
                task, args=(kind, options, timeout), job_id=job_id, description=f"nst {kind}",
                job_timeout=int(timeout + 60), ttl=self.settings.wait_ttl, result_ttl=self.settings.result_ttl,
                failure_ttl=self.settings.result_ttl, retry=Retry(max=qp.RETRIES, enqueue_at_front=True),
            )  # fmt: skip
        except self._errors:
            raise QueueUnavailable(UNAVAILABLE) from None
        return JobHandle(self, job_id, keep)

    # ----- drop-ins for the engine's blocking calls ------------------------------------------------------
    def stylize(
        self,
        content: Any,
        style: str | None = None,
        *,
        style_images: Sequence[Any] = (),
        callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> Image.Image:
        """`nst_core.stylize` run by a worker: same arguments, same errors, blocks the calling thread."""
        handle = self.submit(content, style, style_images=style_images, **options)
        return handle.wait(callback, cancel).image()

    def stylize_video(
        self,
        source: Any,
        destination: str | os.PathLike,
        style: str | None = None,
        *,
        style_images: Sequence[Any] = (),
        callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        **options: Any,
    ) -> VideoResult:
        """`nst_core.stylize_video` run by a worker: the result file is written to `destination`."""
        suffix = Path(os.fspath(destination)).suffix or ".mp4"
        handle = self.submit_video(source, suffix=suffix, style=style, style_images=style_images, **options)
        done = handle.wait(callback, cancel)
        atomic_write(destination, done.data)
        m = done.meta
        fps = Fraction(m["fps"]) if m.get("fps") else None
        return VideoResult(m["kind"], m["frames"], m["size"][0], m["size"][1], fps, bool(m.get("audio")),
                           float(m.get("seconds", 0.0)))  # fmt: skip

    # ----- the queue as a whole --------------------------------------------------------------------------
    def length(self) -> int:
        """Jobs waiting for a worker (all front ends together)."""
        try:
            return self.rq.count
        except self._errors:
            raise QueueUnavailable(UNAVAILABLE) from None

    def workers(self) -> int:
        """Workers alive on this queue."""
        from rq import Worker

        try:
            return Worker.count(queue=self.rq)
        except self._errors:
            raise QueueUnavailable(UNAVAILABLE) from None


def to_bytes(source: Any) -> bytes:
    """An input file as it travels: bytes as they are, a PIL picture as PNG (lossless), a path or file read."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    if isinstance(source, Image.Image):
        buf = io.BytesIO()
        source.save(buf, format="PNG", compress_level=1)  # fast: it crosses a network, not a disk
        return buf.getvalue()
    if hasattr(source, "read"):
        return source.read()
    return Path(os.fspath(source)).read_bytes()


@dataclass
class Snapshot:
    """One look at a job: RQ's status, the worker's latest progress (JSON) and the place in the queue."""

    status: str | None
    progress: bytes | None
    position: int | None
    answered: bool  # the worker's answer (result or error) is in nst:out:ID

    @property
    def over(self) -> bool:
        return self.answered or self.status not in WAITING or (self.status is None and self.position is None)


class JobHandle:
    """One submitted job. Methods block the calling thread; use one handle from one thread."""

    def __init__(self, queue: JobQueue, job_id: str, keep: int) -> None:
        self.queue, self.id, self._keep = queue, job_id, keep
        self._outage: float | None = None
        self._answered = False

    def _look(self) -> Snapshot | None:
        """A snapshot, or None while Redis is unreachable (QueueUnavailable once that lasts too long)."""
        from rq.job import Job

        conn = self.queue.conn
        try:
            with conn.pipeline(transaction=False) as pipe:
                pipe.hget(Job.key_for(self.id), "status")
                pipe.get(qp.key("progress", self.id))
                pipe.lpos(self.queue.rq.key, self.id)
                pipe.exists(qp.key("out", self.id))
                status, progress, index, answered = pipe.execute()
        except self.queue._errors:
            self._outage = self._outage or time.monotonic()
            if time.monotonic() - self._outage > self.queue.settings.reconnect_seconds:
                raise QueueUnavailable(UNAVAILABLE) from None
            return None
        self._outage = None
        position = None if index is None else index + 1
        return Snapshot(status.decode() if status else None, progress, position, bool(answered))

    def position(self) -> int:
        """1 = next for a worker; 0 once a worker has it (or it is done)."""
        snap = self._look()
        return snap.position or 0 if snap else 0

    def cancel(self) -> None:
        """Stop the job: taken out of the queue if no worker has it yet, else the worker stops at its next step."""
        try:
            self.queue.conn.set(qp.key("cancel", self.id), 1, ex=self._keep)
            if self.queue.conn.lrem(self.queue.rq.key, 0, self.id):
                self.queue.conn.delete(qp.key("in", self.id))
                from rq.job import Job

                self.queue.conn.hset(Job.key_for(self.id), "status", "canceled")
        except self.queue._errors:
            pass  # the worker's time limit still holds; the caller is told Cancelled either way

    def progress(self, cancel: threading.Event | None = None, timeout: float | None = None) -> Iterator[Progress]:
        """Each new progress record until the job ends (then `result()` answers at once). While it waits for a
        worker the records have step 0 and `position` >= 1."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: tuple[Any, ...] | None = None
        previews = 0
        cancelled_at: float | None = None
        while True:
            if cancel is not None and cancel.is_set() and cancelled_at is None:
                self.cancel()
                cancelled_at = time.monotonic()
            if cancelled_at is not None and time.monotonic() - cancelled_at > CANCEL_GRACE:
                raise Cancelled("Stopped on request.")
            if deadline is not None and time.monotonic() > deadline:
                self.cancel()
                raise JobTimedOut("That took too long and was stopped; try a smaller size.")
            snap = self._look()
            if snap is not None:
                state = (snap.position, snap.progress)
                if state != last:  # the last record too, when the job ended between two looks
                    last = state
                    record, previews = self._record(snap, previews)
                    if record is not None:
                        yield record
                if snap.over:
                    return
            self._nap()

    def _nap(self) -> None:
        """Sleep until the worker says something (progress, the answer) or POLL_SECONDS pass."""
        try:
            self.queue.conn.blpop([qp.key("note", self.id)], timeout=POLL_SECONDS)
        except self.queue._errors:
            time.sleep(POLL_SECONDS)

    def _record(self, snap: Snapshot, previews: int) -> tuple[Progress | None, int]:
        if snap.position:
            return Progress(step=0, total=0, position=snap.position), previews
        if not snap.progress:
            return None, previews
        record, number = qp.progress_from_json(snap.progress)
        if number != previews:
            try:
                png = self.queue.conn.get(qp.key("preview", self.id))
                record.image = JobResult(png, {}).image() if png else None
            except self.queue._errors:
                pass
        return record, number

    def wait(
        self,
        callback: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
    ) -> JobResult:
        """The blocking call a front end's thread makes: progress to `callback`, `cancel` honoured, then the
        result (or the job's error raised)."""
        for record in self.progress(cancel, timeout):
            if callback is not None:
                callback(record)
        return self.result(timeout=0)

    def result(self, timeout: float | None = None) -> JobResult:
        """The finished job's result; waits up to `timeout` seconds (None: as long as it takes). Once only: the
        result is deleted from Redis as it is read."""
        if timeout != 0:
            for _ in self.progress(timeout=timeout):
                pass
        if self._answered:
            raise RuntimeError("a job's result is read once")
        return self._collect()

    def _collect(self) -> JobResult:
        from rq.job import Job, NoSuchJobError

        snap = None
        while snap is None:
            snap = self._look()
        self._answered = True
        try:
            if snap.answered:
                return self._answer()
            if snap.status == "canceled":
                raise Cancelled("Stopped on request.")
            if snap.status == "failed":
                raise self._failure(Job.fetch(self.id, connection=self.queue.conn, serializer=self.queue.rq.serializer))
            raise JobLost(LOST)
        except NoSuchJobError:
            raise JobLost(LOST) from None
        except self.queue._errors:
            raise QueueUnavailable(UNAVAILABLE) from None

    def _answer(self) -> JobResult:
        """The worker's answer, read once: its keys go now (RQ's own job record, JSON only, ends with result_ttl)."""
        names = [qp.key(k, self.id) for k in ("out", "progress", "preview", "note")]
        with self.queue.conn.pipeline() as pipe:
            pipe.hgetall(names[0])
            pipe.delete(*names)
            answer, _ = pipe.execute()
        meta = json.loads(answer.get(b"meta") or b"{}")
        if "error" in meta:
            raise qp.error_from_json(meta["error"])
        if b"data" not in answer:
            raise JobLost(LOST)
        return JobResult(answer[b"data"], meta)

    @staticmethod
    def _failure(job: Any) -> NSTError:
        result = job.latest_result()
        text = (result.exc_string or "") if result is not None else ""
        if "AbandonedJobError" in text or "abandoned" in text.lower():
            return WorkerLost(WORKER_LOST)
        return NSTError(qp.INTERNAL)
