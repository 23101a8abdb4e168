"""Gatys started from the arbitrary method's result against the default start (the photo), issue #19 item 6.

For each photo: the default Gatys run (GatysOptions' defaults for the device), then the same run with
`init_image` = the arbitrary result. Both objectives are read from the runs' own progress records on the last
(full-size) scale; the report says when the warm run first reaches the default run's final objective, in steps
of the last scale and in seconds (the arbitrary pass included).

    OMP_NUM_THREADS=2 python bench/bench_warm_start.py --photos 3 --json bench/warm_start_cpu.json
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
from nst_core.gatys import GatysOptions  # noqa: E402
from nst_core.images import load_image, resize_long_side  # noqa: E402
from nst_core.options import field_default  # noqa: E402


def _run(photo, painting, **kw) -> tuple[list[tuple[float, int, float, int]], float]:
    trace: list[tuple[float, int, float, int]] = []
    t = time.perf_counter()
    stylize(photo, style_images=[painting], loss_net_weights=str(WEIGHTS["vgg19"]), device="cpu",
            callback=lambda p: trace.append((p.elapsed, p.step, p.losses.get("total", float("nan")), p.scale)),
            **kw)  # fmt: skip
    return trace, time.perf_counter() - t


def _last_scale(trace):
    last = trace[-1][3]
    rows = [r for r in trace if r[3] == last and r[2] == r[2]]
    first_step = rows[0][1] - 1
    return [(t, step - first_step, loss) for t, step, loss, _ in rows]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--painting", default="starry_night")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--single-scale-steps",
        type=int,
        default=0,
        help="warm run at full size only, for this many steps (0: the default coarse-to-fine plan)",
    )
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    painting = load_image(DATA / "styles" / f"{a.painting}.jpg")
    size = field_default(GatysOptions, "size", device="cpu")
    rows = []
    for path in sorted((DATA / "content").glob("*.jpg"))[: a.photos]:
        photo = resize_long_side(load_image(path), size)
        cold, cold_s = _run(photo, painting)
        t = time.perf_counter()
        start = stylize(photo, method="arbitrary", style_images=[painting])
        arbitrary_s = time.perf_counter() - t
        single = {"multiscale": False, "steps": a.single_scale_steps} if a.single_scale_steps else {}
        warm, warm_s = _run(photo, painting, init_image=start, **single)
        target = _last_scale(cold)[-1][2]
        reach = next(((step, sec) for sec, step, loss in _last_scale(warm) if loss <= target), None)
        cold_reach = next(sec for sec, step, loss in _last_scale(cold) if loss <= target)
        row = {
            "photo": path.stem, "default_final": round(target, 4), "warm_final": round(_last_scale(warm)[-1][2], 4),
            "default_first": round(_last_scale(cold)[0][2], 4), "warm_first": round(_last_scale(warm)[0][2], 4),
            "last_scale_steps": _last_scale(cold)[-1][1], "default_s": round(cold_s, 1),
            "warm_s": round(warm_s + arbitrary_s, 1),
            "warm_steps_to_default_final": reach[0] if reach else None,
            "default_s_to_its_final": round(cold_reach, 1),
            "warm_s_to_default_final": round(reach[1] + arbitrary_s, 1) if reach else None,
        }  # fmt: skip
        rows.append(row)
        print(row, flush=True)
    if a.json:
        report = {"command": "python bench/bench_warm_start.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "cpu": cpu_model(), "threads": a.threads, "size": size, "painting": a.painting,
                  "warm_plan": f"single scale, {a.single_scale_steps} steps" if a.single_scale_steps else "default",
                  "torch": torch.__version__, "rows": rows}  # fmt: skip
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
