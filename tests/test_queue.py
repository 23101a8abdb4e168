"""The job queue end to end: a real redis-server on a free loopback port, real `python -m nst_core.worker`
processes, `nst_core.serve` as a front end uses it. Small fast-style jobs (tiny pictures, short GIFs) keep it quick.
Covers: a result and its progress, the engine's errors, cancel within a second, kill -9 of the worker mid-job,
a poisoned job, what Redis keeps (JSON only, TTLs, deleted once read), and Redis going away and coming back."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import time
import zlib

import pytest
from PIL import Image
from support.bots import png_bytes
from support.queue import needs_redis

import nst_core
from nst_core import queue_protocol as qp
from nst_core.errors import Cancelled, QueueUnavailable, StyleNotFoundError, WorkerLost

pytestmark = needs_redis
STYLE = "udnie"  # a bundled style: about 20 ms a frame at 128 px on one core, so a GIF job lasts long enough


def gif(frames: int, w: int = 128, h: int = 96) -> bytes:
    """An animation whose frames all differ (identical ones would be merged into one)."""
    pics = [Image.new("RGB", (w, h), ((i * 7) % 256, (i * 13) % 256, 90)) for i in range(frames)]
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=40, loop=0)
    return buf.getvalue()


@pytest.fixture
def workers(queue_workers):
    return queue_workers


@pytest.fixture
def queue(redis_server, workers):
    from nst_core.serve import JobQueue

    settings = qp.QueueSettings(url=redis_server.url, job_timeout=60, reconnect_seconds=2)
    return JobQueue(settings=settings)


def test_a_picture_and_a_gif_come_back_with_progress_and_eta(queue):
    img = queue.stylize(png_bytes(96, 64), STYLE, size=64)
    assert img.size == (64, 43)
    handle = queue.submit_video(gif(40), suffix=".gif", style=STYLE)
    records = list(handle.progress())
    done = handle.result()
    running = [r for r in records if r.position == 0]
    assert running and running[-1].step == running[-1].total == 40 and running[-1].unit == "frame"
    assert any(r.eta is not None and r.eta > 0 for r in running)  # the worker's pace, so the page can say "about"
    assert [r.step for r in running] == sorted(r.step for r in running)
    assert done.meta["frames"] == 40 and done.meta["format"] == "gif" and done.data[:6] == b"GIF89a"
    with pytest.raises(RuntimeError):
        handle.result()  # answered once


def test_engine_errors_travel_back_as_themselves(queue):
    with pytest.raises(StyleNotFoundError, match="Unknown style 'no_such_style'"):
        queue.stylize(png_bytes(), "no_such_style", size=64)
    with pytest.raises(nst_core.ImageError):
        queue.stylize(b"not a picture at all", STYLE, size=64)


def test_redis_holds_json_and_bytes_only_and_nothing_after_collection(queue):
    from rq.job import Job

    handle = queue.submit(png_bytes(), STYLE, size=64)
    raw = queue.conn.hget(Job.key_for(handle.id), "data")
    args = json.loads(zlib.decompress(raw))  # RQ's JSON serializer: nothing here is ever unpickled
    assert args[0] == qp.TASK and args[2] == ["picture", {"style": STYLE, "size": 64}, 60.0]
    while queue.conn.hget(Job.key_for(handle.id), "status") != b"finished":
        time.sleep(0.02)
    assert 0 < queue.conn.ttl(qp.key("out", handle.id)) <= queue.settings.result_ttl
    assert not queue.conn.exists(qp.key("in", handle.id))  # inputs go as soon as the job is answered
    handle.result(timeout=10)
    assert not queue.conn.keys(f"nst:*:{handle.id}")  # the answer goes as it is read
    assert 0 < queue.conn.ttl(Job.key_for(handle.id)) <= queue.settings.result_ttl  # RQ's record: JSON, short-lived


def test_cancel_reaches_the_running_job_within_a_second(queue):
    handle = queue.submit_video(gif(400), suffix=".gif", style=STYLE)
    for record in handle.progress():
        if record.step >= 3:
            break
    start = time.monotonic()
    handle.cancel()
    with pytest.raises(Cancelled):
        handle.result(timeout=10)
    assert time.monotonic() - start < 1.0
    queued = queue.submit_video(gif(400), suffix=".gif", style=STYLE)
    queued.cancel()  # still queued, or just taken: it ends either way, at once
    with pytest.raises(Cancelled):
        queued.result(timeout=5)


def test_a_worker_killed_mid_job_hands_it_to_another_once(queue, workers):
    handle = queue.submit_video(gif(120), suffix=".gif", style=STYLE)
    for record in handle.progress():
        if record.step >= 5:
            break
    os.kill(workers.pid_running(handle.id), signal.SIGKILL)
    done = handle.result(timeout=60)
    assert done.meta["frames"] == 120
    assert workers.log_text().count(f"job {handle.id}: video done") == 1  # run to the end once, answered once
    assert "ended with signal 9 (SIGKILL); starting a new one" in workers.log_text()  # the supervisor restarted it


def test_a_poisoned_job_is_answered_and_the_next_jobs_are_served(queue, workers):
    poison = queue._enqueue("tests.support.queue_tasks.crash", "picture", {}, {"content": b"x"}, 30)
    after = [queue.submit(png_bytes(64 + i, 40), STYLE, size=64 + i) for i in range(4)]
    with pytest.raises(WorkerLost, match="stopped twice"):
        poison.result(timeout=60)
    assert [h.result(timeout=60).image().width for h in after] == [64, 65, 66, 67]
    workers.wait_ready(2)
    assert queue.stylize(png_bytes(), STYLE, size=64).size == (64, 43)  # the pool is whole again


def test_refused_functions_never_run(queue):
    handle = queue._enqueue("os.system", "picture", {}, {"content": b"x"}, 30)  # what a Redis writer might try
    with pytest.raises(nst_core.OptionsError, match="stylisation jobs only"):
        handle.result(timeout=30)


def test_redis_down_is_one_sentence_and_the_queue_recovers(queue, redis_server):
    running = queue.submit_video(gif(300), suffix=".gif", style=STYLE)
    next(iter(running.progress()))
    redis_server.stop()
    with pytest.raises(QueueUnavailable) as down:
        queue.submit(png_bytes(), STYLE, size=64)
    assert str(down.value) == "The job queue is not reachable right now; please try again in a minute."
    with pytest.raises(QueueUnavailable):
        running.result(timeout=30)  # rode out the outage for reconnect_seconds, then said so
    redis_server.start()  # an empty Redis, as after a restart without persistence
    deadline = time.monotonic() + 40
    while True:
        try:
            assert queue.stylize(png_bytes(), STYLE, size=64, timeout=20).size == (64, 43)
            break
        except QueueUnavailable:
            assert time.monotonic() < deadline, "the queue did not come back"
            time.sleep(0.5)


def test_settings_come_from_the_environment_once():
    env = {"NST_QUEUE_URL": "redis://:hunter2@gpu-box:6379/1", "NST_QUEUE_RESULT_TTL": "60"}
    settings = qp.QueueSettings.from_env(env)
    assert settings.result_ttl == 60 and "hunter2" not in settings.redacted_url
    assert dataclasses.replace(settings, url="").url == ""
    with pytest.raises(nst_core.OptionsError, match="NST_QUEUE_URL"):
        qp.QueueSettings.from_env({"NST_QUEUE_URL": "http://example"})
