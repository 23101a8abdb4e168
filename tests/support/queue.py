"""A real Redis and real worker processes for the queue tests: `RedisServer` (a redis-server on a free loopback
port, restartable on the same port) and `Workers` (`python -m nst_core.worker` supervisors, their logs, the pid of
the process running a given job, so a test can kill -9 it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed (make redis, or apt-get install "
                                 "redis-server): the queue tests need a real one")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """redis-server on 127.0.0.1 without persistence: a restart forgets everything, the worst case."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


class Workers:
    """Worker supervisors on one queue, each with its log file; `stop` ends them all (and their children)."""

    def __init__(self, url: str, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()) -> None:
        self.url, self.extra = url, extra
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "NST_QUEUE_URL": url, **(env or {})}
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []
        self._dir = Path(tempfile.mkdtemp(prefix="nst-workers-"))

    def start(self, n: int = 1) -> Workers:
        for _ in range(n):
            log = self._dir / f"worker{len(self.procs)}.log"
            args = [sys.executable, "-m", "nst_core.worker", "--url", self.url, *self.extra]
            with open(log, "wb") as out:
                self.procs.append(subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT))
            self.logs.append(log)
        return self

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())

    def wait_ready(self, n: int, timeout: float = 60) -> None:
        """Until `n` workers are registered on the queue."""
        import redis
        from rq import Worker

        conn = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while Worker.count(connection=conn) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def pid_running(self, job_id: str, timeout: float = 30) -> int:
        """The pid of the worker process that is running `job_id` now."""
        import redis
        from rq import Worker

        conn = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker in Worker.all(connection=conn):
                if worker.get_current_job_id() == job_id:
                    return worker.pid
            time.sleep(0.02)
        raise RuntimeError(f"no worker is running {job_id}")

    def stop(self) -> None:
        """kill -9 each supervisor: its worker dies with it (the parent-death signal), a test needs no grace."""
        for proc in self.procs:
            proc.kill()
            proc.wait()
        self.procs.clear()


@pytest.fixture(scope="session")
def queue_weights(tmp_path_factory) -> Path:
    """The tiny random-init styles for the queue's workers and the bots that send them jobs (same files)."""
    from .bots import make_styles

    weights = tmp_path_factory.mktemp("queue-weights")
    make_styles(weights)
    return weights


@pytest.fixture(scope="session")
def redis_server():
    if REDIS is None:
        pytest.skip("redis-server is not installed (make redis, or apt-get install redis-server)")
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def queue_workers(redis_server, queue_weights):
    """Two workers for the whole session (they take seconds to start): the tiny styles, the bundled ones, and the
    tests' poisoned job allowed."""
    env = {"NST_WEIGHTS_DIR": str(queue_weights)}
    pool = Workers(redis_server.url, env, extra=("--allow-task", "tests.support.queue_tasks.crash")).start(2)
    pool.wait_ready(2)
    yield pool
    pool.stop()
