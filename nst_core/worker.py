"""`python -m nst_core.worker`: one process per GPU (or CPU budget) that runs stylisation jobs from the Redis queue.

Why this shape:
- **RQ's SimpleWorker** (no fork per job): the styles, loss networks and CUDA context a job loads stay warm for
  the next job, and CUDA never meets `fork()`. The price is that a job which crashes the process takes the worker
  with it, so
- **a supervisor** (this module's `main`) forks the worker as a child process and starts it again when it dies
  (a kill -9, a segfault, out of memory), with a growing pause if it keeps dying. The child dies with the
  supervisor (Linux's parent-death signal).
- **a heartbeat every second** while a job runs, with a TTL of a few seconds (RQ's default is a minute or more):
  an idle worker's maintenance finds the job of a dead worker within seconds and RQ runs it once more
  (`Retry(max=1)`); a second death answers the job with `WorkerLost`.
- **an allow-list of one function** (`queue_protocol.TASK`): whoever can write to Redis can only ask for
  stylisations, never name another importable function.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

from . import queue_protocol as qp

log = logging.getLogger("nst.worker")
RESTART_PAUSE, MAX_RESTART_PAUSE, STABLE_SECONDS = 0.5, 30.0, 60.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nst_core.worker", description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="Redis URL (default: $NST_QUEUE_URL)")
    parser.add_argument("--queue", help="queue name (default: $NST_QUEUE_NAME or nst)")
    parser.add_argument("--name", help="worker name shown in RQ (default: host and pid)")
    parser.add_argument("--warm", default="", help="comma-separated fast styles to load before the first job")
    parser.add_argument("--burst", action="store_true", help="stop when the queue is empty (batch runs, tests)")
    parser.add_argument("--allow-task", action="append", default=[], help=argparse.SUPPRESS)  # tests' crash job
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The supervisor: run the worker in a child process, again whenever it dies, until told to stop. The child is
    forked after the imports (torch's included, CUDA not yet touched), so a restart takes a moment, not seconds."""
    args = parse_args(argv)
    logging.basicConfig(level=os.environ.get("NST_WORKER_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    if args.child:
        return run_child(args)
    import torch  # noqa: F401 - loaded once here, shared by every forked child

    stop = threading.Event()
    child = [0]

    def forward(signum: int, _frame: object) -> None:
        stop.set()
        if child[0]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child[0], signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    pause = RESTART_PAUSE
    while True:
        started = time.monotonic()
        child[0] = fork_child(args)
        code = wait_child(child[0])
        child[0] = 0
        if stop.is_set() or code == 0:
            return 0 if stop.is_set() else code
        pause = RESTART_PAUSE if time.monotonic() - started > STABLE_SECONDS else min(pause * 2, MAX_RESTART_PAUSE)
        log.warning("worker process ended with %s; starting a new one in %.1f s", describe_exit(code), pause)
        if stop.wait(pause):
            return 0


def fork_child(args: argparse.Namespace) -> int:
    pid = os.fork()
    if pid:
        return pid
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # RQ installs its own (warm shut-down) in work()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    code = 1
    try:
        code = run_child(args)
    except BaseException:
        log.exception("worker process failed")
    finally:
        logging.shutdown()
        os._exit(code)


def wait_child(pid: int) -> int:
    """The child's exit code, negative for a signal (as subprocess reports it)."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 1


def describe_exit(code: int) -> str:
    return f"signal {-code} ({signal.Signals(-code).name})" if code < 0 else f"exit code {code}"


def die_with_parent() -> None:
    """Linux: SIGKILL this process when the supervisor dies, so a killed supervisor leaves no worker behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_child(args: argparse.Namespace) -> int:
    """The worker itself: connect (waiting for Redis if it is down), warm up, then take jobs until stopped."""
    die_with_parent()
    settings = qp.QueueSettings.from_env()
    url = args.url or settings.url
    if not url:
        log.error("no queue: give --url or set NST_QUEUE_URL (redis://host:6379/0)")
        return 2
    from .worker_rq import make_worker, wait_for_redis

    conn = wait_for_redis(url)
    warm(args.warm)
    worker = make_worker(conn, args.queue or settings.name, args.name, allowed=(qp.TASK, *args.allow_task))
    log.info("worker %s on %s, queue %s", worker.name, qp.QueueSettings(url=url).redacted_url, worker.queue_names())
    worker.work(burst=args.burst, logging_level=os.environ.get("NST_WORKER_RQ_LOG_LEVEL", "WARNING").upper())
    return 0


def warm(styles: str) -> None:
    """Load torch and the named fast styles once, so the first job is as fast as the next."""
    from PIL import Image

    from .api import stylize

    for name in (s.strip() for s in styles.split(",") if s.strip()):
        stylize(Image.new("RGB", (64, 64)), style=name, size=64)
        log.info("style %s loaded", name)


if __name__ == "__main__":
    sys.exit(main())
