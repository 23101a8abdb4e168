"""Retrain every bundled style on one GPU with its own recipe (reference architecture, 256 px, bf16).

Each style's JSON in weights/ says how it was trained: the painting, the content layers and weights, the style
image size. This script trains each again from scratch at GPU scale into OUT (weights_gpu/ by default, so nothing
bundled is replaced), one after another, resumable: a style whose run stopped continues with --resume.

    python tools/retrain_bundled.py --data ../shared/data --device cuda [--epochs 60] [--out weights_gpu]
    NST_WEIGHTS_DIR=weights_gpu python bench/quality_styles.py --json weights_gpu/quality.json

Then keep, per style, whichever of weights/ and weights_gpu/ scores better (structure and style ratio).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = ("content_layers", "content_weight", "style_weight", "tv_weight", "style_size", "crop_scale")


def command(meta: dict, data: Path, out: Path, a: argparse.Namespace) -> list[str]:
    name, training = meta["name"], meta.get("training", {})
    cmd = [
        sys.executable,
        "-m",
        "nst_core.train",
        "--style-image",
        str(data / "styles" / meta["style_image"]),
        "--dataset",
        str(a.dataset or data / "train_images"),
        "--name",
        name,
        "--out",
        str(out),
        "--run-dir",
        str(out / "runs" / name),
        "--resume",
        "--force",
        "--device",
        a.device,
        "--arch",
        "reference",
        "--image-size",
        "256",
        "--batch-size",
        str(a.batch_size),
        "--precision",
        "bf16",
        "--epochs",
        str(a.epochs),
        "--preview-image",
        "builtin",
        "--display-name",
        meta["display_name"],
        "--artist",
        meta.get("artist", ""),
        "--title",
        meta.get("title", ""),
    ]
    for key in RECIPE:
        if training.get(key) is not None:
            cmd += [f"--{key.replace('_', '-')}", str(training[key])]
    if a.loss_net_weights:
        cmd += ["--loss-net-weights", str(a.loss_net_weights)]
    return cmd


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="folder with styles/")
    ap.add_argument("--dataset", type=Path, help="training photos (default: DATA/train_images)")
    ap.add_argument("--out", type=Path, default=REPO / "weights_gpu")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=float, default=60.0, help="passes over the photos (60 x 500 = 30k images)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--loss-net-weights", type=Path, help="VGG-19 weights (default: nst_core's search order)")
    ap.add_argument("--styles", help="comma-separated names (default: every bundled style)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    a = ap.parse_args()
    metas = [json.loads(p.read_text()) for p in sorted((REPO / "weights").glob("*.json"))]
    wanted = set(a.styles.split(",")) if a.styles else None
    for meta in metas:
        if wanted is not None and meta["name"] not in wanted:
            continue
        cmd = command(meta, a.data, a.out, a)
        print(shlex.join(cmd), flush=True)
        if not a.dry_run and subprocess.run(cmd, cwd=REPO).returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
