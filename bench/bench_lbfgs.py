"""Host overhead of Gatys' optimiser: torch's L-BFGS against the device-resident one, side by side (issue #21).

Per size (single scale, --steps steps, fp32 and the device's auto precision): seconds per step, objective
evaluations per step, and the result's objective judged in fp32 (the parity check). 64 px is a proxy for the host
overhead, since the network costs almost nothing there. Then the default CPU run (384 px coarse-to-fine) with
auto precision against fp32. Prints a table and writes JSON.

    OMP_NUM_THREADS=2 python bench/bench_lbfgs.py --threads 2 --json bench/lbfgs_cpu.json
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
from nst_core.losses import PerceptualLoss  # noqa: E402


def _run(content, style, device: str, **kw) -> dict:
    calls = {"n": 0}
    forward = PerceptualLoss.forward

    def counted(self, *a, **k):
        calls["n"] += 1
        return forward(self, *a, **k)

    last: dict = {}
    PerceptualLoss.forward = counted
    try:
        opts = GatysOptions(loss_net_weights=str(WEIGHTS["vgg19"]), device=device, **kw)
        run_gatys(content, [style], opts)  # warm-up: kernels, the network in memory
        calls["n"] = 0
        t = time.perf_counter()
        out = run_gatys(content, [style], opts, callback=lambda p: last.update(step=p.step))
        seconds = time.perf_counter() - t
    finally:
        PerceptualLoss.forward = forward
    steps = last["step"]
    return {"s_per_step": round(seconds / steps, 4), "seconds": round(seconds, 2),
            "evals_per_step": round(calls["n"] / steps, 3),
            "objective_fp32": round(vgg_objective(out, content, style)["total"], 5)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="64,256,512")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-default-run", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    content = load_image(DATA / "content" / "tubingen.jpg")
    style = load_image(DATA / "styles" / "starry_night.jpg")
    rows = []
    for size in (int(s) for s in a.sizes.split(",")):
        for precision in ("fp32", "auto"):
            for optimizer in ("lbfgs_torch", "lbfgs"):
                r = _run(content, style, a.device, size=size, steps=a.steps, multiscale=False, optimizer=optimizer,
                         precision=precision)  # fmt: skip
                rows.append({"size": size, "precision": precision, "optimizer": optimizer, **r})
                print(rows[-1], flush=True)
    default = {}
    if not a.no_default_run:
        for precision in ("fp32", "auto"):
            t = time.perf_counter()
            run_gatys(content, [style], GatysOptions(loss_net_weights=str(WEIGHTS["vgg19"]), device=a.device,
                                                     precision=precision))  # fmt: skip
            default[precision] = round(time.perf_counter() - t, 2)
        default["auto_over_fp32"] = round(default["auto"] / default["fp32"], 3)
        print("default run", default, flush=True)
    if a.json:
        dev = resolve_device(a.device)
        report = {"command": "python bench/bench_lbfgs.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "device": cpu_model() if dev.type == "cpu" else device_label(dev), "threads": a.threads,
                  "steps": a.steps, "torch": torch.__version__, "rows": rows, "default_run_s": default}  # fmt: skip
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
