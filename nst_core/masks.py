"""Region masks: which part of the picture gets which style (issue #22).

A mask is a picture. Greyscale (or a picture whose alpha channel varies, as a brush on a transparent layer gives)
is one region, its grey level the weight, so soft edges stay soft. A colour picture is colour-coded: each colour
is a region (black is "leave the photo"), regions ordered by area, largest first; anti-aliased edge pixels go to the
nearest region colour. Every method blends its regions' results over the photo with these weights, so a
region left unstyled is the photo exactly; the arbitrary method also takes its content statistics per region and
Gatys uses guided Gram matrices (Gatys et al. 2017).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import OptionsError
from .images import ImageSource, load_image

__all__ = ["MAX_REGIONS", "Regions", "blend_regions", "load_regions"]

MAX_REGIONS = 8
_MIN_SHARE = 0.002  # a colour on fewer pixels than this is an edge or a speck, not a region
_GREY_TOLERANCE = 6  # channel spread up to this counts as grey (JPEG noise)


@dataclass
class Regions:
    """Per-region weights in 0..1 at the picture's size (H x W float32 each), and their colours (None: grey)."""

    weights: list[np.ndarray]
    colours: list[tuple[int, int, int] | None]

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.weights[0].shape
        return w, h

    def resized(self, size: tuple[int, int]) -> Regions:
        if size == self.size:
            return self
        out = [np.asarray(Image.fromarray(m).resize(size, Image.Resampling.BILINEAR)) for m in self.weights]
        return Regions([np.clip(m, 0, 1) for m in out], self.colours)

    def covered(self) -> np.ndarray:
        """Where any style goes: the sum of the regions' weights (at most 1)."""
        return np.clip(sum(self.weights), 0, 1)

    def describe(self) -> str:
        parts = []
        for i, (m, c) in enumerate(zip(self.weights, self.colours, strict=True), 1):
            name = f"#{c[0]:02x}{c[1]:02x}{c[2]:02x}" if c else "grey"
            parts.append(f"region {i} ({name}): {100 * float(m.mean()):.0f}% of the picture")
        return "; ".join(parts)


def _raw(source: ImageSource) -> Image.Image:
    """The mask as sent, mode kept (load_image checks limits and formats first; it returns RGB only)."""
    rgb = load_image(source, label=None if not isinstance(source, Image.Image) else "the mask")
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        import io

        return Image.open(io.BytesIO(bytes(source)))
    if hasattr(source, "read"):
        return rgb
    return Image.open(source)


def _single(raw: Image.Image) -> np.ndarray | None:
    """Weights of a one-region mask (alpha that varies, or grey levels), else None (colour-coded)."""
    if raw.mode in ("RGBA", "LA", "PA") or (raw.mode == "P" and "transparency" in raw.info):
        alpha = np.asarray(raw.convert("RGBA"), np.float32)[..., 3]
        if alpha.max() - alpha.min() > 0:
            return alpha / 255
    rgb = np.asarray(raw.convert("RGB"), np.int16)
    if raw.mode in ("L", "1", "I", "I;16", "F") or (rgb.max(2) - rgb.min(2)).max() <= _GREY_TOLERANCE:
        return rgb.mean(2).astype(np.float32) / 255
    return None


def _colour_regions(rgb: np.ndarray) -> Regions:
    flat = rgb.reshape(-1, 3)
    colours, counts = np.unique(flat // 8 * 8 + 4, axis=0, return_counts=True)  # JPEG noise folded
    keep = [(n, tuple(int(v) for v in c)) for c, n in zip(colours, counts, strict=True) if n >= _MIN_SHARE * len(flat)]
    keep.sort(key=lambda t: -t[0])
    palette = [c for _, c in keep if max(c) > 40]  # black (and near-black) is "no style"
    if len(palette) > MAX_REGIONS or sum(n for n, _ in keep) < 0.9 * len(flat):  # a photo is not a mask
        raise OptionsError(
            f"the mask has {len(palette)} colours; use at most {MAX_REGIONS} regions (one colour each, black for "
            "the rest), or a greyscale mask"
        )
    if not palette:
        return Regions([np.zeros(rgb.shape[:2], np.float32)], [None])
    centres = np.array([(0, 0, 0), *palette], np.float32)
    nearest = np.argmin(((flat[:, None, :].astype(np.float32) - centres[None]) ** 2).sum(2), axis=1)
    nearest = nearest.reshape(rgb.shape[:2])
    weights = [(nearest == i + 1).astype(np.float32) for i in range(len(palette))]
    return Regions(weights, list(palette))


def load_regions(
    source: ImageSource | Regions, size: tuple[int, int], *, invert: bool = False, feather: float = 0.0
) -> Regions:
    """The regions of a mask at `size` (width, height). `invert` swaps a one-region mask's inside and outside;
    `feather` (px) softens hard edges with a Gaussian blur."""
    if isinstance(source, Regions):
        regions = source
    else:
        raw = _raw(source)
        single = _single(raw)
        regions = Regions([single], [None]) if single is not None else _colour_regions(np.asarray(raw.convert("RGB")))
    if invert:
        if len(regions.weights) != 1:
            raise OptionsError("invert_mask works on a one-region (greyscale) mask, not on colour-coded regions")
        regions = Regions([1 - regions.weights[0]], regions.colours)
    regions = regions.resized(size)
    if feather > 0:
        import cv2

        regions = Regions([cv2.GaussianBlur(m, (0, 0), feather) for m in regions.weights], regions.colours)
    return regions


def blend_regions(photo: Image.Image, results: Sequence[Image.Image], regions: Regions) -> Image.Image:
    """The photo with each region's result laid over it by its weights: exactly the photo where no region is."""
    base = np.asarray(photo.convert("RGB"), np.float32)
    out = base.copy()
    for result, w in zip(results, regions.resized(photo.size).weights, strict=True):
        out += w[..., None] * (np.asarray(result.convert("RGB").resize(photo.size), np.float32) - base)
    return Image.fromarray(np.rint(out).clip(0, 255).astype(np.uint8))
