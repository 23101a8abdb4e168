"""demo/jobs.py (worker thread -> async handler, Stop switches) and the webcam's per-visitor state, in process."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
from support import aio
from support.demo import STYLE, make_style_dir

import nst_core
from demo.config import load_config
from demo.jobs import StopSwitches, run_in_thread
from demo.video_handlers import WebcamStylist


def run(coroutine_function):
    return aio.run(coroutine_function())


def record(step: int, image: object = None) -> nst_core.Progress:
    return nst_core.Progress(step=step, total=10, image=image, unit="frame")


def collect(work, cancel: threading.Event, stop_after: int | None = None) -> list[tuple[str, object]]:
    async def main() -> list[tuple[str, object]]:
        seen = []
        events = run_in_thread(work, cancel, "test-job")
        async for kind, payload in events:
            seen.append((kind, payload))
            if stop_after is not None and len(seen) == stop_after:
                await events.aclose()  # what Gradio does when the page closes or the time limit strikes
                break
        return seen

    return run(main)


def test_progress_then_result_and_piled_up_records_keep_the_newest_picture():
    go, posted = threading.Event(), threading.Event()

    def work(callback):
        callback(record(0))
        go.wait(10)
        callback(record(1, image="first"))
        callback(record(2, image="second"))
        callback(record(3))  # newer count, no picture: the picture of record 2 must still reach the page
        posted.set()
        return "result"

    async def main():
        seen = []
        async for kind, payload in run_in_thread(work, threading.Event(), "test-job"):
            seen.append((kind, payload))
            if kind == "progress" and payload.step == 0:
                go.set()
                posted.wait(10)  # the handler is busy (blocking its loop): records 1-3 and the result pile up
        return seen

    seen = run(main)
    assert [k for k, _ in seen] == ["progress", "progress", "done"]
    assert seen[1][1].step == 3 and seen[1][1].image == "second"
    assert seen[2][1] == "result"


def test_the_work_s_error_is_raised_in_the_handler():
    def work(callback):
        raise nst_core.VideoError("your video is not a video")

    with pytest.raises(nst_core.VideoError, match="not a video"):
        collect(work, threading.Event())


def test_closing_the_handler_early_cancels_the_work():
    cancel, stopped = threading.Event(), threading.Event()

    def work(callback):
        while not cancel.wait(0.01):
            callback(record(1))
        stopped.set()
        raise nst_core.Cancelled("Stopped on request.")

    collect(work, cancel, stop_after=1)
    assert cancel.is_set()
    assert stopped.wait(10)


def test_stop_switch_armed_before_the_job_starts_reaches_it():
    switches = StopSwitches()
    switches.arm("visitor")
    switches.stop("visitor")  # pressed while the job waits in the queue
    claimed = switches.claim("visitor")
    assert claimed.is_set()
    switches.release("visitor", claimed)
    assert not switches.claim("visitor").is_set()  # the next job starts with a fresh switch
    assert not switches.claim(None).is_set()  # an API call without a page session


def test_webcam_keeps_one_stylizer_per_visitor_and_a_new_one_when_options_change(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_WEIGHTS_DIR", str(make_style_dir(tmp_path)))
    webcam = WebcamStylist(load_config({"NST_DEMO_WEBCAM_SIZE": "64"}, device="cpu"))
    alice, bob = SimpleNamespace(session_hash="alice"), SimpleNamespace(session_hash="bob")
    frame = np.full((120, 160, 3), 90, np.uint8)
    out = webcam.frame(frame, STYLE, 1.0, True, alice)
    assert out.shape == (48, 64, 3)  # shrunk to the webcam size before painting
    first = webcam._streams["alice"].stylizer
    webcam.frame(frame, STYLE, 1.0, True, alice)
    assert webcam._streams["alice"].stylizer is first
    webcam.frame(frame, STYLE, 1.0, True, bob)
    assert webcam.active() == 2 and webcam._streams["bob"].stylizer is not first
    webcam.frame(frame, STYLE, 0.5, True, alice)
    assert webcam._streams["alice"].stylizer is not first  # a new strength: a new stream, no stale frame


def test_a_visitors_style_is_loaded_outside_the_shared_lock(tmp_path, monkeypatch):
    """Loading a style for one visitor must not hold the lock every visitor's frames take (it did: the first frame
    of a new style paused everyone's stream while the model loaded)."""
    import nst_core

    monkeypatch.setenv("NST_WEIGHTS_DIR", str(make_style_dir(tmp_path)))
    webcam = WebcamStylist(load_config({"NST_DEMO_WEBCAM_SIZE": "64"}, device="cpu"))
    real, held = nst_core.FrameStylizer, []

    def made_while(*args, **kwargs):
        held.append(webcam._lock.locked())
        return real(*args, **kwargs)

    monkeypatch.setattr(nst_core, "FrameStylizer", made_while)
    frame = np.full((120, 160, 3), 90, np.uint8)
    webcam.frame(frame, STYLE, 1.0, True, SimpleNamespace(session_hash="carol"))
    webcam.frame(frame, STYLE, 1.0, True, SimpleNamespace(session_hash="carol"))
    assert held == [False]  # made once, for the first frame, with the lock free
