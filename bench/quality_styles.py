"""The bar every bundled fast style must clear, measured on the 12 shared content photos (none is trained on).

Per style and photo (`nst_core.judge.fast_style_scores`, Caffe VGG-19 judge, what users get from `stylize`):
  structure   self-similarity distance of the output at 512 px from the photo (lower keeps more of the photo)
  style       the Gatys objective's style term of the output at 256 px, against the style's painting
  style_ratio style / the unstylised photo's own style term (lower: more of the painting is there)
  content     the relu4_2 content term at 256 px (lower: more of the photo's content)
Bars (issue #10): structure <= 0.72 per style (the worst published network, mosaic) and <= 0.66 on average over
the bundled styles (the published networks' median); style_ratio <= 0.35.

    OMP_NUM_THREADS=2 python bench/quality_styles.py --json bench/quality_styles.json --record \
        --sheets bench/quality --sheet-size 1024
    OMP_NUM_THREADS=2 python bench/quality_styles.py --published --json bench/quality_styles_published.json

--record writes each style's scores into its weights/NAME.json ("scores"), which is how the demo and the bots pick
their default style. --published judges pytorch/examples' networks the same way (imported into a temporary
registry as published_NAME). --sheets writes one JPEG per style: its outputs at --sheet-size px on every photo
(outputs only: the photos themselves are never put in a committed sheet).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from judge import DATA, WEIGHTS  # noqa: E402
from quality_fast import _painting_path, import_published  # noqa: E402

from nst_core import stylize  # noqa: E402
from nst_core.bars import STRUCTURE_BAR, STRUCTURE_MEAN_BAR, STYLE_RATIO_BAR  # noqa: E402
from nst_core.device import device_label  # noqa: E402
from nst_core.images import load_image  # noqa: E402
from nst_core.judge import fast_style_scores  # noqa: E402
from nst_core.styles import WEIGHTS_ENV, StyleInfo, list_styles, record_scores  # noqa: E402


def score_style(info: StyleInfo, photos: list[Path], data: Path) -> dict[str, Any]:
    painting = load_image(_painting_path(info, data))
    rows = []
    scores = fast_style_scores(info.name, [load_image(p) for p in photos], painting, weights=WEIGHTS["vgg19"])
    for path, s in zip(photos, scores, strict=True):
        rows.append(
            {
                "photo": path.stem,
                **{k: round(v, 4) for k, v in s.items()},
                "style_ratio": round(s["style"] / s["photo_style"], 4),
            }
        )

    def mean(key: str) -> float:
        return round(statistics.fmean(r[key] for r in rows), 4)

    r = {
        "style": info.name,
        "painting": _painting_path(info, data).name,
        "photos": len(rows),
        "structure": mean("structure"),
        "style_ratio": mean("style_ratio"),
        "style_term": mean("style"),
        "content": mean("content"),
    }
    r["pass"] = r["structure"] <= STRUCTURE_BAR and r["style_ratio"] <= STYLE_RATIO_BAR
    return {**r, "rows": rows}


def sheet(name: str, photos: list[Path], size: int, out: Path) -> None:
    """The style's outputs at `size` px on every photo, in rows of four, shrunk to a small JPEG."""
    tiles = [stylize(load_image(p), style=name, size=size) for p in photos]
    h = max(t.height for t in tiles)
    cols = 4
    rows = [tiles[i : i + cols] for i in range(0, len(tiles), cols)]
    width = max(sum(t.width for t in r) for r in rows)
    canvas = Image.new("RGB", (width, h * len(rows)), "white")
    for y, r in enumerate(rows):
        x = 0
        for t in r:
            canvas.paste(t, (x, y * h))
            x += t.width
    canvas.thumbnail((1280, 1280), Image.Resampling.LANCZOS)  # 1024-px tiles at ~0.3 scale, the sheet ~200 KB
    canvas.save(out / f"{name}.jpg", quality=70, optimize=True, progressive=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--styles", help="comma-separated style names (default: every installed style)")
    ap.add_argument("--data", type=Path, default=DATA, help="shared data folder (content/, styles/, pretrained/)")
    ap.add_argument("--published", action="store_true", help="judge pytorch/examples' published networks instead")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--record", action="store_true", help="write each style's scores into its JSON")
    ap.add_argument("--sheets", type=Path, help="folder for one sheet per style")
    ap.add_argument("--sheet-size", type=int, default=1024, help="long side of each output on the sheet")
    a = ap.parse_args(argv)
    if a.published:
        tmp = Path(tempfile.mkdtemp(prefix="nst-published-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        os.environ[WEIGHTS_ENV] = str(tmp)
        a.styles = ",".join(import_published(a.data, tmp))
    installed = {s.name: s for s in list_styles()}
    names = a.styles.split(",") if a.styles else sorted(installed)
    photos = sorted((a.data / "content").glob("*.jpg"))
    t0, results = time.perf_counter(), []
    print(f"{'style':<26}{'structure':>10}{'style/photo':>12}{'style':>8}{'content':>9}  bar")
    for name in names:
        r = score_style(installed[name], photos, a.data)
        results.append(r)
        print(
            f"{name:<26}{r['structure']:>10.3f}{r['style_ratio']:>12.3f}{r['style_term']:>8.3f}"
            f"{r['content']:>9.3f}  {'PASS' if r['pass'] else 'FAIL'}",
            flush=True,
        )
        if a.record and not a.published:
            record_scores(name, {k: r[k] for k in ("structure", "style_ratio", "style_term", "content", "photos")})
        if a.sheets:
            a.sheets.mkdir(parents=True, exist_ok=True)
            sheet(name, photos, a.sheet_size, a.sheets)
    mean_structure = statistics.fmean(r["structure"] for r in results)
    print(f"mean structure {mean_structure:.3f} (bar {STRUCTURE_MEAN_BAR}); {time.perf_counter() - t0:.0f} s")
    if a.json:
        settings = {
            "photos": [p.stem for p in photos],
            "structure_size": 512,
            "objective_size": 256,
            "judge": "Caffe VGG-19 (pretrained/vgg19_caffe_imagenet_conv.pth)",
            "torch": torch.__version__,
            "device": device_label(torch.device("cpu")),
            "mean_structure": round(mean_structure, 4),
        }
        a.json.write_text(
            json.dumps({"how": __doc__.split("\n\n")[1], "settings": settings, "results": results}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
