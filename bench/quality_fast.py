"""Quality bar for the bundled fast styles: style loss no worse than 100-step Gatys, content still recognisable.

For each installed style (or --styles) and each held-out content photo (every file of content/ is held out:
training reads train_images/ only), at --size px long side:

  fast       nst_core.stylize(photo, style=NAME, size=SIZE, device="cpu")
  gatys-100  Gatys with the style's own painting (meta "style_image", under DATA/styles): Caffe VGG-19, default
             options, multiscale off, so exactly --steps L-BFGS steps at SIZE

Both are scored by bench/judge.py's vgg_objective (VGG-19, content relu4_2, style relu1_1..relu5_1, normalised
terms, weights content 1 / style 30 / tv 100, painting resized to the image's long side), the objective Gatys
itself minimises. Style bar: mean fast style term <= mean Gatys-100 style term (PASS/FAIL).
"Recognisable": the fast output's content term next to two references, the Gatys-100 result's and the painting's
own (the painting resized to the photo: an image with none of the photo's content). Recognisable = fast content
term < painting content term; the ratio fast/painting says by how much (1.0 = as unrelated as the painting).
"~gatys step" is the first Gatys step whose style term reaches the fast output's (what the fast style is worth).

    OMP_NUM_THREADS=2 python bench/quality_fast.py --json bench/quality_fast.json --sheets bench/quality
    OMP_NUM_THREADS=2 python bench/quality_fast.py --styles udnie --json bench/quality_fast.json --merge
    OMP_NUM_THREADS=2 python bench/quality_fast.py --published --json bench/quality_published.json

--published judges pytorch/examples' own networks (DATA/reference_models/*.pth, imported into a temporary
registry and named published_*) against their style images (DATA/reference_models/style-images): the quality a
GPU-trained reference reaches under the same judge, the bar our own styles must beat.

Sheets are one JPEG per style, one group per photo: fast | gatys-100 (--sheet-content adds the resized photo
first: handy to look at, but a copy of a shared photo, so never commit such sheets).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
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
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]  # nst_core, and the shared judge next to this file

from judge import DATA, vgg_objective  # noqa: E402

from nst_core import stylize  # noqa: E402
from nst_core.gatys import GatysOptions  # noqa: E402
from nst_core.images import load_image, resize_long_side  # noqa: E402
from nst_core.progress import Progress  # noqa: E402
from nst_core.styles import WEIGHTS_ENV, StyleInfo, import_torch_checkpoint, list_styles  # noqa: E402

DEFAULT_CONTENTS = "tubingen,golden_gate,chicago"
CAFFE_VGG19 = "pretrained/vgg19_caffe_imagenet_conv.pth"
HOW = (
    "Judge: bench/judge.py vgg_objective = Gatys objective under Caffe VGG-19 (content relu4_2, style "
    "relu1_1..relu5_1, each layer term normalised by its target's mean square; weights content 1, style 30, "
    "tv 100; painting resized to the judged image's long side). fast = nst_core.stylize(photo, style, size, "
    "device=cpu); gatys = same painting, default Gatys options, multiscale off, exactly `steps` L-BFGS steps at "
    "`size`, init from the photo, seed 0. Style bar PASS when mean fast style <= mean gatys style over the "
    "photos. Recognisable when mean fast content < mean content term of the painting resized to the photo's "
    "size (an image with none of the content); content_vs_painting = fast/painting (lower = more of the photo "
    "kept). fast_worth_gatys_steps = first Gatys L-BFGS step whose style term (the objective Gatys reports at that "
    "iteration's first trial point) is <= the fast output's: median over photos; null = better than all. "
    "Seconds: wall clock after a warm-up, CPU, `threads` torch threads."
)


def _round(d: dict[str, float], n: int = 4) -> dict[str, float]:
    return {k: round(v, n) for k, v in d.items()}


PAINTING_DIRS = ("styles", "reference_models/style-images")


def _painting_path(info: StyleInfo, data: Path) -> Path | None:
    """The style's painting (meta "style_image") under DATA's painting folders, or None."""
    name = info.meta.get("style_image")
    found = [data / name, *(data / d / name for d in PAINTING_DIRS)] if name else []
    return next((p for p in found if p.is_file()), None)


def import_published(data: Path, out: Path) -> list[str]:
    """pytorch/examples' networks whose style image is here, imported as published_NAME into `out`."""
    names = []
    for pth in sorted((data / "reference_models").glob("*.pth")):
        painting = next(
            (
                f"{PAINTING_DIRS[1]}/{pth.stem.replace('_', '-')}{ext}"
                for ext in (".jpg", ".png")
                if (data / PAINTING_DIRS[1] / f"{pth.stem.replace('_', '-')}{ext}").is_file()
            ),
            None,
        )
        if painting is None:
            print(f"skip {pth.name}: no style image under {data / PAINTING_DIRS[1]}", flush=True)
            continue
        name = f"published_{pth.stem}"
        import_torch_checkpoint(pth, name, out, {"style_image": painting, "notes": "pytorch/examples, as published"})
        names.append(name)
    return names


