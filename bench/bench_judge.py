"""Time of the quality bar's judge (`nst_core.judge.fast_style_scores`), which the bundled-quality tests run on
every style and photo: one photo, then several (the painting's targets are shared across photos).

    OMP_NUM_THREADS=1 python bench/bench_judge.py --threads 1 --photos 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from judge import DATA, WEIGHTS  # noqa: E402

from nst_core.device import cpu_model  # noqa: E402
from nst_core.images import load_image  # noqa: E402
from nst_core.judge import fast_style_scores  # noqa: E402


def timed(style: str, photos: list, painting) -> float:
    start = time.perf_counter()
    fast_style_scores(style, photos, painting, weights=WEIGHTS["vgg19"])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--style", default="udnie")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photos = [load_image(p) for p in sorted((DATA / "content").glob("*.jpg"))[: args.photos]]
    painting = load_image(DATA / "styles" / f"{args.style}.jpg")
    timed(args.style, photos[:1], painting)  # warm-up: networks loaded, caches filled
    one, many = timed(args.style, photos[:1], painting), timed(args.style, photos, painting)
    print(f"{cpu_model()}, {args.threads} thread(s): 1 photo {one:.2f} s, {len(photos)} photos {many:.2f} s")


if __name__ == "__main__":
    main()
