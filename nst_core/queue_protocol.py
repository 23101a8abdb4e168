"""What the front ends (`nst_core.serve`) and the GPU workers (`nst_core.worker`) agree on, written once: Redis key
names, time limits, size limits, and how a `Progress` record or an error travels as JSON.

Why a module of its own: both sides must read the same names and limits, and neither side's code (the client's
polling, the worker's RQ subclass) belongs in the other. Nothing here imports redis or rq, so the engine and its
tests never need them.

Keys (besides RQ's own `rq:*` ones; `ID` is the RQ job id, a random UUID):

| key | what | written by | lives |
|---|---|---|---|
| `nst:in:ID` | the input files' bytes (hash: `content`, `style:0`...) | front end | until answered, or the TTL |
| `nst:progress:ID` | the latest `Progress` record as JSON | worker | `PROGRESS_TTL` after its last write |
| `nst:preview:ID` | the latest intermediate picture (PNG) | worker | as the progress |
| `nst:cancel:ID` | "1": stop this job | front end | `wait_ttl` + `job_timeout` |
| `nst:out:ID` | the answer: `meta` (JSON: size... or the error), `data` | worker | `result_ttl`, or until read |
| `nst:note:ID` | pushed on each progress and on the answer: BLPOP wakes the front end | worker | as the answer |
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import errors
from .envvars import env_number
from .progress import Progress

TASK = "nst_core.tasks.run_job"  # the one function a worker runs (an allow-list, see nst_core.worker)
PREFIX = "nst"
PROGRESS_TTL = 60  # seconds a progress record outlives its last update
HEARTBEAT_SECONDS = 1.0  # a running job's worker proves it is alive this often...
HEARTBEAT_TTL = 5  # ...and is taken for dead (its job retried once) this long after the last proof
MAINTENANCE_SECONDS = 2  # how often an idle worker looks for jobs of dead workers
CANCEL_POLL_SECONDS = 0.2  # how often a running job reads its cancel key (cancel reaches it within ~0.2 s)
MAX_PREVIEW_BYTES = 4 * 1024 * 1024  # larger intermediate pictures are simply not shared
RETRIES = 1  # a job whose worker died is run once more, then answered with WorkerLost


def key(kind: str, job_id: str) -> str:
    """`nst:KIND:ID` (KIND: in, progress, preview, cancel, out)."""
    return f"{PREFIX}:{kind}:{job_id}"


@dataclass(frozen=True)
class QueueSettings:
    """Every setting of the queue, from the environment, once (front ends and workers read the same)."""

    url: str = ""  # NST_QUEUE_URL: redis://[:password@]host:port/db; "" = run jobs in-process
    name: str = "nst"  # NST_QUEUE_NAME: the RQ queue (one per pool of identical workers)
    result_ttl: int = 300  # NST_QUEUE_RESULT_TTL: seconds a finished result waits to be collected
    wait_ttl: int = 3600  # NST_QUEUE_WAIT_TTL: seconds a job may wait for a worker before it is dropped
    job_timeout: float = 600.0  # NST_QUEUE_JOB_TIMEOUT: seconds a running job may take (the worker stops it)
    max_input_mb: int = 64  # NST_QUEUE_MAX_INPUT_MB: all input files of one job together
    max_result_mb: int = 64  # NST_QUEUE_MAX_RESULT_MB: one result
    reconnect_seconds: float = 15.0  # NST_QUEUE_RECONNECT_SECONDS: how long a waiting front end rides out an outage

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> QueueSettings:
        env = os.environ if env is None else env
        url = env.get("NST_QUEUE_URL", "").strip()
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise errors.OptionsError("NST_QUEUE_URL must be a redis://, rediss:// or unix:// URL.")
        return cls(
            url=url,
            name=env.get("NST_QUEUE_NAME", "").strip() or "nst",
            result_ttl=int(env_number("NST_QUEUE_RESULT_TTL", 300, lo=10, hi=86_400, env=env)),
            wait_ttl=int(env_number("NST_QUEUE_WAIT_TTL", 3600, lo=10, hi=7 * 86_400, env=env)),
            job_timeout=float(env_number("NST_QUEUE_JOB_TIMEOUT", 600, lo=1, whole=False, env=env)),
            max_input_mb=int(env_number("NST_QUEUE_MAX_INPUT_MB", 64, lo=1, hi=500, env=env)),
            max_result_mb=int(env_number("NST_QUEUE_MAX_RESULT_MB", 64, lo=1, hi=500, env=env)),
            reconnect_seconds=float(env_number("NST_QUEUE_RECONNECT_SECONDS", 15, lo=0, whole=False, env=env)),
        )

    @property
    def redacted_url(self) -> str:
        """The URL without its password, for logs."""
        _head, sep, tail = self.url.rpartition("@")
        return f"{self.url.split('://', 1)[0]}://***@{tail}" if sep else self.url


def progress_to_json(progress: Progress, preview: int = 0) -> str:
    """A progress record without its picture (that travels as PNG in `nst:preview:ID`, numbered by `preview`)."""
    data = {f.name: getattr(progress, f.name) for f in dataclasses.fields(progress) if f.name != "image"}
    data["preview"] = preview
    return json.dumps(data)


def progress_from_json(text: str | bytes) -> tuple[Progress, int]:
    """The record and its preview number (0: none yet)."""
    data = json.loads(text)
    preview = int(data.pop("preview", 0))
    known = {f.name for f in dataclasses.fields(Progress)}
    data = {k: v for k, v in data.items() if k in known}
    if "size" in data:
        data["size"] = tuple(data["size"])
    return Progress(**data), preview


# Errors that travel back by name: only the engine's own family, whose messages are written for people.
_ERRORS: dict[str, type[errors.NSTError]] = {
    cls.__name__: cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.NSTError)
}
INTERNAL = "Sorry, something went wrong while stylising; the error was logged on the worker."


def error_to_json(exc: BaseException) -> dict[str, Any]:
    """An engine error as {"type", "message"}; anything else as a plain sentence (its details stay in the log)."""
    if isinstance(exc, errors.NSTError) and type(exc).__name__ in _ERRORS:
        return {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, errors.NSTError):
        return {"type": "NSTError", "message": str(exc)}
    return {"type": "NSTError", "message": INTERNAL}


def error_from_json(data: Mapping[str, Any]) -> errors.NSTError:
    cls = _ERRORS.get(str(data.get("type")), errors.NSTError)
    return cls(str(data.get("message") or INTERNAL))
