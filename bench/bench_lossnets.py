"""Gatys with each loss network on the same content/style pairs, judged by VGG-19 (the paper's objective).

Speed gain and quality cost side by side: seconds per run, and the final Gatys objective of each result
evaluated with the real VGG-19 (content relu4_2, style relu1_1..relu5_1, normalised terms, default weights).
Writes a JSON file and a side-by-side image per pair.

    python bench/bench_lossnets.py --sizes 256,512 --json bench/lossnets_cpu.json --images bench/lossnets
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # nst_core, and the shared judge next to this file

from judge import DATA, WEIGHTS, vgg_objective  # noqa: E402

from nst_core.gatys import GatysOptions, run_gatys  # noqa: E402
from nst_core.images import load_image, resize_long_side  # noqa: E402

PAIRS = [("tubingen", "starry_night"), ("golden_gate", "great_wave"), ("chicago", "composition_vii")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512")
    ap.add_argument("--nets", default="squeezenet,vgg19")
    ap.add_argument("--json", default=None)
    ap.add_argument("--images", default=None, help="folder for side-by-side images")
    a = ap.parse_args()
    rows = []
    for content_name, style_name in PAIRS:
        content = load_image(DATA / "content" / f"{content_name}.jpg")
        style = load_image(DATA / "styles" / f"{style_name}.jpg")
        for size in (int(s) for s in a.sizes.split(",")):
            outs = []
            for net in a.nets.split(","):
                opts = GatysOptions(
                    size=size, device="cpu", loss_net=net, loss_net_weights=str(WEIGHTS[net]), preview_every=0
                )
                run_gatys(
                    resize_long_side(content, 32),
                    [style],
                    GatysOptions(size=32, steps=1, device="cpu", loss_net=net, loss_net_weights=str(WEIGHTS[net])),
                )  # warm-up
                t = time.perf_counter()
                out = run_gatys(content, [style], opts)
                secs = time.perf_counter() - t
                resolved = opts.resolved(torch.device("cpu"))
                row = {
                    "pair": f"{content_name}+{style_name}",
                    "size": size,
                    "loss_net": net,
                    "steps": resolved.steps,
                    "multiscale": resolved.multiscale,
                    "seconds": round(secs, 2),
                    "vgg19_objective": {k: round(v, 4) for k, v in vgg_objective(out, content, style).items()},
                }
                rows.append(row)
                outs.append(out)
                print(json.dumps(row), flush=True)
            if a.images:
                Path(a.images).mkdir(parents=True, exist_ok=True)
                sheet = Image.new("RGB", (sum(o.width for o in outs), max(o.height for o in outs)), "white")
                x = 0
                for o in outs:
                    sheet.paste(o, (x, 0))
                    x += o.width
                sheet.save(Path(a.images) / f"{content_name}+{style_name}_{size}.jpg", quality=90)
    if a.json:
        Path(a.json).write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
