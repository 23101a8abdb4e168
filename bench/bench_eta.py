"""How true the "time left" of a default CPU Gatys run is (issue #24 item 3).

One default run (GatysOptions' defaults for the device: coarse-to-fine, its later scale four times the pixels).
Every progress record's ETA is compared with the time the run really took from there; the report gives the error
at 10, 20 and 50 % of the wall time, for the step-based estimate (every step costs the same) and the work-based
one (`Progress.eta`: a step costs its scale's pixels), both read from the same records.

    OMP_NUM_THREADS=2 python bench/bench_eta.py --threads 2 --json bench/eta_cpu.json
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

from judge import DATA, WEIGHTS  # noqa: E402

from nst_core import stylize  # noqa: E402
from nst_core.device import cpu_model  # noqa: E402
from nst_core.images import load_image  # noqa: E402
from nst_core.progress import Progress  # noqa: E402


def _trace(photo, painting) -> tuple[list[Progress], float]:
    seen: list[Progress] = []
    t = time.perf_counter()
    stylize(photo, style_images=[painting], loss_net_weights=str(WEIGHTS["vgg19"]), device="cpu",
            callback=seen.append)  # fmt: skip
    return seen, time.perf_counter() - t


def _at(seen: list[Progress], total_s: float, fraction: float) -> dict:
    p = next(r for r in seen if r.elapsed >= fraction * total_s)
    truth = total_s - p.elapsed
    by_steps = p.elapsed / p.step * (p.total - p.step)
    return {
        "fraction_of_time": fraction, "step": p.step, "of": p.total, "elapsed_s": round(p.elapsed, 1),
        "true_left_s": round(truth, 1), "eta_by_steps_s": round(by_steps, 1), "eta_by_work_s": round(p.eta, 1),
        "error_by_steps": round(by_steps / truth - 1, 3), "error_by_work": round(p.eta / truth - 1, 3),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", default="chicago")
    ap.add_argument("--painting", default="starry_night")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    photo = load_image(next((DATA / "content").glob(f"{a.photo}*")))
    painting = load_image(DATA / "styles" / f"{a.painting}.jpg")
    seen, total_s = _trace(photo, painting)
    rows = [_at(seen, total_s, f) for f in (0.1, 0.2, 0.5)]
    for r in rows:
        print(r, flush=True)
    if a.json:
        report = {"command": "python bench/bench_eta.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "cpu": cpu_model(), "threads": a.threads, "torch": torch.__version__, "total_s": round(total_s, 1),
                  "size": list(seen[-1].size), "scales": seen[-1].scales, "rows": rows}  # fmt: skip
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
