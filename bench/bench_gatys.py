"""Gatys benchmark: seconds per step, seconds to a fixed loss target, peak memory, at several sizes.

For each size it runs (a) the plain single-scale L-BFGS loop for --ref-steps and records the loss it reaches
(the target), then (b) the default run (multi-scale where the defaults say so) and reports when its full-size
objective first reaches that target. Prints a table and writes JSON.

    python bench/bench_gatys.py --sizes 256,512 --ref-steps 100 --device cpu --json bench/gatys_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nst_core.device import resolve_device  # noqa: E402
from nst_core.gatys import GatysOptions, run_gatys  # noqa: E402
from nst_core.images import load_image  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(content, style, opts: GatysOptions, device: torch.device) -> dict:
    trace: list[tuple[float, int, float, int]] = []  # (elapsed, step, total loss, scale)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def cb(p):
        trace.append((p.elapsed, p.step, p.losses.get("total", float("nan")), p.scale))

    start = time.perf_counter()
    run_gatys(content, [style], opts, callback=cb)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    return {
        "seconds": wall,
        "steps": trace[-1][1],
        "final_loss": trace[-1][2],
        "trace": trace,
        "peak_mb": _peak_mb(device),
        "scales": trace[-1][3],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512,1024", help="long sides (1024 = 1024x768 for Tubingen)")
    ap.add_argument("--ref-steps", type=int, default=100, help="single-scale L-BFGS steps that define the target")
    ap.add_argument("--steps", type=int, default=None, help="steps of the default run (default: the device's)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--loss-net", default="vgg19")
    ap.add_argument("--weights", default=str(DATA / "pretrained" / "vgg19_caffe_imagenet_conv.pth"))
    ap.add_argument("--content", default=str(DATA / "content" / "tubingen.jpg"))
    ap.add_argument("--style", default=str(DATA / "styles" / "starry_night.jpg"))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    device = resolve_device(a.device)
    content, style = load_image(a.content), load_image(a.style)
    rows = []
    for size in (int(s) for s in a.sizes.split(",")):
        common = dict(
            size=size,
            device=str(device),
            loss_net=a.loss_net,
            loss_net_weights=a.weights,
            precision=a.precision,
            preview_every=0,
        )
        ref = _run(content, style, GatysOptions(steps=a.ref_steps, multiscale=False, **common), device)
        default = _run(content, style, GatysOptions(steps=a.steps, **common), device)
        target = ref["final_loss"]
        last_scale = default["scales"]
        hit = next((t for t, _, loss, sc in default["trace"] if sc == last_scale and loss <= target), None)
        rows.append(
            {
                "size": size,
                "device": str(device),
                "precision": a.precision,
                "ref_steps": a.ref_steps,
                "ref_seconds": round(ref["seconds"], 2),
                "sec_per_step": round(ref["seconds"] / ref["steps"], 4),
                "target_loss": round(target, 4),
                "default_steps": default["steps"],
                "default_scales": default["scales"],
                "default_seconds": round(default["seconds"], 2),
                "default_final_loss": round(default["final_loss"], 4),
                "default_seconds_to_target": None if hit is None else round(hit, 2),
                "peak_mb": round(max(ref["peak_mb"], default["peak_mb"]), 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
    }
    print(f"\n{'size':>6} {'s/step':>8} {'ref s':>8} {'target':>8} {'default s':>10} {'to target':>10} {'peak MB':>8}")
    for r in rows:
        print(
            f"{r['size']:>6} {r['sec_per_step']:>8} {r['ref_seconds']:>8} {r['target_loss']:>8} "
            f"{r['default_seconds']:>10} {r['default_seconds_to_target']!s:>10} {r['peak_mb']:>8}"
        )
    if a.json:
        Path(a.json).write_text(json.dumps({"env": env, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
