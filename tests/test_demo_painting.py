"""The custom-painting tab's handlers, in process, against the real engine and the bundled Instant network: what
loads here decides what is offered (and what an API caller is refused), a failed load reaches the visitor as one
escaped sentence without paths (the operator's detail in the log), and the webcam paints with a visitor's painting.
"""

from __future__ import annotations

import logging

import gradio as gr
import numpy as np
import pytest
from support import aio
from support.demo import make_photo

from demo.availability import BEST, INSTANT, Availability, check_availability
from demo.config import DemoConfig
from demo.handlers import LOSS_NET_CHOICES, Stylist
from demo.painting_tab import painting_tab
from demo.video_handlers import WebcamStylist


def _drain(gen) -> list:
    """Every answer of an async handler, on a thread of its own: the browser tests' Playwright keeps an event loop
    in the main thread."""

    async def go() -> list:
        return [item async for item in gen]

    return aio.run(go())


def _no_progress(*args, **kwargs) -> None:
    pass


@pytest.fixture
def photo(tmp_path):
    return make_photo(tmp_path / "photo.png")


def test_only_vgg19_here_makes_it_the_default_quality(offline_hub, vgg19_path, monkeypatch, tmp_path):
    """Issue #24: the CPU default (SqueezeNet "Fast preview") failed on a server that had only VGG-19."""
    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(vgg19_path))
    available = check_availability(LOSS_NET_CHOICES)
    assert available.instant and available.loss_nets == ("vgg19",)
    assert available.reasons["squeezenet"] == "Fast preview is off: SqueezeNet is not installed on this server."
    stylist = Stylist(DemoConfig(device="cpu", gatys_loss_net="squeezenet"), tmp_path, available)
    with gr.Blocks():
        tab = painting_tab(stylist, stylist.config)
    assert tab.gatys.loss_net.value == "vgg19" and [v for _, v in tab.gatys.loss_net.choices] == ["vgg19"]
    assert "SqueezeNet is not installed" in tab.gatys.loss_net.info
    assert tab.method.value == INSTANT and tab.method.interactive is not False


def test_without_any_loss_network_best_quality_is_greyed_with_its_reason(offline_hub, tmp_path):
    available = check_availability(LOSS_NET_CHOICES)
    assert available.loss_nets == () and available.methods() == [INSTANT]
    with gr.Blocks():
        tab = painting_tab(Stylist(DemoConfig(device="cpu"), tmp_path, available), DemoConfig(device="cpu"))
    assert tab.method.value == INSTANT and tab.method.interactive is False
    assert "Best quality is off: it needs VGG-19 or SqueezeNet, and neither is on this server." in tab.method.info
    assert all(c.visible is False for c in tab.shown[BEST]) and all(c.visible for c in tab.shown[INSTANT])


def test_api_callers_are_refused_what_the_page_does_not_offer(photo, tmp_path):
    available = Availability(instant=False, loss_nets=("vgg19",), reasons={INSTANT: "Instant is off: gone."})
    stylist = Stylist(DemoConfig(device="cpu"), tmp_path, available)
    with pytest.raises(gr.Error, match=r"Instant is off: gone\."):
        _drain(stylist.stylize_arbitrary(str(photo), str(photo), progress=_no_progress))
    with pytest.raises(gr.Error, match="not available on this server"):
        _drain(stylist.stylize_gatys(str(photo), str(photo), "squeezenet", 64, 2, progress=_no_progress))


def test_a_failed_download_reaches_the_visitor_escaped_and_without_paths(offline_hub, photo, tmp_path, caplog):
    """The real engine, offline, on a server that did not check first: the page gets one sentence that keeps the
    download's own words, escaped so the toast (HTML) shows `<urlopen error ...>`; the fix goes to the log."""
    stylist = Stylist(DemoConfig(device="cpu"), tmp_path)  # everything assumed to load
    with caplog.at_level(logging.WARNING, logger="nst.demo"), pytest.raises(gr.Error) as err:
        _drain(stylist.stylize_gatys(str(photo), str(photo), "squeezenet", 64, 2, progress=_no_progress))
    message = err.value.message
    assert message.startswith("The SqueezeNet network could not be loaded on this server: the download failed (")
    assert "&lt;urlopen error" in message and "<" not in message and message.endswith("&gt;).")
    assert "/" not in message and "Fix" not in message
    assert "Fix:" in caplog.text and str(offline_hub) in caplog.text


def test_instant_reports_progress_and_answers_with_the_pair_and_png(photo, tmp_path):
    seen: list[tuple[float, str]] = []
    stylist = Stylist(DemoConfig(device="cpu"), tmp_path)
    answers = _drain(stylist.stylize_arbitrary(str(photo), str(photo), 0.8, True, 64,
                                               progress=lambda f, desc: seen.append((f, desc))))  # fmt: skip
    (before, after), png = answers[-1]
    assert before.size == after.size == (64, 43) and png.endswith(".png")
    assert seen[0] == (0.0, "Reading the painting…"), seen  # then one step per level of the cascade (3-2-1)
    assert seen[-1][0] == 1.0 and seen[-1][1].startswith("Painting… pass 3 of 3 · "), seen


def test_the_webcam_paints_with_the_visitors_painting(photo, tmp_path):
    webcam = WebcamStylist(DemoConfig(device="cpu", webcam_size=64))
    frame = np.full((48, 64, 3), 128, np.uint8)
    art = str(make_photo(tmp_path / "art.png", color=(200, 30, 30)))
    painted = webcam.frame(frame, None, 1.0, True, painting=art)
    assert painted.shape == (48, 64, 3) and painted.mean() != 128
    with pytest.raises(gr.Error, match="pick a style"):
        webcam.frame(frame, None, 1.0, True)


def test_stop_reaches_an_instant_job_too(photo, tmp_path):
    """Stop pressed while Instant waits in the queue (armed at the click): the job ends with "Stopped." at once."""
    from types import SimpleNamespace

    stylist = Stylist(DemoConfig(device="cpu"), tmp_path)
    visitor = SimpleNamespace(session_hash="visitor-1")
    stylist.arm_stop(visitor)
    stylist.stop(visitor)
    answers = _drain(stylist.stylize_arbitrary(str(photo), str(photo), progress=_no_progress, request=visitor))
    assert answers == [(gr.skip(), None)]  # nothing painted, nothing to download
    (_, after), png = _drain(stylist.stylize_arbitrary(str(photo), str(photo), size=64, progress=_no_progress,
                                                            request=visitor))[-1]  # fmt: skip
    assert after.size == (64, 43) and png  # the switch was used up: the next job runs
