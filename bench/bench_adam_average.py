"""Adam with iterate averaging against the device L-BFGS: which reaches a given Gatys objective sooner (issue #21).

crowsonkb/style-transfer-pytorch optimises with Adam and returns an exponential average of the iterates. Adam is
one evaluation per step with no host read and no line search, which suits a GPU, so it is worth knowing where it
stands. One run per optimiser, single scale, fp32, The Starry Night on Tuebingen; every --every steps the picture
the run would return then (L-BFGS: its last accepted point; Adam: the iterate or the average), clamped to 0-1 and
8 bits as every result is, is judged in fp32 by `bench/judge.py`. Prints a table and writes JSON.

    OMP_NUM_THREADS=1 python bench/bench_adam_average.py --threads 1 --json bench/adam_average_cpu.json
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

from nst_core.device import cpu_model, device_label, resolve_device  # noqa: E402
from nst_core.gatys import GatysOptions, run_gatys  # noqa: E402
from nst_core.images import load_image  # noqa: E402

RUNS = {
    "lbfgs": {"optimizer": "lbfgs"},
    "lbfgs_torch": {"optimizer": "lbfgs_torch"},
    "adam": {"optimizer": "adam"},
    "adam_avg_0.99": {"optimizer": "adam", "average": 0.99},
    "adam_avg_0.95": {"optimizer": "adam", "average": 0.95},
}


def _trace(content, style, a, **kw) -> dict:
    pictures: dict[int, object] = {}
    opts = GatysOptions(loss_net_weights=str(WEIGHTS["vgg19"]), device=a.device, size=a.size, steps=a.steps,
                        multiscale=False, precision="fp32", preview_every=a.every, **kw)  # fmt: skip
    t = time.perf_counter()
    run_gatys(content, [style], opts, callback=lambda p: p.image is not None and pictures.setdefault(p.step, p.image))
    seconds = time.perf_counter() - t
    trace = {step: round(vgg_objective(img, content, style)["total"], 4) for step, img in sorted(pictures.items())}
    return {"s_per_step": round(seconds / a.steps, 4), "objective_by_step": trace}


def _first_at_or_below(trace: dict[int, float], target: float) -> int | None:
    return next((step for step, value in trace.items() if value <= target), None)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=25)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", default=",".join(RUNS))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    content = load_image(DATA / "content" / "tubingen.jpg")
    style = load_image(DATA / "styles" / "starry_night.jpg")
    rows = {}
    for name in a.runs.split(","):
        rows[name] = _trace(content, style, a, **RUNS[name])
        print(name, rows[name], flush=True)
    lbfgs = rows.get("lbfgs", {}).get("objective_by_step", {})
    for step in (100, a.steps):  # when does each run reach L-BFGS's objective at 100 steps and at the end?
        if step in lbfgs:
            for r in rows.values():
                r[f"steps_to_lbfgs_{step}"] = _first_at_or_below(r["objective_by_step"], lbfgs[step])
    if a.json:
        dev = resolve_device(a.device)
        report = {"command": "python bench/bench_adam_average.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "device": cpu_model() if dev.type == "cpu" else device_label(dev), "threads": a.threads,
                  "size": a.size, "steps": a.steps, "torch": torch.__version__, "runs": rows}  # fmt: skip
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
