"""The demo with NST_QUEUE_URL set (issue #20): its fast and Gatys endpoints, driven by the official gradio_client,
get their pictures from a separate `python -m nst_core.worker` process (a real redis-server, a real worker on a
queue of its own), and a job waiting for the worker tells the visitor its place instead of a full bar."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image
from support.demo import STYLE, make_photo, make_style_dir, serve, server_env
from support.queue import Workers, needs_redis

from demo.dispatch import show_progress
from nst_core.progress import Progress

pytestmark = needs_redis
SQUEEZENET = Path(__file__).resolve().parents[2] / "shared" / "data" / "pretrained" / "squeezenet1_1_imagenet.pth"


@pytest.fixture(scope="module")
def setup(redis_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-queue")
    styles = make_style_dir(root)
    env = {"NST_WEIGHTS_DIR": str(styles), "NST_QUEUE_NAME": "demo-tests"}
    if SQUEEZENET.is_file():
        env["NST_SQUEEZENET_WEIGHTS"] = str(SQUEEZENET)
    workers = Workers(redis_server.url, env).start(1)
    workers.wait_ready(1)
    try:
        with serve(server_env(styles, NST_QUEUE_URL=redis_server.url, **env)) as srv:
            yield Client(srv.url, verbose=False, download_files=str(root / "dl")), workers, make_photo(root / "p.png")
    finally:
        workers.stop()


def _open(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.copy()


def test_the_fast_endpoint_is_answered_by_the_worker(setup):
    client, workers, photo = setup
    before = workers.log_text().count("done in")
    _slider, png = client.predict(handle_file(str(photo)), STYLE, 1.0, False, 64, api_name="/stylize")
    assert max(_open(png).size) == 64
    assert workers.log_text().count("done in") == before + 1  # painted by the worker, not the page's process


@pytest.mark.skipif(not SQUEEZENET.is_file(), reason=f"needs the shared SqueezeNet weights ({SQUEEZENET})")
def test_the_gatys_endpoint_is_answered_by_the_worker(setup):
    client, workers, photo = setup
    before = workers.log_text().count("done in")
    args = (handle_file(str(photo)), handle_file(str(photo)), "squeezenet", 64, 3, None, None, None, "adam", False, 0,
            None, "")  # fmt: skip
    _slider, png = client.predict(*args, api_name="/stylize_gatys")
    assert max(_open(png).size) == 64
    assert workers.log_text().count("done in") == before + 1


def test_a_waiting_job_says_its_place_in_line():
    seen = []
    show_progress(lambda fraction, desc: seen.append((fraction, desc)), Progress(0, 0, position=3), str)
    show_progress(lambda fraction, desc: seen.append((fraction, desc)), Progress(5, 10), lambda p: "step 5/10")
    assert seen == [(0.0, "Waiting for a free worker: this picture is number 3 in line."), (0.5, "step 5/10")]
