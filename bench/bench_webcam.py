"""Webcam (#13 item 4): frames/s of the demo's webcam handler at a few sizes, to pick NST_DEMO_WEBCAM_SIZE.

What is timed is exactly what the server does per frame (`demo.video_handlers.WebcamStylist.frame`): a 640x480
camera frame (a photo panning 3 px a frame, so the optical-flow stabiliser has real motion) shrunk to the size,
the fast style's network, the stabiliser, with the server's default precision. Not timed: the browser's JPEG
encoding and the network round trip (Gradio sends a frame every `stream_every` = 0.1 s; the handler must keep up).

    python bench/bench_webcam.py --threads 2 --json bench/webcam_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demo.config import load_config
from demo.video_handlers import WebcamStylist
from nst_core.device import cpu_model

PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "content" / "tubingen.jpg"


class _Session:
    session_hash = "bench"


def camera_frames(n: int) -> list[np.ndarray]:
    """640x480 views sliding 3 px a frame over the photo (or a synthetic gradient without the shared data)."""
    if PHOTO.is_file():
        big = Image.open(PHOTO).convert("RGB").resize((640 + 3 * n, 480))
    else:
        x = np.linspace(0, 255, 640 + 3 * n, dtype=np.uint8)
        big = Image.fromarray(np.stack([np.tile(x, (480, 1))] * 3, axis=2))
    return [np.asarray(big.crop((3 * i, 0, 3 * i + 640, 480))) for i in range(n)]


def frames_per_second(size: int, style: str, frames: list[np.ndarray], repeats: int) -> float:
    """Best of `repeats` runs over `frames` (a fresh stream each run, first frames as warm-up)."""
    config = load_config({"NST_DEMO_WEBCAM_SIZE": str(size)}, device="cpu")
    best = 0.0
    for _ in range(repeats):
        webcam = WebcamStylist(config)
        for f in frames[:3]:
            webcam.frame(f, style, 1.0, True, _Session())
        t0 = time.perf_counter()
        for f in frames[3:]:
            webcam.frame(f, style, 1.0, True, _Session())
        best = max(best, (len(frames) - 3) / (time.perf_counter() - t0))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="192,256,320,384")
    p.add_argument("--style", default="starry_night")
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    frames = camera_frames(args.frames + 3)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        fps = frames_per_second(size, args.style, frames, args.repeats)
        rows.append({"size": size, "frame": f"{size}x{size * 3 // 4}", "fps": round(fps, 1)})
        print(f"{size}x{size * 3 // 4}: {fps:.1f} frames/s", flush=True)
    result = {
        "cpu": cpu_model(),
        "threads": args.threads,
        "precision": os.environ.get("NST_DEMO_PRECISION", "auto"),
        "style": args.style,
        "rows": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
