"""The demo's Video and Webcam tabs, end to end: a real `python -m demo`, its API through gradio_client and its page
in headless Chromium with a fake camera (--use-fake-device-for-media-stream). The clips are made here, tiny
(8 frames of 64x48, a 3-frame GIF), and the style is the untrained test network, so this needs no bundled weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from support.demo import STYLE
from support.demo import TEST_VIDEO_MAX_SECONDS as MAX_SECONDS
from support.demo import TEST_WEBCAM_SIZE as WEBCAM_SIZE

ARTIFACTS = Path(os.environ.get("NST_ARTIFACTS_DIR", Path(__file__).resolve().parents[1] / "artifacts"))


def moving_bar(i: int, w: int, h: int) -> np.ndarray:
    f = np.zeros((h, w, 3), np.uint8)
    f[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    f[:, (i * 7) % w : (i * 7) % w + 6, 1:] = 255
    return f


def make_clip(path: Path, frames: int = 8, size: tuple[int, int] = (64, 48), fps: int = 8) -> Path:
    """An H.264 MP4 of a bar moving across a gradient, `frames` long."""
    w, h = size
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(moving_bar(i, w, h), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def make_gif(path: Path, frames: int = 3) -> Path:
    """A bar moving over a gradient. (Frames that come out identical would be merged by the GIF writer, durations
    summed: same playback, fewer frames; so each frame here differs in content.)"""
    pics = [Image.fromarray(moving_bar(i, 48, 32)) for i in range(frames)]
    pics[0].save(path, save_all=True, append_images=pics[1:], duration=[100, 150, 200][:frames], loop=0)
    return path


def count_frames(path: str) -> tuple[int, tuple[int, int]]:
    with av.open(path) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return len(frames), (frames[0].shape[1], frames[0].shape[0])


@pytest.fixture(scope="module")
def server(demo_page_server):
    return demo_page_server  # shared with test_demo_browser.py; its settings are in tests/conftest.py


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    from gradio_client import Client

    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def stylize(client, path: Path, size: int = 64):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), STYLE, 1.0, True, size, api_name="/stylize_video")


def test_api_video_keeps_its_frames_and_size(client, tmp_path):
    last, out = stylize(client, make_clip(tmp_path / "clip.mp4"))
    assert Path(out).suffix == ".mp4"
    assert count_frames(out) == (8, (64, 48))
    with Image.open(last) as frame:  # the documented first output: the last painted frame, not an update
        assert frame.size == (64, 48)


def test_api_video_with_the_visitors_own_painting(client, tmp_path):
    """Instant (the bundled any-painting network) instead of a fast style: same frames, same size, painted."""
    from gradio_client import handle_file

    painting = Image.new("RGB", (60, 80), (220, 40, 40))
    painting.paste((30, 30, 200), (0, 0, 30, 40))
    painting.save(tmp_path / "painting.png")
    clip = make_clip(tmp_path / "clip.mp4")
    _, out = client.predict(handle_file(str(clip)), None, 1.0, True, 64, handle_file(str(tmp_path / "painting.png")),
                            api_name="/stylize_video")  # fmt: skip
    assert count_frames(out) == (8, (64, 48))
    with av.open(out) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    assert abs(first - moving_bar(0, 64, 48)).mean() > 10, "the frames should be painted, not the clip as it was"


def test_api_animated_gif_comes_back_as_a_gif_with_its_frames(client, tmp_path):
    preview, out = stylize(client, make_gif(tmp_path / "anim.gif"), size=64)
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3 and gif.size == (64, 43)
    assert Path(preview).suffix == ".gif"  # the page's preview plays the animation itself


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("holiday.mp4", lambda p: p.write_text("definitely not a video\n" * 40), "your video is not a video"),
        ("long.mp4", lambda p: make_clip(p, frames=8, fps=1), f"over the limit of {MAX_SECONDS} s"),
    ],
    ids=["text-named-mp4", "too-long"],
)
def test_api_bad_upload_gets_one_friendly_sentence(client, tmp_path, name, make, words):
    from gradio_client.exceptions import AppError

    path = tmp_path / name
    make(path)
    with pytest.raises(AppError) as err:
        stylize(client, path)
    message = str(err.value)
    assert words in message
    assert "Traceback" not in message and "/tmp" not in message and name not in message


# -- the page (Chromium with a fake camera: tests/conftest.py) ---------------------------------------------------
@pytest.fixture(scope="module")
def browser(chromium):
    return chromium


def test_page_video_tab_paints_a_clip_with_player_and_download(browser, server, tmp_path):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Video", exact=True).click()
        page.locator("#video-in input[type=file]").set_input_files(str(make_clip(tmp_path / "walk.mp4")))
        page.locator("#video-in", has_text="walk.mp4").wait_for(timeout=120_000)  # slow on a loaded machine
        page.locator("#video-run").click()
        page.locator("#video-out video").wait_for(timeout=120_000)  # the player appears with the result
        src = page.locator("#video-out video").get_attribute("src") or ""
        assert src.endswith(".mp4"), src
        link = page.locator("#video-file a[href]").first
        link.wait_for(timeout=30_000)
        assert (link.get_attribute("href") or "").endswith(".mp4")
        assert not page.locator(".toast-body.error").count(), "an error toast appeared"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo_browser_video.png"), full_page=True)
    finally:
        page.close()


# Every frame the fake camera sends is 640x480; a painted frame is WEBCAM_SIZE wide. Frames seen are collected in
# the page (the <img> src changes with every one), so none is missed between two polls.
NEW_PAINTED_FRAMES = """n => {
    window.nstSeen = window.nstSeen || new Set();
    for (const i of document.querySelectorAll('#webcam-out img'))
        if (i.complete && i.naturalWidth === WIDTH && i.naturalHeight === HEIGHT) window.nstSeen.add(i.src);
    return window.nstSeen.size >= n;
}""".replace("WIDTH", str(WEBCAM_SIZE)).replace("HEIGHT", str(WEBCAM_SIZE * 3 // 4))


def test_page_webcam_streams_painted_frames_and_a_turn_ends_at_the_time_limit(browser, server):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.get_by_role("tab", name="Webcam", exact=True).click()
        page.get_by_text("Click to Access Webcam").click()
        record = page.locator("#webcam-in button", has_text="Record")
        record.click()
        page.locator("#webcam-in button", has_text="Stop").wait_for(timeout=60_000)  # streaming
        page.wait_for_function(NEW_PAINTED_FRAMES, arg=3, timeout=60_000, polling=50)
        # the turn ends after TEST_WEBCAM_TIME_LIMIT s: the stream goes back to the queue ("Waiting"), letting others in
        page.locator("#webcam-in button", has_text="Waiting").wait_for(timeout=60_000)
        assert not page.locator(".toast-body.error").count(), "an error toast appeared"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo_browser_webcam.png"), full_page=True)
    finally:
        page.close()
