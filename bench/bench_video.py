"""Video (#13): temporal stability of each stabiliser candidate, frames/s on the CPU, and one clip end to end.

1. Stability, on scenes cut from real photos (bench/video_scenes.py; true motion known):
   flicker ratio on a static scene with sensor noise (output change / input change, lower is steadier; <= 1 is
   the goal), warping error on a pan and on the pan with an object crossing it (the previous output moved by the
   TRUE flow against the current one), and ghosting (how far the output strays from the network's own frame
   where the previous frame holds no history). The network's frames are computed once per scene; each
   candidate then stabilises the same frames.
2. Frames/s through `FrameStylizer` (network + stabiliser) at 256 and 512 px, fp32 and bf16, batch 1 and 4.
3. End to end: a 10 s 480p (854x480, 24 fps) panning clip made from a photo, `stylize_video` to MP4.

    python bench/bench_video.py --threads 2 --json bench/video_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import video_scenes as vs

from nst_core.device import cpu_model
from nst_core.video.frames import FrameStylizer
from nst_core.video.run import stylize_video
from nst_core.video.temporal import StabilizerSettings, TemporalStabilizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "content"
CANDIDATES = {
    "none": StabilizerSettings(method="none"),
    "static (a=0.75)": StabilizerSettings(method="static"),
    "flow, no occlusion mask": StabilizerSettings(consistency_px=1e4, photo_tolerance=1e4),
    "flow (a=0.6)": StabilizerSettings(alpha=0.6),
    "flow (default, a=0.75)": StabilizerSettings(),
    "flow (a=0.85)": StabilizerSettings(alpha=0.85),
}


def stability(style: str, size: tuple[int, int], frames: int) -> dict:
    photo, sprite = Image.open(DATA / "tubingen.jpg"), Image.open(DATA / "lion.jpg")
    scenes = {
        "static": vs.static_noisy(photo, size, frames, sigma=3.0),
        "pan": vs.pan(photo, size, frames),
        "object": vs.moving_object(photo, sprite, size, frames),
    }
    net = FrameStylizer(style, device="cpu", precision="fp32", stabilize=False)
    raw = {k: net.batch(s.frames) for k, s in scenes.items()}
    change_in = vs.mean_change(scenes["static"].frames)
    rows = {}
    for name, settings in CANDIDATES.items():
        out = {}
        for k, s in scenes.items():
            st = TemporalStabilizer(settings)
            out[k] = [st(f, r) for f, r in zip(s.frames, raw[k], strict=True)]
        rows[name] = {
            "flicker_ratio": vs.mean_change(out["static"]) / change_in,
            "pan_warp_error": vs.warping_error(out["pan"], scenes["pan"]),
            "object_warp_error": vs.warping_error(out["object"], scenes["object"]),
            "ghosting": vs.ghosting(out["object"], raw["object"], scenes["object"]),
        }
        print(f"{style:13s} {name:26s} " + "  ".join(f"{k} {v:.3f}" for k, v in rows[name].items()), flush=True)
    return {"input_change": change_in, "candidates": rows}


def throughput(side: int, precision: str, batch: int, frames: int = 8, repeat: int = 3) -> float:
    """Frames/s of FrameStylizer (network + flow stabiliser) on a static 4:3 view at `side` px long side; the best
    of `repeat` runs (the machine is shared: the best run is the one least slowed by others)."""
    photo = Image.open(DATA / "tubingen.jpg").convert("RGB").resize((side, side * 3 // 4), Image.Resampling.LANCZOS)
    clip = vs.static_noisy(photo, photo.size, frames).frames
    s = FrameStylizer("starry_night", device="cpu", precision=precision, memory_format="auto")
    s.batch(clip[:batch])  # warm-up (weights, oneDNN kernels)
    best = float("inf")
    for _ in range(repeat):
        s.reset()
        t = time.perf_counter()
        for i in range(0, frames, batch):
            s.batch(clip[i : i + batch])
        best = min(best, time.perf_counter() - t)
    return frames / best


def end_to_end(seconds: int = 10, fps: int = 24) -> dict:
    """A 10 s 854x480 pan clip from a photo, written to MP4, then stylised with the defaults."""
    photo = Image.open(DATA / "tubingen.jpg")
    scene = vs.pan(photo, (854, 480), seconds * fps, dx=2)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "pan480.mp4", Path(tmp) / "out.mp4"
        with av.open(str(src), "w") as out:
            stream = out.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = 854, 480, "yuv420p"
            for f in scene.frames:
                out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
            out.mux(stream.encode())
        t = time.perf_counter()
        r = stylize_video(src, dst, "starry_night", device="cpu")
        took = time.perf_counter() - t
    return {"frames": r.frames, "size": [r.width, r.height], "seconds": took, "fps": r.frames / took}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--styles", default="starry_night,udnie")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--skip-e2e", action="store_true")
    p.add_argument("--skip-stability", action="store_true")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    result = {"cpu": cpu_model(), "threads": a.threads, "command": " ".join(sys.argv), "stability": {}}
    for style in [] if a.skip_stability else a.styles.split(","):
        result["stability"][style] = stability(style, (320, 240), a.frames)
    result["throughput"] = {}
    for side in (256, 512):
        for precision in ("fp32", "bf16"):
            for batch in (1, 4):
                fps = throughput(side, precision, batch)
                result["throughput"][f"{side}px {precision} batch {batch}"] = fps
                print(f"{side}px {precision} batch {batch}: {fps:.2f} frames/s", flush=True)
    if not a.skip_e2e:
        result["end_to_end_480p_10s"] = end_to_end()
        print("end to end:", result["end_to_end_480p_10s"], flush=True)
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
