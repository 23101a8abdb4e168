"""Crops for the arbitrary-style training: photos and (optionally) paintings, every choice a pure function of
(seed, step), so `--resume` needs only the step to continue the same stream."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ...errors import NSTError
from ...images import load_image, resize_long_side
from ..data import find_images, random_crop

PAINTING_LONG_SIDE = 1024  # paintings are held decoded at this size at most


def _tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)


class CropStream:
    """`batch(step)` -> (crops, styles): uint8 (B, 3, S, S) tensors. `crops` mixes photos and paintings (the
    encoder and decoders must handle both); `styles` are painting crops (or other photos when no painting is
    given) for the painted-features term of phase 2."""

    def __init__(self, dataset: str, paintings: Sequence[str], size: int, fraction: float, seed: int) -> None:
        self.photos = find_images(dataset)
        if not self.photos:
            raise NSTError(f"no photos found under {dataset}")
        self.paintings = [resize_long_side(load_image(p), PAINTING_LONG_SIDE) for p in paintings]
        self.size, self.fraction, self.seed = size, fraction if self.paintings else 0.0, seed

    def _photo(self, rng: random.Random) -> Image.Image:
        for _ in range(10):
            path = rng.choice(self.photos)
            try:
                return random_crop(Image.open(path).convert("RGB"), self.size, 0.6, rng)
            except (OSError, ValueError):
                continue
        raise NSTError("ten photos in a row could not be read; check the dataset")

    def _painting(self, rng: random.Random) -> Image.Image:
        img = rng.choice(self.paintings)
        short = rng.uniform(self.size, max(self.size, min(img.size)))  # a random brush scale
        img = img.resize(
            (
                max(self.size, round(img.width * short / min(img.size))),
                max(self.size, round(img.height * short / min(img.size))),
            ),
            Image.Resampling.BILINEAR,
        )
        return random_crop(img, self.size, 1.0, rng)

    def batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = random.Random(self.seed * 1_000_003 + step)
        crops = [self._painting(rng) if rng.random() < self.fraction else self._photo(rng) for _ in range(batch_size)]
        styles = [self._painting(rng) if self.paintings else self._photo(rng) for _ in range(batch_size)]
        return torch.stack([_tensor(c) for c in crops]), torch.stack([_tensor(s) for s in styles])


def photo_files(dataset: str) -> list[Path]:
    return find_images(dataset)
