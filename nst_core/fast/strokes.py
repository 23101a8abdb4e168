"""Stroke size for fast styles: run the network at a working resolution, then restore the photo's fine detail.

A feed-forward network paints strokes of a fixed size in pixels (the size it was trained at, 256 px crops), so a
1024 px output looks like a 512 px one covered in tiny strokes. Running the network on a smaller copy makes the
strokes proportionally larger; upsampling alone would then blur the picture, so the detail the small copy lost
(the photo minus the photo shrunk and enlarged again: exactly what the working resolution cannot hold) is added
back to the luminance. Strokes come from the painting, edges and texture from the photo.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

AUTO_REFERENCE = 512  # `auto`: strokes look as they do at this long side...
AUTO_MAX_SCALE = 2.0  # ...enlarged at most this much (beyond it, detail restoration cannot hide the upscaling)
MAX_STROKE_SCALE = 4.0
DETAIL = 0.7  # share of the lost detail put back: all of it reads as the photo pasted over the painting


def resolve_stroke_scale(stroke_scale: float | None, long_side: int) -> float:
    """`None` (auto): 1 up to 512 px, then grows with the image so strokes keep their look, capped at 2."""
    if stroke_scale is None:
        return min(max(1.0, long_side / AUTO_REFERENCE), AUTO_MAX_SCALE)
    return float(stroke_scale)


def working_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The size the network runs at: `size` divided by `scale` (at least 1 px; the network pads tiny inputs)."""
    w, h = size
    return max(1, round(w / scale)), max(1, round(h / scale))


def restore_detail(stylised_small: Image.Image, photo: Image.Image, amount: float = DETAIL) -> Image.Image:
    """`stylised_small` enlarged to the photo's size, plus `amount` of the luminance detail the working copy lost."""
    size = photo.size
    up = np.asarray(stylised_small.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    lum = np.asarray(photo.convert("L"), dtype=np.float32)
    lost = lum - np.asarray(
        photo.convert("L").resize(stylised_small.size, Image.Resampling.LANCZOS).resize(size, Image.Resampling.BICUBIC),
        dtype=np.float32,
    )
    return Image.fromarray(np.rint(up + amount * lost[..., None]).clip(0, 255).astype(np.uint8))
