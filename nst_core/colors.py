"""Colour preservation (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer").

Luminance-only transfer: stylise luminance, then put the content's chroma back. Both the Gatys engine and the
fast networks use these two functions, so "preserve colours" means the same thing everywhere.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _ycbcr(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB").convert("YCbCr"), dtype=np.float32)


def preserve_colors(stylized: Image.Image, content: Image.Image) -> Image.Image:
    """Luminance (Y) of `stylized` with the chroma (Cb, Cr) of `content` (resized to match if needed)."""
    if content.size != stylized.size:
        content = content.resize(stylized.size, Image.Resampling.LANCZOS)
    y = _ycbcr(stylized)[..., 0]
    cbcr = _ycbcr(content)[..., 1:]
    out = np.concatenate([y[..., None], cbcr], axis=-1).round().clip(0, 255).astype(np.uint8)
    return Image.fromarray(out, mode="YCbCr").convert("RGB")


def luminance(img: Image.Image) -> Image.Image:
    """The image's luminance as a 3-channel grey RGB image (what the loss network sees in colour-preserving mode)."""
    return img.convert("RGB").convert("L").convert("RGB")


def match_luminance(style: Image.Image, content: Image.Image) -> Image.Image:
    """Grey style image whose luminance mean/std match the content's, so only texture and contrast transfer."""
    s = np.asarray(style.convert("RGB").convert("L"), dtype=np.float32)
    c = np.asarray(content.convert("RGB").convert("L"), dtype=np.float32)
    matched = (s - s.mean()) * (c.std() / (s.std() + 1e-6)) + c.mean()
    return Image.fromarray(matched.round().clip(0, 255).astype(np.uint8), mode="L").convert("RGB")
