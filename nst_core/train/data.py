"""The data: scan a folder of photos, hold some out, and stream seeded random crops.

Every random choice (which photo, which crop, which flip) is a pure function of (seed, position in an endless
stream of per-epoch permutations). A checkpoint therefore only needs the step to continue the exact same
stream, whatever the number of DataLoader workers; DDP ranks take consecutive slices of the same global batch.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import ImageError, NSTError, OptionsError
from ..images import load_image
from .config import TrainConfig
from .dist import Ranks

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")


def find_images(root: str | os.PathLike) -> list[Path]:
    """All image files under `root` by suffix, sorted; hidden files and folders are ignored."""
    root = Path(root)
    found = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).parts
        if p.suffix.lower() in IMAGE_SUFFIXES and not any(s.startswith(".") for s in rel) and p.is_file():
            found.append(p)
    return sorted(found)


def _readable(path: Path) -> bool:
    """Header + structure check without decoding pixels (cheap); decode errors later are handled too."""
    try:
        with Image.open(path) as im:
            im.verify()
        return True
    except Exception:
        return False


def split_holdout(files: Sequence[Path], root: Path, count: int) -> tuple[list[Path], list[Path]]:
    """Held-out photos chosen by a hash of their relative path: stable when files are added or removed."""
    count = min(count, max(len(files) - 1, 0))

    def key(p: Path) -> str:
        return hashlib.sha1(p.relative_to(root).as_posix().encode()).hexdigest()

    val = set(sorted(files, key=key)[:count])
    return [p for p in files if p not in val], sorted(val)


def random_crop(img: Image.Image, size: int, crop_scale: float, rng: random.Random) -> Image.Image:
    """Square crop of side U(crop_scale, 1) x short side at a random place, resized to `size`, maybe flipped."""
    w, h = img.size
    side = max(1, round(min(w, h) * rng.uniform(crop_scale, 1.0)))
    left, top = rng.randint(0, w - side), rng.randint(0, h - side)
    out = img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))
    if rng.random() < 0.5:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return out


def center_crop(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side))


def _to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1)


class CropDataset(Dataset):
    """Keys are (file index, sample seed); a file that fails to decode is replaced by the next one and reported
    (its path), so the run counts each bad file once however often it is drawn."""

    def __init__(self, files: Sequence[Path], image_size: int, crop_scale: float) -> None:
        self.files, self.image_size, self.crop_scale = list(files), image_size, crop_scale

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, tuple[str, ...]]:
        index, seed = key
        rng = random.Random(seed)
        bad: list[str] = []
        for attempt in range(len(self.files)):
            path = self.files[(index + attempt) % len(self.files)]
            try:
                img = load_image(path)
            except ImageError:
                bad.append(str(path))
                continue
            return _to_uint8_tensor(random_crop(img, self.image_size, self.crop_scale, rng)), tuple(bad)
        raise NSTError("None of the training images could be decoded.")


def collate(batch: list[tuple[torch.Tensor, tuple[str, ...]]]) -> tuple[torch.Tensor, set[str]]:
    return torch.stack([t for t, _ in batch]), {p for _, bad in batch for p in bad}


def load_held_out(files: Sequence[Path], size: int) -> tuple[torch.Tensor | None, set[str]]:
    """Centre crops of the held-out photos; one that fails to decode is skipped (and reported), not fatal."""
    crops, bad = [], set()
    for p in files:
        try:
            crops.append(_to_uint8_tensor(center_crop(load_image(p), size)))
        except ImageError:
            bad.add(str(p))
    return (torch.stack(crops) if crops else None), bad


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


class StreamBatchSampler(Sampler[list[tuple[int, int]]]):
    """Global batch `s` is positions [s*B*W, (s+1)*B*W) of an endless stream of seeded per-epoch
    permutations; rank r takes the r-th slice of B. Starting at `start_step` is how resume skips ahead."""

    def __init__(
        self, n: int, batch_size: int, seed: int, start_step: int, total_steps: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start_step, self.total_steps, self.rank, self.world_size = start_step, total_steps, rank, world_size

    def __len__(self) -> int:
        return max(self.total_steps - self.start_step, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        perm_epoch, perm = -1, None
        for step in range(self.start_step, self.total_steps):
            base = (step * self.world_size + self.rank) * self.batch_size
            keys = []
            for pos in range(base, base + self.batch_size):
                epoch, i = divmod(pos, self.n)
                if epoch != perm_epoch:
                    perm_epoch, perm = epoch, epoch_permutation(self.n, self.seed, epoch)
                keys.append((int(perm[i]), self.seed * 1_000_000_007 + pos))
            yield keys


@dataclass(frozen=True)
class Photos:
    """The readable photos of a dataset, split; `skipped` counts the unreadable files left out."""

    root: Path
    train: list[Path]
    val: list[Path]
    skipped: int


def scan_photos(dataset: str, val_count: int) -> Photos:
    """Find, check and split the photos; a dataset without a single training photo is refused now."""
    root = Path(dataset)
    candidates = find_images(root)
    files = [p for p in candidates if _readable(p)]
    skipped = len(candidates) - len(files)
    train_files, val_files = split_holdout(files, root, val_count)
    if not train_files:
        raise OptionsError(f"No readable training images under {root} ({skipped} unreadable files skipped).")
    return Photos(root, train_files, val_files, skipped)


def planned_steps(cfg: TrainConfig, train_photos: int, global_batch: int) -> int:
    """--steps, else --epochs (default 2) passes over the training photos."""
    if cfg.steps is not None:
        return cfg.steps
    return math.ceil((cfg.epochs or 2.0) * train_photos / global_batch)


def make_loader(files: Sequence[Path], cfg: TrainConfig, start_step: int, total_steps: int, ranks: Ranks) -> DataLoader:
    """The stream from `start_step` on, this rank's slice; workers default to 0 on CPU, up to 8 on CUDA."""
    cuda = ranks.device.type == "cuda"
    sampler = StreamBatchSampler(len(files), cfg.batch_size, cfg.seed, start_step, total_steps, *ranks.slice)
    workers = cfg.workers if cfg.workers is not None else (min(8, os.cpu_count() or 1) if cuda else 0)
    return DataLoader(
        CropDataset(files, cfg.image_size, cfg.crop_scale),
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=cuda,
    )
