"""Temporal stability per bundled style (#23 item 6): flicker on a static noisy clip, warping error and ghosting on
a moving one, each at a small and a large frame size, stabilised against the network's own frames.

Scenes (bench/video_scenes.py, cut from shared/data/content/tubingen.jpg, true motion known):
- *static*: one view, independent sensor noise (sigma 3) per frame. **Flicker** = mean |change| between
  consecutive output frames / the same for the input (1 = as steady as the input; the goal is <= 1);
- *moving*: a pan with a disc cut from lion.jpg crossing it the other way (sigma 2 noise); the motion is scaled
  with the frame (at 320 px wide: 4 px/frame pan, disc at (-10, +3) px/frame). **Warping error** = mean
  |out_t - out_(t-1) moved by the true flow| over pixels visible in both frames; **ghosting** = mean
  |stabilised - network's own frame| over pixels with no history (disoccluded, entering at the edge);
  **trail** = mean |output - output of the same pan without the disc| over the pixels the disc left in the
  last 3 frames (the raw network's value is the floor: its receptive field sees the disc nearby).

The network's frames are computed once per style, scene and size (kept in --cache, so stabiliser variants can
be compared without repainting); each stabiliser then works on the same frames.

    python bench/bench_temporal.py --json bench/temporal_cpu_1thread.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import video_scenes as vs

from nst_core import styles
from nst_core.device import cpu_model
from nst_core.video.frames import FrameStylizer
from nst_core.video.temporal import StabilizerSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "content"
SIZES = {"small": (128, 96), "large": (1280, 720)}


def scenes(size: tuple[int, int], frames: int) -> dict[str, vs.Scene]:
    photo, sprite = Image.open(DATA / "tubingen.jpg"), Image.open(DATA / "lion.jpg")
    k = size[0] / 320
    dx, velocity = max(1, round(4 * k)), (round(-10 * k), max(1, round(3 * k)))
    return {
        "static": vs.static_noisy(photo, size, frames, sigma=3.0),
        "moving": vs.moving_object(photo, sprite, size, frames, dx=dx, velocity=velocity),
        "pan": vs.pan(photo, size, frames, dx=dx),  # the same pan, noise and all, without the disc: for `trail`
    }


def raw_frames(style: str, name: str, scene: vs.Scene, size, precision: str, cache: Path | None) -> list[np.ndarray]:
    """The network's frames (not stabilised), from the cache when there."""
    path = cache / f"{style}_{name}_{size[0]}x{size[1]}_{len(scene.frames)}_{precision}.npy" if cache else None
    if path is not None and path.exists():
        return list(np.load(path))
    net = FrameStylizer(style, device="cpu", precision=precision, stabilize=False)
    raw = net.batch(scene.frames)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.stack(raw))
    return raw


def trail(moving: list[np.ndarray], empty: list[np.ndarray], scene: vs.Scene) -> float:
    """Mean |output with the disc - output of the same pan without it| over the pixels the disc left in the last
    3 frames (and does not cover now): the trace it leaves behind (0 = none; the raw network's own value is the
    floor, its receptive field sees the disc a few pixels away)."""
    discs = [np.abs(f[..., 0] - f[0, 0, 0]) > 0.5 if f is not None else None for f in scene.flows]
    errs = []
    for t in range(4, len(moving)):
        left = (discs[t - 3] | discs[t - 2] | discs[t - 1]) & ~discs[t]
        d = np.abs(moving[t].astype(np.float32) - empty[t]).mean(axis=-1)
        errs.append(float(d[left].mean()))
    return float(np.mean(errs))


def measure(style: str, size_name: str, frames: int, precision: str, settings: StabilizerSettings, cache) -> dict:
    size = SIZES[size_name]
    sc = scenes(size, frames)
    raw = {k: raw_frames(style, k, s, size, precision, cache) for k, s in sc.items()}
    change_in = vs.mean_change(sc["static"].frames)
    row: dict = {"input_change": change_in}
    for label, st_settings in (("raw", None), ("stabilised", settings)):
        if st_settings is None:
            out = raw
        else:
            net = FrameStylizer(style, device="cpu", precision=precision, stabilizer=st_settings)
            out = {}
            for k, s in sc.items():
                net.reset()
                out[k] = net.batch(s.frames)
        row[label] = {
            "flicker_ratio": vs.mean_change(out["static"]) / change_in,
            "warp_error": vs.warping_error(out["moving"], sc["moving"]),
            "ghosting": vs.ghosting(out["moving"], raw["moving"], sc["moving"]),
            "trail": trail(out["moving"], out["pan"], sc["moving"]),
        }
    r, s = row["raw"], row["stabilised"]
    print(
        f"{style:15s} {size_name:5s} flicker {r['flicker_ratio']:.2f} -> {s['flicker_ratio']:.2f}  "
        f"warp {r['warp_error']:.2f} -> {s['warp_error']:.2f}  ghost {s['ghosting']:.2f}  "
        f"trail {r['trail']:.2f} -> {s['trail']:.2f}",
        flush=True,
    )
    return row


def test_clip() -> dict:
    """Flicker ratio per style on tests/test_video.py's clip (96x64 smooth blobs, sigma 3 noise, 8 frames), the
    clip of the issue's 1.16-1.33x: raw, the output blend alone (the stabiliser before #23: denoise=0) and now."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_video import mean_change, noisy_static

    frames = noisy_static(8)
    change_in, rows = mean_change(frames), {}
    variants = {"raw": {"stabilize": False}, "before": {"stabilizer": StabilizerSettings(denoise=0)}, "now": {}}
    for style in [s.name for s in styles.list_styles()]:
        rows[style] = {
            k: mean_change(FrameStylizer(style, device="cpu", precision="fp32", **kw).batch(frames)) / change_in
            for k, kw in variants.items()
        }
        print(f"test clip {style:15s} " + "  ".join(f"{k} {v:.2f}" for k, v in rows[style].items()), flush=True)
    return {"input_change": change_in, "styles": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--styles", default="all", help="comma-separated, or 'all' (every bundled style)")
    p.add_argument("--sizes", default="small,large")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--cache", type=Path, default=None, help="folder for the network's frames (reused when there)")
    p.add_argument("--test-clip", action="store_true", help="also the flicker on tests/test_video.py's clip")
    p.add_argument("--json", type=Path)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    names = [s.name for s in styles.list_styles()] if a.styles == "all" else a.styles.split(",")
    result = {"cpu": cpu_model(), "threads": a.threads, "command": " ".join(["python", *sys.argv]), "sizes": {}}
    result["settings"] = StabilizerSettings().__dict__
    if a.test_clip:
        result["test_clip"] = test_clip()
    for size_name in filter(None, a.sizes.split(",")):
        result["sizes"][size_name] = {"frame": SIZES[size_name], "styles": {}}
        for style in names:
            row = measure(style, size_name, a.frames, a.precision, StabilizerSettings(), a.cache)
            result["sizes"][size_name]["styles"][style] = row
            if a.json:  # after every style: a long run cut short keeps what it measured
                a.json.write_text(json.dumps(result, indent=1) + "\n")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
