"""Fit a result under a platform's upload limit without the user having to care.

Order of preference: lossless PNG, then a lossy format at falling quality, then smaller pixel sizes.
A stylised photo at 1024 px is usually 1-2 MB as PNG, so the later steps only matter for big outputs or
small limits (an unboosted Discord server, a company gateway).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

import nst_core

from .messages import BotError

LOSSY_QUALITIES = (90, 80, 70, 60, 50)
DOWNSCALE = 0.75
MIN_SIDE = 64
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


@dataclass(frozen=True)
class Encoded:
    data: bytes
    format: str  # PNG | JPEG | WEBP
    size: tuple[int, int]  # (width, height) of the encoded picture

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.format]

    def filename(self, stem: str) -> str:
        return f"{stem}.{self.ext}"


def encode_under_limit(img: Image.Image, limit: int, *, lossy: str = "WEBP") -> Encoded:
    """Smallest-loss encoding of `img` whose byte size is <= `limit`; raises BotError if even tiny fails."""
    lossy = lossy.upper()
    if lossy not in ("JPEG", "WEBP"):
        raise ValueError(f"lossy must be JPEG or WEBP, not {lossy!r}")
    data = nst_core.encode_image(img, format="PNG")
    if len(data) <= limit:
        return Encoded(data, "PNG", img.size)
    current = img
    while True:
        for quality in LOSSY_QUALITIES:
            data = nst_core.encode_image(current, format=lossy, quality=quality)
            if len(data) <= limit:
                return Encoded(data, lossy, current.size)
        w, h = current.size
        if max(w, h) <= MIN_SIDE:
            raise BotError("The result is too large to upload here, even when shrunk.")
        scale = max(DOWNSCALE, MIN_SIDE / max(w, h))
        current = nst_core.resize_long_side(img, max(1, round(max(w, h) * scale)))
