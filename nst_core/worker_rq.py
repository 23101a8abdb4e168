"""The RQ side of a worker: a SimpleWorker with a short heartbeat, frequent dead-worker checks and an allow-list.

Kept apart from `worker` (the process and its supervisor) so that the one place that leans on RQ's internals
(`maintain_heartbeats`, `get_heartbeat_ttl`, `execute_job`) is small and easy to check against a new RQ release.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.serializers import JSONSerializer

from . import queue_protocol as qp

log = logging.getLogger("nst.worker")


class NSTWorker(SimpleWorker):
    """Runs jobs in its own process (warm caches), proves it is alive every HEARTBEAT_SECONDS while a job runs, and
    refuses any job whose function is not allowed."""

    allowed: frozenset[str] = frozenset({qp.TASK})

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return qp.HEARTBEAT_TTL

    def execute_job(self, job: Job, queue: Queue) -> None:
        if job.func_name not in self.allowed:  # never import a function a Redis writer named
            log.error("refused job %s: %s is not an nst task", job.id, job.func_name)
            job.func_name = "nst_core.tasks.refused"
            job.args, job.kwargs = (), {}
        execution = self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), name="heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
        self.set_state("idle")

    def _beat(self, job: Job, execution: Any, stop: threading.Event) -> None:
        while not stop.wait(qp.HEARTBEAT_SECONDS):
            try:
                self.maintain_heartbeats(job, execution)
            except redis.RedisError as exc:  # the main thread meets the outage too and deals with it
                log.warning("heartbeat not sent: %s", type(exc).__name__)


def make_worker(conn: redis.Redis, queue: str, name: str | None, allowed: Iterable[str]) -> NSTWorker:
    worker = NSTWorker(
        [Queue(queue, connection=conn, serializer=JSONSerializer)],
        name=name,
        connection=conn,
        serializer=JSONSerializer,
        maintenance_interval=qp.MAINTENANCE_SECONDS,
        worker_ttl=17,  # idle: a blocking dequeue of 2 s (RQ: worker_ttl - 15), then maintenance
        log_job_description=False,  # the log says which job, never what was in it
    )
    worker.allowed = frozenset(allowed)
    return worker


def wait_for_redis(url: str) -> redis.Redis:
    """A connection to `url`, waiting (with a growing pause) while Redis is down rather than dying in a loop."""
    pause = 0.5
    while True:
        conn = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=10)
        try:
            conn.ping()
            return conn
        except redis.ConnectionError:
            log.warning("Redis is not reachable; trying again in %.0f s", pause)
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
