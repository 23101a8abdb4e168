"""Previews: the small picture shown beside a style's name, stylised by its own network from a built-in scene or a
photo, so a preview needs no data files."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from torch import nn

from ..fast.inference import apply_model

__all__ = ["PREVIEW_LONG_SIDE", "render_preview", "synthetic_preview_content"]

PREVIEW_LONG_SIDE = 256


def synthetic_preview_content(size: int = PREVIEW_LONG_SIDE) -> Image.Image:
    """A deterministic built-in scene (sky, hills, sun, house, stripes), so previews need no data files."""
    h = w = int(size)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    sky = yy < 0.55 * h + 0.08 * h * np.sin(xx / w * 6.0)
    t = (yy / h)[..., None]
    img[:] = (1 - t) * np.array([70, 130, 210]) + t * np.array([200, 225, 245])
    ground_t = ((yy - 0.5 * h) / (0.5 * h)).clip(0, 1)[..., None]
    ground = (1 - ground_t) * np.array([90, 160, 70]) + ground_t * np.array([40, 90, 40])
    img = np.where(sky[..., None], img, ground)
    pil = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    s = w / 256
    draw.ellipse([190 * s, 20 * s, 235 * s, 65 * s], fill=(250, 210, 60))
    draw.rectangle([40 * s, 120 * s, 110 * s, 185 * s], fill=(180, 70, 50))
    draw.polygon([(32 * s, 122 * s), (75 * s, 85 * s), (118 * s, 122 * s)], fill=(110, 40, 40))
    draw.rectangle([65 * s, 150 * s, 85 * s, 185 * s], fill=(60, 40, 30))
    for i in range(6):
        y0 = (200 + 9 * i) * s
        draw.rectangle([140 * s, y0, 240 * s, y0 + 4 * s], fill=(230, 230, 220) if i % 2 else (50, 50, 60))
    draw.ellipse([150 * s, 110 * s, 200 * s, 160 * s], outline=(255, 255, 255), width=max(1, int(3 * s)))
    return pil


def render_preview(model: nn.Module, content: Image.Image | None = None) -> Image.Image:
    """Stylise a small image with `model` where it lives (its dtype, no tiling: it is small)."""
    img = content.convert("RGB") if content is not None else synthetic_preview_content()
    w, h = img.size
    if max(w, h) > PREVIEW_LONG_SIDE:
        scale = PREVIEW_LONG_SIDE / max(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    return apply_model(model, img)
