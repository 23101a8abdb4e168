"""The job a queue worker runs: input bytes from Redis, the engine (`stylize` or `stylize_video`), result bytes back.

Why here and not in `worker`: this is the only code that touches both a job's keys and the engine, and the worker
accepts no other function (`queue_protocol.TASK`). The job's arguments are JSON (RQ's JSON serializer: nothing is
ever unpickled); the pictures travel as the files' own bytes in `nst:in:ID` and come back as PNG (or the video's
file) in `nst:out:ID`. An engine error is an answer, not a failure: it travels back by name with its message, so
RQ never retries a job that failed on its own options. Only a dead worker makes RQ run a job again.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from PIL import Image

from . import queue_protocol as qp
from .api import stylize
from .errors import JobTimedOut, OptionsError
from .images import encode_image, load_image
from .progress import Progress
from .video.container import VideoLimits
from .video.run import stylize_video

log = logging.getLogger("nst.worker")
PROGRESS_EVERY = 0.1  # seconds between two progress writes (the last step is always written)
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".gif", ".webp")


class Watch(threading.Thread):
    """Reads the job's cancel key and keeps its time limit, beside the engine's thread: the engine only checks a
    `threading.Event`, so a cancel from any front end reaches it within CANCEL_POLL_SECONDS."""

    def __init__(self, conn: Any, job_id: str, timeout: float) -> None:
        super().__init__(name=f"watch-{job_id[:8]}", daemon=True)
        self.conn, self.key, self.deadline = conn, qp.key("cancel", job_id), time.monotonic() + timeout
        self.cancel, self.stopped, self.timed_out = threading.Event(), threading.Event(), False

    def run(self) -> None:
        while not self.stopped.wait(qp.CANCEL_POLL_SECONDS):
            if time.monotonic() > self.deadline:
                self.timed_out = True
                self.cancel.set()
            try:
                if self.conn.exists(self.key):
                    self.cancel.set()
            except Exception:  # Redis away for a moment: the job goes on, the time limit still holds
                pass


class Reporter:
    """The engine's progress callback: the record as JSON and, when it has one, its picture as PNG."""

    def __init__(self, conn: Any, job_id: str) -> None:
        self.conn, self.job_id, self.last, self.previews = conn, job_id, 0.0, 0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY and progress.step < progress.total:
            return
        self.last = now
        try:
            pipe = self.conn.pipeline(transaction=False)
            if progress.image is not None:
                png = encode_image(progress.image)
                if len(png) <= qp.MAX_PREVIEW_BYTES:
                    self.previews += 1
                    pipe.set(qp.key("preview", self.job_id), png, ex=qp.PROGRESS_TTL)
            pipe.set(qp.key("progress", self.job_id), qp.progress_to_json(progress, self.previews), ex=qp.PROGRESS_TTL)
            pipe.rpush(qp.key("note", self.job_id), 1)
            pipe.ltrim(qp.key("note", self.job_id), -1, -1)  # one wake-up is enough
            pipe.expire(qp.key("note", self.job_id), qp.PROGRESS_TTL)
            pipe.execute()
        except Exception as exc:  # a lost progress line must never stop the job
            log.warning("progress not written: %s", type(exc).__name__)