def _content_path(name: str, data: Path) -> Path:
    p = Path(name)
    return p if p.suffix and p.is_file() else data / "content" / f"{name}.jpg"


def _gatys_options(size: int, steps: int, weights: Path) -> GatysOptions:
    return GatysOptions(
        size=size,
        steps=steps,
        multiscale=False,
        device="cpu",
        loss_net="vgg19",
        loss_net_weights=str(weights),
        preview_every=0,
    )


def _gatys(
    photo: Path, painting: Path, opts: GatysOptions, cache: Path | None
) -> tuple[Image.Image, float, list[float], bool]:
    """(result, seconds, style term after each step, cached). Gatys-100 depends only on photo, painting and
    options, not on the fast model: cached across runs, so re-checking a retrained style costs seconds."""
    key = None
    if cache is not None:
        digest = hashlib.sha256(json.dumps(opts.as_dict(), sort_keys=True, default=str).encode()).hexdigest()[:10]
        if painting.parent.name != "styles":  # same stem, another file (reference_models' udnie): its own entry
            digest += "_" + hashlib.sha256(painting.read_bytes()).hexdigest()[:8]
        key = cache / f"{photo.stem}+{painting.stem}_{opts.size}px_{opts.steps}steps_{digest}"
        png, meta = key.with_suffix(".png"), key.with_suffix(".json")
        m = json.loads(meta.read_text()) if meta.is_file() else {}
        if png.is_file() and "style_by_step" in m:
            return load_image(png), m["seconds"], m["style_by_step"], True
    by_step: list[float] = []

    def record(p: Progress) -> None:  # one record per L-BFGS iteration (the objective at its first trial point)
        if p.step > len(by_step):
            by_step.append(p.losses["style"])

    fields = {k: v for k, v in opts.as_dict().items() if k != "style_blend"}  # one painting: no blend
    t = time.perf_counter()
    out = stylize(photo, method="gatys", style_images=[painting], callback=record, **fields)
    secs = time.perf_counter() - t
    if key is not None:
        cache.mkdir(parents=True, exist_ok=True)
        out.save(key.with_suffix(".png"))
        key.with_suffix(".json").write_text(json.dumps({"seconds": secs, "style_by_step": by_step}))
    return out, secs, by_step, False


def _matching_step(by_step: list[float], style: float) -> int | None:
    """First Gatys step whose style term is <= `style`: how many Gatys steps the fast output is worth."""
    return next((i + 1 for i, v in enumerate(by_step) if v <= style), None)


def _sheet(groups: list[list[tuple[str, Image.Image]]], height: int) -> Image.Image:
    """One row: for each photo its tiles side by side, labelled; no tile is upscaled."""
    h = min(height, *(im.height for g in groups for _, im in g))
    band, gap, group_gap = 14, 4, 14
    tiles = [
        [(label, im.resize((max(1, round(im.width * h / im.height)), h), Image.Resampling.LANCZOS)) for label, im in g]
        for g in groups
    ]
    width = sum(sum(im.width for _, im in g) + gap * (len(g) - 1) for g in tiles) + group_gap * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, h + band), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for g in tiles:
        for label, im in g:
            draw.text((x + 2, 1), label, fill="black")
            sheet.paste(im, (x, band))
            x += im.width + gap
        x += group_gap - gap
    return sheet


def _model_info(info: StyleInfo) -> dict[str, Any]:
    m = info.meta
    return {
        "weights": str(info.weights_path.relative_to(REPO))
        if info.weights_path.is_relative_to(REPO)
        else info.weights_path.name,  # outside the repo: a name, no local path in committed results
        "sha256": hashlib.sha256(info.weights_path.read_bytes()).hexdigest()[:16],
        "date": m.get("date"),
        "train_steps": m.get("steps"),
        "train_seconds": m.get("train_seconds"),
        "arch": (m.get("training") or {}).get("arch"),
        "notes": m.get("notes"),
    }


