"""Jobs/s of fast-style jobs through the Redis job queue with 1 and 2 workers, and the queue's cost per job.

Starts a private redis-server on loopback and real `python -m nst_core.worker` processes (tests/support/queue.py),
then for one photo of --size px (a bundled style, warm):

- in-process: `nst_core.stylize` back to back in this process (what a front end does without NST_QUEUE_URL);
- queue, one at a time: submit, wait, collect, one job after another: latency minus the worker's own run time is
  the queue's overhead per job (encoding the input, Redis round trips, polling, PNG result);
- queue, --jobs at once, with 1 and then 2 workers: jobs/s as a front end sees it.

Each worker gets OMP_NUM_THREADS=1 (one CPU "budget" each), as does this process.

    OMP_NUM_THREADS=1 python bench/bench_queue.py --jobs 24 --size 512 --json bench/queue_cpu.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]

from support.queue import RedisServer, Workers  # noqa: E402

import nst_core  # noqa: E402
from nst_core import queue_protocol as qp  # noqa: E402
from nst_core.serve import JobQueue  # noqa: E402


def photo(size: int) -> bytes:
    """A JPEG of size x 3/4 size with structure (gradients and noise), as a phone photo would arrive."""
    rng = np.random.default_rng(0)
    h = size * 3 // 4
    y, x = np.mgrid[0:h, 0:size]
    base = np.stack([x * 255 / size, y * 255 / h, (x + y) * 127 / (size + h)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def in_process(content: bytes, style: str, size: int, n: int) -> list[float]:
    nst_core.stylize(content, style=style, size=size)  # warm
    times = []
    for _ in range(n):
        start = time.perf_counter()
        nst_core.encode_image(nst_core.stylize(content, style=style, size=size))  # a front end sends PNG too
        times.append(time.perf_counter() - start)
    return times


def one_at_a_time(queue: JobQueue, content: bytes, style: str, size: int, n: int, workers: Workers) -> dict:
    queue.stylize(content, style, size=size)  # warm the worker
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        queue.submit(content, style, size=size).result(timeout=120)
        latencies.append(time.perf_counter() - start)
    worker_runs = [float(line.split(" done in ")[1].split(" s")[0])
                   for line in workers.log_text().splitlines() if ": picture done in " in line][-n:]  # fmt: skip
    return {"latency_s": latencies, "worker_run_s": worker_runs}


def burst(queue: JobQueue, content: bytes, style: str, size: int, n: int) -> float:
    start = time.perf_counter()
    handles = [queue.submit(content, style, size=size) for _ in range(n)]
    for handle in handles:
        handle.result(timeout=600)
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=24, help="jobs per burst (default 24)")
    ap.add_argument("--serial", type=int, default=10, help="jobs one at a time, in-process and queued (default 10)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--style", default="udnie")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    content = photo(args.size)
    local = in_process(content, args.style, args.size, args.serial)
    redis = RedisServer().start()
    out: dict = {"size": args.size, "style": args.style, "jobs": args.jobs, "in_process_s": local}
    try:
        queue = JobQueue(settings=qp.QueueSettings(url=redis.url))
        pool = Workers(redis.url).start(1)
        pool.wait_ready(1)
        out.update(one_at_a_time(queue, content, args.style, args.size, args.serial, pool))
        out["jobs_per_s_1_worker"] = burst(queue, content, args.style, args.size, args.jobs)
        pool.start(1)
        pool.wait_ready(2)
        queue.stylize(content, args.style, size=args.size)  # warm the second one (the first takes it as often)
        out["jobs_per_s_2_workers"] = burst(queue, content, args.style, args.size, args.jobs)
        pool.stop()
    finally:
        redis.stop()
    out["overhead_per_job_s"] = statistics.median(out["latency_s"]) - statistics.median(out["worker_run_s"])
    out["in_process_jobs_per_s"] = 1 / statistics.median(local)
    out["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                      "omp_threads": os.environ.get("OMP_NUM_THREADS")}  # fmt: skip
    summary = {k: round(v, 4) for k, v in out.items() if isinstance(v, float)}
    summary["median_in_process_s"] = round(statistics.median(local), 4)
    summary["median_latency_s"] = round(statistics.median(out["latency_s"]), 4)
    summary["median_worker_run_s"] = round(statistics.median(out["worker_run_s"]), 4)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
