"""The arbitrary method's quality bar (issue #19), on paintings the network never saw and on those it trained with.

Per painting and photo (`nst_core.judge.arbitrary_scores`, Caffe VGG-19 judge, at 512 px, what users get from
`stylize(method="arbitrary")` with default options unless --strength is given):
  structure   self-similarity distance of the output from the photo (lower keeps more of the photo)
  style_ratio the output's Gram style term over the unstylised photo's own (lower: more of the painting)
Bars: held-out paintings x the 12 content photos, mean structure <= 0.72 and mean style ratio <= 0.5.

    OMP_NUM_THREADS=2 python bench/quality_arbitrary.py --json bench/quality_arbitrary.json --sheets bench/quality

--sheets writes bench/quality/arbitrary_PAINTING.jpg per held-out painting: a public-domain thumbnail of the
painting (at most 320 px, credited in the JSON) and the 12 outputs (the photos themselves are never put in a
committed sheet). --look DIR also writes photo/output pairs there, for a person to judge (not to commit).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from judge import DATA, WEIGHTS  # noqa: E402

from nst_core import stylize  # noqa: E402
from nst_core.arbitrary import BUNDLED  # noqa: E402
from nst_core.bars import ARBITRARY_STRUCTURE_BAR as STRUCTURE_BAR  # noqa: E402
from nst_core.bars import ARBITRARY_STYLE_RATIO_BAR as STYLE_RATIO_BAR  # noqa: E402
from nst_core.device import device_label  # noqa: E402
from nst_core.images import load_image, resize_long_side  # noqa: E402
from nst_core.judge import arbitrary_scores  # noqa: E402

HELD_OUT = ("starry_night", "great_wave", "the_scream", "woman_with_hat")


def trained_on() -> list[str]:
    """The paintings the bundled network's JSON says it trained with (file stems)."""
    record = json.loads(BUNDLED.with_suffix(".json").read_text())
    return [Path(p["file"]).stem for p in record.get("paintings", [])]


def score(painting: Path, photos: list[Path], size: int, options: dict[str, Any]) -> dict[str, Any]:
    art = load_image(painting)
    rows = []
    scores = arbitrary_scores([load_image(p) for p in photos], art, weights=WEIGHTS["vgg19"], size=size, **options)
    for p, s in zip(photos, scores, strict=True):
        rows.append({"photo": p.stem, **{k: round(v, 4) for k, v in s.items()},
                     "style_ratio": round(s["style"] / s["photo_style"], 4)})  # fmt: skip
    mean = {k: round(statistics.fmean(r[k] for r in rows), 4) for k in ("structure", "style_ratio", "content")}
    return {"painting": painting.stem, **mean, "rows": rows}


def sheet(painting: Path, photos: list[Path], size: int, options: dict[str, Any], out: Path, look: Path | None):
    art = load_image(painting)
    tiles = [stylize(resize_long_side(load_image(p), size), method="arbitrary", style_images=[art], **options)
             for p in photos]  # fmt: skip
    tiles = [t.resize((round(t.width * 256 / max(t.size)), round(t.height * 256 / max(t.size)))) for t in tiles]
    thumb = resize_long_side(art, 256)
    cols, cell = 4, 256
    rows = (len(tiles) + 1 + cols - 1) // cols
    canvas = Image.new("RGB", (cols * cell, rows * cell), "white")
    for i, t in enumerate([thumb, *tiles]):
        canvas.paste(t, ((i % cols) * cell, (i // cols) * cell))
    canvas.save(out / f"arbitrary_{painting.stem}.jpg", quality=80, optimize=True)
    if look:
        for p, t in zip(photos, tiles, strict=True):
            photo = resize_long_side(load_image(p), 256)
            pair = Image.new("RGB", (photo.width + t.width, max(photo.height, t.height)), "white")
            pair.paste(photo, (0, 0))
            pair.paste(t, (photo.width, 0))
            pair.save(look / f"{painting.stem}_{p.stem}.jpg", quality=85)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--strength", type=float, help="default: the method's default")
    ap.add_argument("--paintings", help="comma-separated stems (default: held-out, then trained-on)")
    ap.add_argument("--photos", type=int, help="only the first N photos (a quick look; the bar is on all 12)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--sheets", type=Path)
    ap.add_argument("--look", type=Path)
    a = ap.parse_args(argv)
    options = {"strength": a.strength} if a.strength is not None else {}
    photos = sorted((a.data / "content").glob("*.jpg"))[: a.photos]
    names = a.paintings.split(",") if a.paintings else [*HELD_OUT, *trained_on()]
    t0, results = time.perf_counter(), []
    print(f"{'painting':<30}{'held out':>9}{'structure':>10}{'style/photo':>12}")
    for name in names:
        places = [a.data / "styles", a.data / "reference_models" / "style-images"]
        path = next(d / f"{name}.jpg" for d in places if (d / f"{name}.jpg").is_file())
        r = {**score(path, photos, a.size, options), "held_out": name in HELD_OUT}
        results.append(r)
        print(f"{name:<30}{r['held_out']!s:>9}{r['structure']:>10.3f}{r['style_ratio']:>12.3f}", flush=True)
        if a.sheets and r["held_out"]:
            a.sheets.mkdir(parents=True, exist_ok=True)
            if a.look:
                a.look.mkdir(parents=True, exist_ok=True)
            sheet(path, photos, a.size, options, a.sheets, a.look)
    held = [r for r in results if r["held_out"]]
    summary = {k: round(statistics.fmean(r[k] for r in held), 4) for k in ("structure", "style_ratio")} if held else {}
    print(f"held out: {summary} (bars {STRUCTURE_BAR}, {STYLE_RATIO_BAR}); {time.perf_counter() - t0:.0f} s")
    if a.json:
        report = {
            "command": "python bench/quality_arbitrary.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "size": a.size, "options": options, "photos": [p.stem for p in photos],
            "judge": "Caffe VGG-19 (pretrained/vgg19_caffe_imagenet_conv.pth)",
            "device": device_label(torch.device("cpu")), "torch": torch.__version__,
            "held_out_mean": summary, "bars": {"structure": STRUCTURE_BAR, "style_ratio": STYLE_RATIO_BAR},
            "results": results,
        }  # fmt: skip
        a.json.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