def measure_style(info: StyleInfo, photos: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Fast vs Gatys-100 on every photo for one style; per-photo rows and their means."""
    painting_path = _painting_path(info, args.data)
    painting = load_image(painting_path)
    weights = args.data / CAFFE_VGG19
    opts = _gatys_options(args.size, args.steps, weights)
    stylize(Image.new("RGB", (32, 32), "gray"), style=info.name, size=32, device="cpu")  # warm-up: load model
    rows, groups = [], []
    for path in photos:
        photo = load_image(path)
        t = time.perf_counter()
        fast = stylize(photo, style=info.name, size=args.size, device="cpu")
        fast_s = time.perf_counter() - t
        gatys, gatys_s, by_step, cached = _gatys(path, painting_path, opts, args.gatys_cache)
        shown = resize_long_side(photo, args.size)
        unrelated = painting.resize(shown.size, Image.Resampling.LANCZOS)
        row = {
            "photo": path.stem,
            "size": list(fast.size),
            "fast": {**_round(vgg_objective(fast, photo, painting, weights)), "seconds": round(fast_s, 3)},
            "gatys": {
                **_round(vgg_objective(gatys, photo, painting, weights)),
                "seconds": round(gatys_s, 1),
                "cached": cached,
            },
            "painting": _round(vgg_objective(unrelated, photo, painting, weights)),
        }
        row["fast_worth_gatys_steps"] = _matching_step(by_step, row["fast"]["style"])
        row["gatys_style_by_step"] = {
            k: round(by_step[k - 1], 4) for k in (1, 2, 5, 10, 20, 50, 100, len(by_step)) if 0 < k <= len(by_step)
        }
        rows.append(row)
        print(
            f"  {info.name} / {path.stem}: fast style {row['fast']['style']:.4f} content "
            f"{row['fast']['content']:.4f} | gatys style {row['gatys']['style']:.4f} content "
            f"{row['gatys']['content']:.4f} ({gatys_s:.0f}s{', cached' if cached else ''}) | painting content "
            f"{row['painting']['content']:.4f}",
            flush=True,
        )
        group = [("photo", shown)] if args.sheet_content else []
        groups.append([*group, ("fast", fast), (f"gatys-{args.steps}", gatys)])
    if args.sheets:
        args.sheets.mkdir(parents=True, exist_ok=True)
        _sheet(groups, args.sheet_height).save(args.sheets / f"{info.name}.jpg", quality=85, optimize=True)

    def mean(part: str, key: str) -> float:
        return statistics.fmean(r[part][key] for r in rows)

    fs, gs = mean("fast", "style"), mean("gatys", "style")
    fc, gc, pc = mean("fast", "content"), mean("gatys", "content"), mean("painting", "content")
    n = len(rows)
    steps = [r["fast_worth_gatys_steps"] for r in rows]
    worth = None if None in steps else statistics.median_low(steps)  # None: better than every Gatys step
    return {
        "style": info.name,
        "display_name": info.display_name,
        "painting": painting_path.name,
        "photos": n,
        "fast_style": round(fs, 4),
        "gatys_style": round(gs, 4),
        "style_vs_gatys": round(fs / gs, 3),
        "style_pass": fs <= gs,
        "style_pass_photos": f"{sum(r['fast']['style'] <= r['gatys']['style'] for r in rows)}/{n}",
        "fast_content": round(fc, 4),
        "gatys_content": round(gc, 4),
        "painting_content": round(pc, 4),
        "content_vs_painting": round(fc / pc, 3),
        "recognisable": fc < pc,
        "recognisable_photos": f"{sum(r['fast']['content'] < r['painting']['content'] for r in rows)}/{n}",
        "fast_worth_gatys_steps": worth,
        "fast_seconds": round(mean("fast", "seconds"), 3),
        "gatys_seconds": round(mean("gatys", "seconds"), 1),
        "model": _model_info(info),
        "rows": rows,
    }


def print_table(results: list[dict[str, Any]], steps: int) -> None:
    head = (
        f"{'style':<22}{'fast style':>11}{f'gatys{steps} style':>17}{'bar':>6}{'fast cont':>11}"
        f"{'gatys cont':>11}{'paint cont':>11}  {'recognisable':<19}{'~gatys step':>12}{'fast s':>8}{'gatys s':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        bar = "PASS" if r["style_pass"] else "FAIL"
        rec = f"{'yes' if r['recognisable'] else 'no'} ({r['content_vs_painting']:.2f}x paint)"
        worth = r["fast_worth_gatys_steps"]
        worth = f">{steps}" if worth is None else str(worth)
        print(
            f"{r['style']:<22}{r['fast_style']:>11.4f}{r['gatys_style']:>17.4f}{bar:>6}{r['fast_content']:>11.4f}"
            f"{r['gatys_content']:>11.4f}{r['painting_content']:>11.4f}  {rec:<19}{worth:>12}"
            f"{r['fast_seconds']:>8.2f}{r['gatys_seconds']:>9.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--styles", default=None, help="comma-separated style names (default: every installed style)")
    ap.add_argument(
        "--contents",
        default=DEFAULT_CONTENTS,
        help="comma-separated names in DATA/content (without .jpg) or image paths",
    )
    ap.add_argument("--data", type=Path, default=DATA, help="shared data folder (styles/, content/, pretrained/)")
    ap.add_argument("--size", type=int, default=256, help="long side in px for both methods")
    ap.add_argument("--steps", type=int, default=100, help="Gatys L-BFGS steps (the bar is 100)")
    ap.add_argument("--json", type=Path, default=None, help="write results here")
    ap.add_argument("--merge", action="store_true", help="keep the other styles already in --json")
    ap.add_argument("--sheets", type=Path, default=None, help="folder for one contact sheet per style")
    ap.add_argument("--sheet-content", action="store_true", help="put the resized photo first (do not commit)")
    ap.add_argument("--sheet-height", type=int, default=256, help="tile height in px (never upscaled)")
    ap.add_argument("--gatys-cache", type=Path, default=None, help="reuse Gatys results across runs")
    ap.add_argument(
        "--published",
        action="store_true",
        help="judge pytorch/examples' published networks (DATA/reference_models) instead",
    )
    a = ap.parse_args(argv)

    if a.published:
        if a.styles:
            ap.error("--published judges the published networks: give it or --styles, not both")
        tmp = Path(tempfile.mkdtemp(prefix="nst-published-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        os.environ[WEIGHTS_ENV] = str(tmp)
        a.styles = ",".join(import_published(a.data, tmp))
        if not a.styles:
            ap.error(f"no published network with its style image under {a.data / 'reference_models'}")
    installed = {s.name: s for s in list_styles()}
    names = a.styles.split(",") if a.styles else sorted(installed)
    missing = [n for n in names if n not in installed]
    if missing:
        ap.error(f"not installed: {', '.join(missing)} (installed: {', '.join(sorted(installed)) or 'none'})")
    photos = [_content_path(c.strip(), a.data) for c in a.contents.split(",") if c.strip()]
    for p in photos:
        if not p.is_file():
            ap.error(f"content photo not found: {p}")
    weights = a.data / CAFFE_VGG19
    if not weights.is_file():
        ap.error(f"Caffe VGG-19 weights not found: {weights}")

    warm = _gatys_options(32, 1, weights)  # load VGG-19 once so the first timed run is not charged for it
    stylize(
        Image.new("RGB", (32, 32), "gray"),
        method="gatys",
        style_images=[Image.new("RGB", (32, 32), "white")],
        **{k: v for k, v in warm.as_dict().items() if k != "style_blend"},
    )
    results, skipped = [], {}
    for name in names:
        info = installed[name]
        painting = _painting_path(info, a.data)
        if painting is None:
            where = ", ".join(f"DATA/{d}" for d in PAINTING_DIRS)
            skipped[name] = f"painting not found: {info.meta.get('style_image')!r} under {where}"
            print(f"skip {name}: {skipped[name]}", flush=True)
            continue
        print(f"{name} ({painting.name}) on {', '.join(p.stem for p in photos)} at {a.size}px", flush=True)
        results.append(measure_style(info, photos, a))

    print()
    print_table(results, a.steps)
    if a.json:
        measured = {r["style"] for r in results}
        if a.merge and a.json.is_file():
            old = json.loads(a.json.read_text())
            results += [r for r in old.get("results", []) if r["style"] not in measured]
            skipped = {**{k: v for k, v in old.get("skipped", {}).items() if k not in measured}, **skipped}
        results.sort(key=lambda r: r["style"])
        settings = {
            "size": a.size,
            "steps": a.steps,
            "contents": [p.stem for p in photos],
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "gatys_options": {
                k: v
                for k, v in _gatys_options(a.size, a.steps, weights).resolved(torch.device("cpu")).as_dict().items()
                if k != "loss_net_weights"
            },
            "judge_weights": CAFFE_VGG19,
        }
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(
            json.dumps({"how": HOW, "settings": settings, "results": results, "skipped": skipped}, indent=1) + "\n"
        )
        print(f"\nwrote {a.json}")


if __name__ == "__main__":
    main()