def run_job(kind: str, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """RQ's entry point on the worker: run one job, store its result, answer with a small JSON summary (or the
    engine's error). `kind` is "picture" or "video"; `options` are the engine's keyword arguments."""
    from rq import get_current_job  # only workers have rq

    job = get_current_job()
    conn, settings = job.connection, qp.QueueSettings.from_env()
    watch, started = Watch(conn, job.id, timeout), time.monotonic()
    watch.start()
    try:
        inputs = {k.decode(): v for k, v in conn.hgetall(qp.key("in", job.id)).items()}
        if "content" not in inputs:
            raise OptionsError("The job's input files were not found (they expired before a worker was free).")
        data, meta = _run(kind, options, inputs, Reporter(conn, job.id), watch.cancel)
        if len(data) > settings.max_result_mb * 1024 * 1024:
            raise OptionsError(f"The result is over the queue's {settings.max_result_mb} MB limit; ask for less.")
        summary = {"bytes": len(data), **meta}
        log.info("job %s: %s done in %.3f s (%d bytes)", job.id, kind, time.monotonic() - started, len(data))
        answer(conn, job.id, summary, data, settings.result_ttl)
        return summary
    except Exception as exc:
        error: BaseException = exc
        if watch.timed_out:
            error = JobTimedOut(f"That took over {timeout:.0f} s and was stopped; try a smaller size.")
        elif not isinstance(exc, qp.errors.NSTError):
            log.exception("job %s failed", job.id)
        summary = {"error": qp.error_to_json(error)}
        answer(conn, job.id, summary, None, settings.result_ttl)
        return summary
    finally:
        watch.stopped.set()
        conn.delete(qp.key("in", job.id), qp.key("cancel", job.id))


def refused(*_args: Any) -> dict[str, Any]:
    """What a job naming any other function gets instead (`nst_core.worker_rq`): an answer, not a run."""
    from rq import get_current_job

    job = get_current_job()
    summary = {"error": {"type": "OptionsError", "message": "This worker runs stylisation jobs only."}}
    answer(job.connection, job.id, summary, None, qp.QueueSettings.from_env().result_ttl)
    return summary


def answer(conn: Any, job_id: str, meta: dict[str, Any], data: bytes | None, ttl: int) -> None:
    """The answer in `nst:out:ID` (meta as JSON, the file's bytes) and a note that wakes the waiting front end at
    once, without waiting for RQ to book the job as finished."""
    fields: dict[str, Any] = {"meta": json.dumps(meta)}
    if data is not None:
        fields["data"] = data
    pipe = conn.pipeline()
    pipe.hset(qp.key("out", job_id), mapping=fields)
    pipe.expire(qp.key("out", job_id), ttl)
    pipe.rpush(qp.key("note", job_id), 1)
    pipe.expire(qp.key("note", job_id), ttl)
    pipe.execute()


def _run(kind: str, options: dict[str, Any], inputs: dict[str, bytes], callback: Reporter, cancel: threading.Event):
    styles = [inputs[k] for k in sorted((k for k in inputs if k.startswith("style:")), key=lambda k: int(k[6:]))]
    if kind == "picture":
        extra = {name: inputs[name] for name in ("mask", "init_image") if name in inputs}
        img = stylize(inputs["content"], style_images=styles, callback=callback, cancel=cancel, **extra, **options)
        return encode_image(img), {"format": "png", "size": list(img.size)}
    if kind == "video":
        return _run_video(options, inputs["content"], styles, callback, cancel)
    raise OptionsError(f"unknown job kind {kind!r}")


def _run_video(options: dict[str, Any], content: bytes, styles: list[bytes], callback: Reporter, cancel):
    options = dict(options)
    suffix = str(options.pop("suffix", ".mp4")).lower()
    if suffix not in VIDEO_SUFFIXES:
        raise OptionsError(f"a video result is written as one of {', '.join(VIDEO_SUFFIXES)}, not {suffix!r}")
    if options.get("limits") is not None:
        options["limits"] = VideoLimits(**options["limits"])
    paintings: list[Image.Image] = [load_image(s) for s in styles]
    with tempfile.TemporaryDirectory(prefix="nst-worker-") as tmp:
        dest = Path(tmp) / f"result{suffix}"
        done = stylize_video(content, dest, style_images=paintings, callback=callback, cancel=cancel, **options)
        fps = str(done.fps) if done.fps is not None else None
        meta = {"format": suffix.lstrip("."), "kind": done.kind, "frames": done.frames, "fps": fps,
                "size": [done.width, done.height], "audio": done.audio, "seconds": done.seconds}  # fmt: skip
        return dest.read_bytes(), meta
