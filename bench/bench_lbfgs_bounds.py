"""What the box costs and gains: the default Gatys run with the L-BFGS kept inside 0-1 against the free one (#21).

Every result is handed back as a 0-1, 8-bit picture. A free L-BFGS walks a few percent of the pixels out of that
range, so the picture delivered is not the point it optimised; the engine's projected steps keep every point it
evaluates inside. Per photo (The Starry Night, the default CPU run: 384 px coarse to fine), both variants are run
and the delivered picture is judged in fp32 by `bench/judge.py`; the free variant is the engine with the bounds
switched off (what the engine did before). Prints a table and writes JSON.

    OMP_NUM_THREADS=1 python bench/bench_lbfgs_bounds.py --threads 1 --json bench/lbfgs_bounds_cpu.json
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

import nst_core.gatys as gatys  # noqa: E402
from nst_core.device import cpu_model  # noqa: E402
from nst_core.images import load_image, pil_to_tensor  # noqa: E402
from nst_core.lbfgs import DeviceLBFGS  # noqa: E402


class _Free(DeviceLBFGS):
    """The engine's optimiser with the box switched off."""

    def __init__(self, x, *args, bounds=None, **kw) -> None:
        super().__init__(x, *args, **kw)


def _run(photo, painting, free: bool, precision: str, save: Path | None = None) -> dict:
    gatys.DeviceLBFGS = _Free if free else DeviceLBFGS
    try:
        opts = gatys.GatysOptions(loss_net_weights=str(WEIGHTS["vgg19"]), device="cpu", precision=precision)
        t = time.perf_counter()
        out = gatys.run_gatys(photo, [painting], opts)
        seconds = time.perf_counter() - t
    finally:
        gatys.DeviceLBFGS = DeviceLBFGS
    if save is not None:
        out.save(save)
    x = pil_to_tensor(out)
    return {"seconds": round(seconds, 1), "objective_fp32": round(vgg_objective(out, photo, painting)["total"], 4),
            "pixels_at_0_or_255": round(float(((x <= 0) | (x >= 1)).float().mean()), 4)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default="tubingen,chicago,golden_gate")
    ap.add_argument("--painting", default="starry_night")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--pictures", type=Path, help="folder for the delivered pictures, to look at side by side")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    painting = load_image(DATA / "styles" / f"{a.painting}.jpg")
    rows = []
    for name in a.photos.split(","):
        photo = load_image(DATA / "content" / f"{name}.jpg")
        save = {v: a.pictures / f"{name}_{v}.png" if a.pictures else None for v in ("free", "box")}
        row = {"photo": name, **{v: _run(photo, painting, v == "free", a.precision, save[v]) for v in save}}
        rows.append(row)
        print(row, flush=True)
    if a.json:
        report = {"command": "python bench/bench_lbfgs_bounds.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "device": cpu_model(), "threads": a.threads, "torch": torch.__version__, "rows": rows}  # fmt: skip
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
