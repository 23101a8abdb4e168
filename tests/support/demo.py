"""Start the real demo server in a child process, for the end-to-end tests and the load benchmark.

Why a child process and not a thread: the tests then exercise exactly `python -m demo` (argument parsing,
queue, launch options), and the load test can measure the server's own memory with psutil.
`run_load` is shared by tests/test_demo_load.py (correctness, memory bound) and bench/bench_demo_load.py (speed).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

REPO_ROOT = Path(__file__).resolve().parents[2]
STYLE = "demo_test_style"  # the random-init style that make_style_dir writes
# Settings of the server that the browser tests of every tab share (tests/conftest.py: demo_page_server)
TEST_WEBCAM_SIZE = 128  # long side of a painted webcam frame (Chromium's fake camera sends 640x480)
TEST_WEBCAM_TIME_LIMIT = 3  # seconds a webcam turn lasts
TEST_VIDEO_MAX_SECONDS = 5  # longest clip accepted


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: Mapping[str, str] | None = None, timeout: float = 180.0) -> Iterator[Server]:
    """Run `python -m demo` on 127.0.0.1 with a free port; yield once it answers HTTP; stop it afterwards."""
    port = free_port()
    child_env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **(env or {}),
    }
    fd, log_name = tempfile.mkstemp(prefix="nst-demo-", suffix=".log")
    log_path = Path(log_name)
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}/", proc, log_path)
    try:
        _wait_ready(server, timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        with contextlib.suppress(OSError):
            log_path.unlink()


def _wait_ready(server: Server, timeout: float) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"demo server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with opener.open(server.url + "config", timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"demo server did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def make_photo(path: Path, size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (40, 120, 200)) -> Path:
    """A small synthetic 'photo' (sky, ground, sun): deterministic and free of licences."""
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.rectangle([0, h * 2 // 3, w, h], fill=(60, 140, 60))
    draw.ellipse([w // 8, h // 8, w // 8 + h // 3, h // 8 + h // 3], fill=(250, 220, 80))
    img.save(path)
    return path


def make_style_dir(root: Path, *, tiny: bool = True) -> Path:
    """A random-init (tiny) TransformerNet saved through the registry: the demo must list and run it.

    Untrained, its output is near zero (a black picture); the last layer gets a gain and a warm bias so the
    result visibly depends on the photo, which makes screenshots and eyeballing meaningful.
    """
    import torch

    from nst_core.fast.transformer_net import TransformerConfig, TransformerNet
    from nst_core.styles import save_style

    torch.manual_seed(0)
    config = TransformerConfig(channels=(8, 16, 32), n_residual=1) if tiny else TransformerConfig()
    model = TransformerNet(config).eval()
    with torch.no_grad():
        model.deconv3.conv2d.weight.mul_(150.0)
        model.deconv3.conv2d.bias.copy_(torch.tensor([150.0, 120.0, 90.0]))
    out = root / "styles"
    meta = {"display_name": "Test pattern", "artist": "Random init", "title": "untrained network"}
    save_style(model, STYLE, out, meta)  # preview rendered by the model itself
    return out


def server_env(style_dir: Path, **extra: str) -> dict[str, str]:
    # the opening example off: a test's "the slider shows a result" must mean its own result
    env = {"NST_WEIGHTS_DIR": str(style_dir), "NST_DEMO_DEVICE": "cpu", "OMP_NUM_THREADS": "2",
           "NST_DEMO_FIRST_IMPRESSION": "0"}  # fmt: skip
    env.update(extra)
    return env


# -- concurrent load -------------------------------------------------------------------------------------------
def load_color(i: int) -> tuple[int, int, int]:
    """Request i's own sky colour: an answer carrying someone else's photo is then caught."""
    return (20 + (i * 37) % 200, 20 + (i * 91) % 200, 20 + (i * 53) % 200)


def load_photos(root: Path, n: int, size: int) -> list[Path]:
    return [make_photo(root / f"load{i}.png", size=(size, size * 3 // 4), color=load_color(i)) for i in range(n)]


@dataclass
class Answer:
    index: int  # which request (and so which photo) this answers
    slider: Sequence[str]  # (before, after) image paths
    png: str  # the downloadable full-size result
    seconds: float  # this request's latency (for the benchmark; tests do not look at it)


@dataclass
class LoadRun:
    answers: list[Answer]
    rss_before: int  # server RSS after the warm-up request, bytes
    rss_peak: int  # highest server RSS seen while the requests ran, bytes
    wall_s: float


def run_load(server: Server, photos: Sequence[Path], size: int, download_dir: Path, clients: int = 4) -> LoadRun:
    """Send one fast request per photo, all at once, from `clients` separate sessions; watch the server's RSS."""
    import psutil
    from gradio_client import Client, handle_file

    proc = psutil.Process(server.process.pid)
    conns = [Client(server.url, verbose=False, download_files=str(download_dir)) for _ in range(clients)]

    def ask(i: int) -> tuple[Sequence[str], str]:
        args = (handle_file(str(photos[i])), STYLE, 1.0, False, size)
        return conns[i % clients].predict(*args, api_name="/stylize")

    ask(0)  # warm-up: model load and first-call allocations are not what we bound
    rss_before = proc.memory_info().rss
    peak = [rss_before]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.1):
            try:
                peak[0] = max(peak[0], proc.memory_info().rss)
            except psutil.Error:
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    gate = threading.Barrier(len(photos))

    def one(i: int) -> Answer:
        gate.wait()
        t0 = time.perf_counter()
        slider, png = ask(i)
        return Answer(i, slider, png, time.perf_counter() - t0)

    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=len(photos)) as pool:
            answers = list(pool.map(one, range(len(photos))))
    finally:
        stop.set()
        watcher.join(2)
    return LoadRun(answers, rss_before, peak[0], time.perf_counter() - t0)


def answer_problem(answer: Answer, size: int) -> str | None:
    """What is wrong with one answer (None when right): a PNG of the asked size, made from this request's photo."""
    with Image.open(answer.slider[0]) as before, Image.open(answer.png) as full:
        if full.format != "PNG" or max(full.size) != size:
            return f"request {answer.index}: got a {full.format} of {full.size}, want a PNG with long side {size}"
        got = before.convert("RGB").getpixel((before.width - 3, 2))  # the sky, top-right (the sun is top-left)
    want = load_color(answer.index)
    if max(abs(a - b) for a, b in zip(got, want, strict=True)) > 12:
        return f"request {answer.index}: its 'before' image has sky {got}, its photo has {want} (a mixed-up answer)"
    return None
