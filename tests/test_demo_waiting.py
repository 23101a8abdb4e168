"""The waiting line's arithmetic and this visit's pictures, without a server (the browser side is
tests/test_demo_visit_browser.py): the place and wait a visitor is told, and the history's order and cap."""

from __future__ import annotations

from demo import waiting
from demo.visit import HISTORY_SIZE, remember
from demo.waiting import Line, waiting_words
from nst_core.progress import Progress


def test_the_wait_counts_the_running_jobs_time_left_then_one_job_for_each_ahead(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(waiting.time, "monotonic", lambda: clock[0])
    line = Line(1)
    done = line.start("earlier")
    clock[0] += 60.0
    line.finish(done)  # a job took 60 s: the guess for jobs that have not started
    running = line.start("painting")
    line.report(running, Progress(10, 100, elapsed=5.0))  # 45 s left at its pace
    for visitor in ("a", "b", "painting"):  # "painting" already runs: its late click does not queue it
        line.join(visitor)
    assert line.place("a") == (1, 45.0) and line.place("b") == (2, 105.0)
    assert line.place("painting") is None
    assert waiting_words(2, 105.0) == (
        "Other paintings are being made. Yours is number 2 in line: it starts in about 2 min. **Stop** cancels it."
    )
    assert line.leave("a") and not line.leave("a")  # Stop while waiting, once
    assert line.place("b") == (1, 45.0)


def test_a_closed_page_stops_counting_and_an_unknown_pace_says_so(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(waiting.time, "monotonic", lambda: clock[0])
    line = Line(1)
    line.start("painting")  # no progress yet: no pace to go by
    line.join("closed")
    line.join("open")
    assert line.place("open") == (2, None)
    clock[0] += waiting.STALE + 1  # "closed" never asks again; "open" asks now
    assert line.place("open") == (1, None)
    assert "it starts as soon as a place is free" in waiting_words(1, None)


def test_this_visits_pictures_newest_first_at_most_the_cap():
    history: list = []
    for i in range(HISTORY_SIZE + 3):
        history, _ = remember(history, f"/tmp/{i}.png", f"style {i}")
    assert len(history) == HISTORY_SIZE
    assert history[0] == ("/tmp/14.png", "style 14") and history[-1] == ("/tmp/3.png", "style 3")
    unchanged, update = remember(history, None, "stopped before a picture")
    assert unchanged == history and update == remember([], None, "")[1]
