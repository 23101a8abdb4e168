"""CPU precision: the default Gatys run and fast inference, float32 against the device profile's `auto`.

The Gatys objective of each result is judged in float32 under the Caffe VGG-19 (`nst_core.judge.objective`), so a
faster precision only counts if it reaches the same loss at equal steps (issue #11: at most 0.6x the time, the
objective within 3%).

    OMP_NUM_THREADS=1 python bench/bench_precision.py --threads 1 --json bench/precision_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from judge import DATA, WEIGHTS, vgg_objective  # noqa: E402

import nst_core  # noqa: E402
from nst_core.device import device_label, make_profile  # noqa: E402
from nst_core.images import load_image  # noqa: E402


def gatys(photo, painting, precision: str) -> dict:
    t = time.perf_counter()
    out = nst_core.stylize(
        photo,
        style_images=[painting],
        precision=precision,
        device="cpu",
        loss_net_weights=str(WEIGHTS["vgg19"]),
        preview_every=0,
    )
    secs = time.perf_counter() - t
    return {"seconds": round(secs, 1), **{k: round(v, 4) for k, v in vgg_objective(out, photo, painting).items()}}


def fast(photo, precision: str, size: int, repeat: int = 3) -> float:
    nst_core.stylize(photo, style="starry_night", size=size, precision=precision)  # warm-up, model load
    t = time.perf_counter()
    for _ in range(repeat):
        nst_core.stylize(photo, style="starry_night", size=size, precision=precision, stroke_scale=1)
    return round((time.perf_counter() - t) / repeat, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    photo, painting = load_image(DATA / "content" / "tubingen.jpg"), load_image(DATA / "styles" / "starry_night.jpg")
    auto = make_profile("cpu").describe()
    result = {"device": device_label(torch.device("cpu")), "auto_profile": auto, "gatys": {}, "fast_seconds": {}}
    for precision in ("fp32", "auto"):
        result["gatys"][precision] = g = gatys(photo, painting, precision)
        print(f"gatys default run, {precision}: {g['seconds']} s, objective {g['total']}", flush=True)
        result["fast_seconds"][precision] = {s: fast(photo, precision, s) for s in (512, 1024)}
        print(f"fast starry_night, {precision}: {result['fast_seconds'][precision]}", flush=True)
    f32, au = result["gatys"]["fp32"], result["gatys"]["auto"]
    result["gatys_time_ratio"] = round(au["seconds"] / f32["seconds"], 3)
    result["gatys_objective_change"] = round(au["total"] / f32["total"] - 1, 4)
    print(f"auto/fp32: time {result['gatys_time_ratio']}, objective {result['gatys_objective_change']:+.2%}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
