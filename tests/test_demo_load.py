"""Bounded load test on loopback: many concurrent fast requests through gradio_client against one server.

Every request carries a photo of its own colour, so a mixed-up answer (someone else's picture) is caught; all
must come back (none lost to the queue), and the server's memory must stay bounded. Prints the throughput.
NST_DEMO_LOAD_N (default 24), NST_DEMO_LOAD_SIZE (default 128 px) and NST_DEMO_LOAD_FULL_NET=1 (the real
TransformerNet size instead of a tiny one) scale it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from demo.testing import STYLE, make_photo, make_style_dir, serve, server_env

psutil = pytest.importorskip("psutil")
from gradio_client import Client, handle_file  # noqa: E402

N = int(os.environ.get("NST_DEMO_LOAD_N", "24"))
SIZE = int(os.environ.get("NST_DEMO_LOAD_SIZE", "128"))
FULL_NET = os.environ.get("NST_DEMO_LOAD_FULL_NET", "") == "1"
CLIENTS = 4  # "visitors", each with its own connection/session, sharing the N requests
MAX_RSS_GROWTH = 1.5 * 2**30
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("NST_ARTIFACTS_DIR", REPO / "artifacts"))


def _color(i: int) -> tuple[int, int, int]:
    return (20 + (i * 37) % 200, 20 + (i * 91) % 200, 20 + (i * 53) % 200)


def test_concurrent_fast_requests(tmp_path):
    assert N >= 20
    photos = [make_photo(tmp_path / f"p{i}.png", size=(SIZE, SIZE * 3 // 4), color=_color(i)) for i in range(N)]
    env = server_env(make_style_dir(tmp_path, tiny=not FULL_NET), NST_DEMO_MAX_QUEUE=str(max(64, 2 * N)))
    with serve(env) as server:
        proc = psutil.Process(server.process.pid)
        dl = tmp_path / "downloads"
        clients = [Client(server.url, verbose=False, download_files=str(dl)) for _ in range(CLIENTS)]
        # Warm-up: model load and first-call allocations are not what we bound.
        clients[0].predict(handle_file(str(photos[0])), STYLE, 1.0, False, SIZE, api_name="/stylize")
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
        start_gate = threading.Barrier(N)

        def one(i: int):
            start_gate.wait()
            t0 = time.perf_counter()
            slider, png = clients[i % CLIENTS].predict(
                handle_file(str(photos[i])), STYLE, 1.0, False, SIZE, api_name="/stylize"
            )
            return i, slider, png, time.perf_counter() - t0

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=N) as pool:
            results = list(pool.map(one, range(N)))
        wall = time.perf_counter() - t0
        stop.set()
        watcher.join(2)
        server_log = server.log_tail()

    assert len(results) == N, "requests were lost"
    pngs = set()
    for i, slider, png, _ in results:
        with Image.open(slider[0]) as before, Image.open(png) as full:
            assert full.format == "PNG" and max(full.size) == SIZE
            # the 'before' image is this request's photo: same sky colour (top-right corner)
            got = before.convert("RGB").getpixel((before.width - 3, 2))
            want = _color(i)
            assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 12, (i, got, want)
        pngs.add(png)
    assert len(pngs) == N, "two requests were answered with the same file"

    growth = peak[0] - rss_before
    latencies = sorted(r[3] for r in results)
    report = {
        "requests": N,
        "clients": CLIENTS,
        "size_px": SIZE,
        "net": "full TransformerNet" if FULL_NET else "tiny TransformerNet",
        "wall_s": round(wall, 2),
        "throughput_rps": round(N / wall, 2),
        "latency_p50_s": round(latencies[N // 2], 2),
        "latency_max_s": round(latencies[-1], 2),
        "rss_before_mb": round(rss_before / 2**20),
        "rss_peak_mb": round(peak[0] / 2**20),
        "cpu_count": os.cpu_count(),
    }
    print("\nDEMO LOAD:", json.dumps(report))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "demo_load.json").write_text(json.dumps(report, indent=2) + "\n")
    assert growth < MAX_RSS_GROWTH, f"server RSS grew by {growth / 2**20:.0f} MB\n{server_log}"
