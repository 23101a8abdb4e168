"""Regions at work (issue #22): four photos, a mask each, painted only where the mask says; a sheet to look at.

The masks are made here from the photos' own colours (sky and studio backdrop are plain, connected to the
border), the way a user would brush them: Chicago's sky in Starry Night (a fast style), the portrait's subject
and backdrop in two fast styles (one colour-coded mask), the lion's mane (a soft round mask over
the face, inverted) in a painting through the any-painting method, the sailboat's sea with a soft
gradient (Great Wave). Each row: photo, mask, result. The largest change outside every region is printed (the
photo must come back exactly there).

    python bench/quality_masks.py --size 512 --out bench/quality/masks.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from judge import DATA  # noqa: E402

from nst_core import stylize  # noqa: E402
from nst_core.images import load_image, resize_long_side  # noqa: E402
from nst_core.masks import load_regions  # noqa: E402
from nst_core.regions import FEATHER  # noqa: E402

CELL = 340


def _plain_from_border(photo: Image.Image, seeds: list[tuple[int, int]], tolerance: int) -> np.ndarray:
    """The plain area reached from `seeds` (flood fill within `tolerance` of neighbours), cleaned up: 0/255."""
    arr = cv2.GaussianBlur(np.asarray(photo), (5, 5), 0)
    h, w = arr.shape[:2]
    fill = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
    for x, y in seeds:
        cv2.floodFill(arr.copy(), fill, (x, y), 0, (tolerance,) * 3, (tolerance,) * 3, flags)
    mask = fill[1:-1, 1:-1]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    return cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)


def sky_mask(photo: Image.Image) -> Image.Image:
    w = photo.width
    return Image.fromarray(_plain_from_border(photo, [(x, 2) for x in range(5, w, w // 12)], 6))


def portrait_regions(photo: Image.Image) -> Image.Image:
    """Colour-coded: backdrop blue, subject red (two regions, one painting each)."""
    w, h = photo.size
    seeds = [(2, y) for y in range(2, h // 2, 20)] + [(w - 3, y) for y in range(2, h // 2, 20)]
    backdrop = _plain_from_border(photo, seeds, 4) > 0
    out = np.zeros((h, w, 3), np.uint8)
    out[backdrop] = (0, 0, 255)
    out[~backdrop] = (255, 0, 0)
    return Image.fromarray(out)


def sea_mask(photo: Image.Image) -> Image.Image:
    """Soft: 0 above the horizon, rising to full over a band below it, as a gradient brush would."""
    w, h = photo.size
    ramp = np.clip((np.arange(h) - 0.68 * h) / (0.08 * h), 0, 1)
    return Image.fromarray((np.repeat(ramp[:, None], w, 1) * 255).astype(np.uint8))


def face_mask(photo: Image.Image) -> Image.Image:
    """A soft ellipse over the lion's face, as a round brush would leave it."""
    w, h = photo.size
    m = np.zeros((h, w), np.uint8)
    cv2.ellipse(m, (w // 2, int(h * 0.56)), (int(w * 0.26), int(h * 0.33)), 0, 0, 360, 255, -1)
    return Image.fromarray(cv2.GaussianBlur(m, (0, 0), w * 0.02))


def _cell(im: Image.Image, caption: str) -> Image.Image:
    tile = Image.new("RGB", (CELL, CELL + 22), "white")
    im = im.convert("RGB")
    im.thumbnail((CELL, CELL))
    tile.paste(im, ((CELL - im.width) // 2, (CELL - im.height) // 2))
    ImageDraw.Draw(tile).text((6, CELL + 5), caption, fill="black")
    return tile


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "quality" / "masks.jpg")
    a = ap.parse_args(argv)
    photo = {n: resize_long_side(load_image(DATA / "content" / f"{n}.jpg"), a.size)
             for n in ("chicago", "brad_pitt", "sailboat", "lion")}  # fmt: skip
    paintings = [load_image(DATA / "styles" / "the_scream.jpg")]
    jobs = [
        ("chicago", sky_mask(photo["chicago"]), {"style": "starry_night"}, "sky: Starry Night (fast)"),
        ("brad_pitt", portrait_regions(photo["brad_pitt"]), {"style": ["the_scream", "starry_night"]},
         "subject: The Scream, backdrop: Starry Night (fast)"),
        ("lion", face_mask(photo["lion"]), {"method": "arbitrary", "style_images": paintings, "invert_mask": True},
         "the mane, face kept (inverted mask): The Scream (any painting)"),
        ("sailboat", sea_mask(photo["sailboat"]), {"style": "great_wave"}, "sea, soft edge: Great Wave (fast)"),
    ]  # fmt: skip
    rows = []
    for name, mask, kw, caption in jobs:
        out = stylize(photo[name], mask=mask, size=a.size, **kw)
        size = photo[name].size
        outside = (
            np.stack(
                load_regions(mask, size, invert=kw.get("invert_mask", False), feather=FEATHER * max(size)).weights
            ).sum(0)
            == 0
        )
        diff = np.abs(np.asarray(out, np.int16) - np.asarray(photo[name], np.int16))[outside]
        print(f"{name}: {outside.mean():.0%} of the picture outside every region (and its feather), "
              f"largest change there {int(diff.max()) if diff.size else 0}", flush=True)  # fmt: skip
        rows.append([_cell(photo[name], name), _cell(mask, "mask"), _cell(out, caption)])
    sheet = Image.new("RGB", (3 * CELL, len(rows) * (CELL + 22)), "white")
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * CELL, r * (CELL + 22)))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(a.out, quality=88)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
