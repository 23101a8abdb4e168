"""`nst_core.progress.status_line`, the one formatter of a job's progress that the demo's tabs and the bots
share, and the words each front end builds on it (the visitor-facing texts tests elsewhere also check)."""

from __future__ import annotations

from nst_core.progress import ETA_AFTER_STEPS, Progress, status_line


def test_status_line_adds_the_pass_the_clock_and_the_time_left():
    p = Progress(step=60, total=150, elapsed=40.0, scale=1, scales=2)  # 40 s for 60 steps: 60 s for 90 more
    assert status_line(p, "Doing") == "Doing (coarse-to-fine pass 1 of 2) · 40 s, about 1 min left"
    assert status_line(p, "Doing", clock=False) == "Doing (coarse-to-fine pass 1 of 2), about 1 min left"
    assert status_line(p, "Doing", time_left=False) == "Doing (coarse-to-fine pass 1 of 2) · 40 s"


def test_no_time_left_before_there_is_a_pace_or_when_it_is_too_short():
    early = Progress(step=ETA_AFTER_STEPS - 1, total=100, elapsed=1.0)  # warm-up steps: no promise yet
    assert status_line(early, "Doing") == "Doing · 1 s"
    almost = Progress(step=9, total=10, elapsed=9.0)  # 1 s left
    assert status_line(almost, "Doing", min_eta=5) == "Doing · 9 s"
    assert status_line(almost, "Doing") == "Doing · 9 s, about 1 s left"


def test_each_front_end_words_its_own_head():
    from bots.messages import progress_text
    from demo.handlers import _describe_instant
    from demo.video_handlers import describe

    frames = Progress(step=48, total=240, elapsed=12.0, unit="frame")
    assert describe(frames) == "Frame 48 of 240 · 4.0 frames/s · 12 s, about 48 s left"
    assert progress_text(frames) == "Stylising… frame 48 of 240, about 48 s left"
    assert _describe_instant(Progress(step=3, total=4, elapsed=0.2)) == "Painting… pass 3 of 4 · 0 s"
    assert progress_text(Progress(step=0, total=10, position=2)) == "You are number 2 in the queue…"
