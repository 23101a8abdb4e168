"""Shared fixtures: where the offline data lives, and skips that say exactly why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from support.queue import queue_weights, queue_workers, redis_server  # noqa: F401 - the queue tests' fixtures

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NST_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} absent: {path} not found (set NST_SHARED_DATA to the folder with MANIFEST.md)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED, "offline data folder")


@pytest.fixture(scope="session")
def vgg19_path() -> Path:
    return _need(SHARED / "pretrained" / "vgg19_caffe_imagenet_conv.pth", "real ImageNet VGG-19 weights")


@pytest.fixture(scope="session")
def squeezenet_path() -> Path:
    return _need(SHARED / "pretrained" / "squeezenet1_1_imagenet.pth", "real ImageNet SqueezeNet 1.1 weights")


@pytest.fixture(scope="session")
def candy_path() -> Path:
    return _need(SHARED / "reference_models" / "candy.pth", "pytorch/examples candy checkpoint")


@pytest.fixture(scope="session")
def content_dir() -> Path:
    return _need(SHARED / "content", "content photos")


@pytest.fixture(scope="session")
def styles_dir() -> Path:
    return _need(SHARED / "styles", "style paintings")


@pytest.fixture(autouse=True)
def _no_user_weight_env(monkeypatch):
    """Tests choose their weights explicitly; a developer's own NST_* variables must not leak in."""
    for var in ("NST_VGG19_WEIGHTS", "NST_VGG16_WEIGHTS", "NST_SQUEEZENET_WEIGHTS", "NST_ARBITRARY_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)


DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens on the discard port: a download fails at once, offline or not


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and a proxy that refuses every connection: no loss network on this machine, and a
    download fails at once with the real `<urlopen error ...>` (never 500 MB fetched by a test)."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, DEAD_PROXY)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "hub"


@pytest.fixture(scope="session")
def demo_page_server(tmp_path_factory):
    """The `python -m demo` that the browser tests of every tab share (test_demo_browser.py, test_demo_video.py):
    a server start costs 10-20 s on a loaded 2-core machine."""
    from support import demo as t

    squeezenet = SHARED / "pretrained" / "squeezenet1_1_imagenet.pth"
    extra = {"NST_SQUEEZENET_WEIGHTS": str(squeezenet)} if squeezenet.is_file() else {}
    root = tmp_path_factory.mktemp("demo-page")
    examples = root / "examples"  # the operator's example folder: one photo, one painting
    for sub in ("photos", "paintings"):
        (examples / sub).mkdir(parents=True)
    t.make_photo(examples / "photos" / "street.png", size=(120, 80), color=(200, 90, 40))
    t.make_photo(examples / "paintings" / "painting.png", size=(80, 100), color=(30, 60, 160))
    env = t.server_env(
        t.make_style_dir(root),
        NST_DEMO_EXAMPLES=str(examples),
        NST_DEMO_PREVIEW_EVERY="2",
        NST_DEMO_GATYS_STEPS="500",  # a Gatys run is surely still going when the Stop test presses Stop
        NST_DEMO_WEBCAM_SIZE=str(t.TEST_WEBCAM_SIZE),
        NST_DEMO_WEBCAM_TIME_LIMIT=str(t.TEST_WEBCAM_TIME_LIMIT),
        NST_DEMO_VIDEO_MAX_SECONDS=str(t.TEST_VIDEO_MAX_SECONDS),
        **extra,
    )
    with t.serve(env) as srv:
        yield srv


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright (it cannot download its own browser offline), with a fake
    camera that grants itself (Chromium's test pattern), for the browser tests of every tab."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (Python package) is not installed")
    path = os.environ.get("NST_CHROMIUM", "/usr/bin/chromium")
    if not (Path(path).is_file() or shutil.which(path)):
        pytest.skip(f"Chromium not found at {path}: run `make browser` (apt-get install chromium)")
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]  # fmt: skip
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=args)
        yield browser
        browser.close()
