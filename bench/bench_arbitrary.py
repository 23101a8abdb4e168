"""Arbitrary style against Gatys, side by side in one run on the same photos and paintings (issue #19).

For each photo: the arbitrary method at --size (default 512 px; best of --repeat runs, after a warm-up) and the
default Gatys run (GatysOptions' defaults for the device: 384 px coarse-to-fine on a CPU) once. Both go through
`nst_core.stylize`, what users call. Prints a table and writes JSON.

    OMP_NUM_THREADS=2 python bench/bench_arbitrary.py --threads 2 --photos 3 --json bench/arbitrary_cpu.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from judge import DATA, WEIGHTS  # noqa: E402

from nst_core import stylize  # noqa: E402
from nst_core.device import cpu_model, device_label, resolve_device  # noqa: E402
from nst_core.images import load_image, resize_long_side  # noqa: E402


def _time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--photos", type=int, default=3, help="how many of the content photos (sorted by name)")
    ap.add_argument("--painting", default="starry_night")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-gatys", action="store_true", help="arbitrary only (e.g. a GPU figure)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    painting = load_image(DATA / "styles" / f"{a.painting}.jpg")
    photos = sorted((DATA / "content").glob("*.jpg"))[: a.photos]
    rows = []
    for path in photos:
        photo = load_image(path)
        small = resize_long_side(photo, a.size)

        def arbitrary(small=small):
            return stylize(small, method="arbitrary", style_images=[painting], device=a.device)

        arbitrary()  # warm-up: the network and the kernels
        row = {"photo": path.stem, "arbitrary_s": round(_time(arbitrary, a.repeat), 3)}
        if not a.no_gatys:
            t = time.perf_counter()
            stylize(photo, style_images=[painting], loss_net_weights=str(WEIGHTS["vgg19"]), device=a.device)
            row["gatys_default_s"] = round(time.perf_counter() - t, 2)
            row["speed_up"] = round(row["gatys_default_s"] / row["arbitrary_s"], 1)
        rows.append(row)
        print(row, flush=True)
    summary = {"arbitrary_s": round(statistics.fmean(r["arbitrary_s"] for r in rows), 3)}
    if not a.no_gatys:
        summary["gatys_default_s"] = round(statistics.fmean(r["gatys_default_s"] for r in rows), 2)
        summary["speed_up"] = round(summary["gatys_default_s"] / summary["arbitrary_s"], 1)
    print(summary)
    if a.json:
        report = {
            "command": "python bench/bench_arbitrary.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "device": device_label(dev) if dev.type != "cpu" else cpu_model(),
            "threads": a.threads, "size": a.size, "painting": a.painting, "torch": torch.__version__,
            "summary": summary, "rows": rows,
        }  # fmt: skip
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
