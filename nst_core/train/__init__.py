"""Train a feed-forward style network (Johnson et al. 2016) for one painting; nanoGPT-style, top to bottom.

    python -m nst_core.train --style-image starry.jpg --dataset photos/ --name starry --steps 2000
    torchrun --nproc_per_node 8 -m nst_core.train ...        # multi-GPU / multi-node, PyTorch's own DDP

Why it is built this way:
- Every random choice of the data pipeline (which image, which crop, which flip) is a pure function of
  (seed, position in an endless stream of per-epoch permutations). A checkpoint therefore only needs the step
  to continue the exact same stream, whatever the number of DataLoader workers, and `--resume` after a crash
  or kill gives bit-for-bit the weights an uninterrupted run gives (on CPU; cuDNN is not bitwise stable).
- DDP ranks take consecutive slices of the same global batch, so N ranks x batch B sees exactly the images that
  one process with batch N*B would see.
- The loss is `losses.PerceptualLoss` (the same scale-normalised objective as Gatys); the loss network runs in
  bf16 on CUDA but hands back float32 activations, so Gram matrices are always float32.
- Only rank 0 writes (checkpoints, previews, the registry entry) and prints.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from .. import styles
from ..argparsing import ArgumentParser
from ..atomic import atomic_write
from ..device import (
    MEMORY_FORMATS,
    PRECISIONS,
    DeviceProfile,
    device_label,
    make_profile,
    normalise_memory_format,
    normalise_precision,
    resolve_device,
)
from ..errors import ImageError, NSTError, OptionsError, WeightsError
from ..images import load_image, pil_to_tensor, resize_long_side
from ..losses import PerceptualLoss
from ..lossnets import get_spec, list_loss_nets, load_loss_net
from ..safeload import torch_load
from ..transformer_net import LIGHT, REFERENCE, TransformerConfig, TransformerNet

# ----------------------------------------------------------------------------------------------- configuration
ARCHS: dict[str, TransformerConfig] = {"reference": REFERENCE, "light": LIGHT}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
CHECKPOINT_NAME = "checkpoint.pt"
# The Gatys style weight (its content is preserved by starting from the photo) is too strong for a network that
# must first learn to reproduce content at all: with VGG-19 on starry_night, 150 steps at 128 px gave content at
# style 3, only texture at 8, 15 and 50. Hence the *opposite* of the folklore "feed-forward needs more style".
FEEDFORWARD_STYLE_FACTOR = 0.5
RANDOM_WEIGHTS = "random"  # --loss-net-weights random: seeded random init, for tests and smoke runs
ESTIMATE_AFTER = 5  # steps measured before the run's duration is estimated and printed
BUILTIN_PREVIEW = "builtin"  # --preview-image builtin: the registry's synthetic scene (used for bundled styles)


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in checkpoints and in the style's JSON."""

    style_image: str = ""
    dataset: str = ""
    name: str = ""
    out: str | None = None  # registry folder; default: first of $NST_WEIGHTS_DIR, else the repo's weights/
    run_dir: str | None = None  # checkpoints + previews; default runs/NAME
    steps: int | None = None  # exactly one of steps / epochs (default: 2 epochs)
    epochs: float | None = None
    batch_size: int = 4  # per process
    image_size: int = 256  # square training crops
    crop_scale: float = 0.6  # crop side is uniform in [crop_scale, 1] x the photo's short side
    style_size: int | None = None  # long side of the style image; default 2 x image_size
    content_layers: str | None = None  # comma-separated loss-net layers; default: the loss net's
    content_weight: float | None = None  # None: loss-net defaults (style x FEEDFORWARD_STYLE_FACTOR)
    style_weight: float | None = None
    tv_weight: float | None = None
    lr: float = 1e-3
    seed: int = 42
    loss_net: str = "vgg19"
    loss_net_weights: str | None = None  # path, "random", or None (lossnets' resolution order)
    arch: str = "auto"  # light | reference | auto (reference on CUDA, light elsewhere)
    init_from: str | None = None  # start from a trained style (name or .safetensors) instead of random weights
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16: autocast of both networks (see nst_core.device)
    memory_format: str = "auto"  # auto | channels_last | contiguous
    compile: bool = False
    threads: int | None = None  # CPU threads for torch; None: torch's default. 1 is often fastest on busy hosts
    workers: int | None = None  # DataLoader workers; None: 0 on CPU, min(8, cores) on CUDA
    val_count: int = 8  # held-out photos for previews and the final evaluation
    log_every: int = 10
    preview_every: int = 500
    checkpoint_every: int = 500
    checkpoint_minutes: float = 15.0  # also checkpoint when this much time passed (slow CPU runs)
    max_minutes: float | None = None  # time budget of this session: then checkpoint, evaluate and install
    resume: bool = False
    overwrite: bool = False
    force: bool = False  # replace an installed style of the same name
    # registry metadata
    display_name: str | None = None
    artist: str = ""
    title: str = ""
    notes: str = ""
    preview_image: str | None = None
    command: str | None = None  # how the run was started (set by the CLI; recorded in the style's JSON)

    def validate(self) -> None:
        styles.validate_name(self.name)
        if not self.style_image:
            raise OptionsError("--style-image is required.")
        if not self.dataset or not Path(self.dataset).is_dir():
            raise OptionsError(f"--dataset must be a folder of images, got {self.dataset!r}.")
        if self.steps is not None and self.epochs is not None:
            raise OptionsError("Give --steps or --epochs, not both.")
        for key, (lo, hi, whole) in BOUNDS.items():
            _check_bound(key, getattr(self, key), lo, hi, whole)
        if self.loss_net not in list_loss_nets():
            raise OptionsError(f"--loss-net must be one of {', '.join(list_loss_nets())}.")
        if self.arch not in (*ARCHS, "auto"):
            raise OptionsError(f"--arch must be one of {', '.join([*ARCHS, 'auto'])}.")
        normalise_precision(self.precision)
        normalise_memory_format(self.memory_format)


# Every number a user gives, bounded (lo, hi, whole number?): infinities, NaN and absurd values are refused with
# the range, before anything is built. Optional ones (None) are skipped.
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "steps": (1, 10_000_000, True), "epochs": (1e-3, 100_000, False), "batch_size": (1, 256, True),
    "image_size": (16, 4096, True), "crop_scale": (0.01, 1, False), "style_size": (16, 8192, True),
    "content_weight": (0, 1e12, False), "style_weight": (0, 1e12, False), "tv_weight": (0, 1e12, False),
    "lr": (1e-12, 1, False), "seed": (0, 2**32 - 1, True), "threads": (1, 1024, True), "workers": (0, 64, True),
    "val_count": (0, 10_000, True), "log_every": (1, 10_000_000, True), "preview_every": (0, 10_000_000, True),
    "checkpoint_every": (0, 10_000_000, True), "checkpoint_minutes": (0.01, 1e6, False),
    "max_minutes": (1e-6, 1e6, False),
}  # fmt: skip


def _check_bound(key: str, value: Any, lo: float, hi: float, whole: bool) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and whole:
        ok = float(value).is_integer()
    if not ok or not lo <= value <= hi:
        kind = "a whole number" if whole else "a number"
        raise OptionsError(f"--{key.replace('_', '-')} must be {kind} from {lo:g} to {hi:g}, not {value!r}.")


# Fields that may differ between a run and its --resume (they do not change the weights).
RUN_ONLY_FIELDS = frozenset({
    "out", "run_dir", "steps", "epochs", "device", "compile", "threads", "workers", "log_every", "preview_every",
    "checkpoint_every", "checkpoint_minutes", "max_minutes", "resume", "precision", "memory_format",
    "overwrite", "force", "display_name", "artist",
    "title", "notes", "preview_image", "command", "style_image", "dataset", "loss_net_weights", "init_from",
})  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m nst_core.train",
        description="Train a fast (feed-forward) style network and install it in the style registry.",
    )
    a = p.add_argument
    a("--style-image", required=True, help="the painting to learn")
    a("--dataset", required=True, help="any folder tree of photos (unreadable files are skipped)")
    a("--name", required=True, help="style name in the registry (lowercase, digits, _ and -)")
    a("--out", help="registry folder (default: first $NST_WEIGHTS_DIR entry, else the repo's weights/)")
    a("--run-dir", help="checkpoints and previews (default: runs/NAME)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, help="optimiser steps (default: 2 epochs)")
    g.add_argument("--epochs", type=float, help="passes over the training photos")
    a("--batch-size", type=int, default=4, help="photos per step and per process (default 4)")
    a("--image-size", type=int, default=256, help="training crop size in px (default 256)")
    a("--crop-scale", type=float, default=0.6, help="smallest crop as a fraction of the short side (0.6)")
    a("--style-size", type=int, help="long side of the style image in px (default 2 x image size)")
    a(
        "--content-layers",
        help="comma-separated loss-network layers for the content term (default: the "
        "network's, relu4_2 for VGG-19); adding a shallower one (relu2_2) keeps more of the photo's structure",
    )
    a("--content-weight", type=float, help="default: the loss network's")
    a("--style-weight", type=float, help=f"default: the loss network's x {FEEDFORWARD_STYLE_FACTOR:g}")
    a("--tv-weight", type=float, help="default: the loss network's")
    a("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    a("--seed", type=int, default=42)
    a("--loss-net", default="vgg19", choices=list_loss_nets())
    a("--loss-net-weights", help=f"weights file; '{RANDOM_WEIGHTS}' = random init (tests only)")
    a("--arch", default="auto", choices=[*ARCHS, "auto"], help="TransformerNet size (auto: reference on CUDA)")
    a(
        "--init-from",
        help="fine-tune a trained style (registry name or .safetensors file) instead of starting "
        "from random weights: it already reproduces content, so a new style or style weight needs far fewer steps",
    )
    a("--device", default="auto", help="auto | cpu | cuda | mps (DDP: one GPU per process)")
    a(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="autocast dtype (auto: bf16 on CUDA and on CPUs with native bf16, else fp32)",
    )
    a(
        "--memory-format",
        default="auto",
        choices=MEMORY_FORMATS,
        help="tensor layout (auto: channels_last with bf16 or on CUDA)",
    )
    a("--compile", action="store_true", help="torch.compile the network")
    a("--threads", type=int, help="torch CPU threads (default: torch's; 1 is fastest on an oversubscribed CPU)")
    a("--workers", type=int, help="DataLoader workers (default: 0 on CPU, up to 8 on CUDA)")
    a("--val-count", type=int, default=8, help="held-out photos for previews and evaluation (default 8)")
    a("--log-every", type=int, default=10)
    a("--preview-every", type=int, default=500, help="steps between preview grids (0: never)")
    a("--checkpoint-every", type=int, default=500, help="steps between checkpoints (0: only time-based)")
    a("--checkpoint-minutes", type=float, default=15.0, help="also checkpoint after this many minutes")
    a("--max-minutes", type=float, help="time budget: stop after it, checkpoint, evaluate and install the style")
    a("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt when there is one")
    a("--overwrite", action="store_true", help="start afresh even if RUN_DIR holds a checkpoint")
    a("--force", action="store_true", help="replace an installed style of the same name (refused otherwise)")
    a("--display-name", help="menu name (default: the name, title-cased)")
    a("--artist", default="")
    a("--title", default="")
    a("--notes", default="", help="free text stored with the style, e.g. how it was trained")
    a(
        "--preview-image",
        help=f"photo for the registry preview (default: a held-out photo; '{BUILTIN_PREVIEW}': a "
        "built-in synthetic scene, so no dataset photo ships with the style)",
    )
    return p


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    ns = vars(build_parser().parse_args(argv))
    return TrainConfig(**{f.name: ns[f.name] for f in fields(TrainConfig) if f.name in ns})


# -------------------------------------------------------------------------------------------------------- data
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


# -------------------------------------------------------------------------------------------------- checkpoints
def capture_rng(device: torch.device) -> dict[str, Any]:
    """RNG states as tensors and plain types, so the checkpoint loads with weights_only=True."""
    _, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(np_key.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic and fsynced: a kill leaves the old checkpoint or the new one."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch_load(path, "training checkpoint")
    except WeightsError as e:
        raise WeightsError(f"{e}; delete it or pass --overwrite to start afresh") from None


# ------------------------------------------------------------------------------------------------ small helpers
class _StopRequest:
    """SIGINT/SIGTERM/SIGHUP (a closed terminal or ssh session) ask for a clean stop after the current step, with
    a checkpoint; a 2nd Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())):
                if signal.getsignal(sig) is signal.SIG_IGN:  # started under nohup: logging out must not stop it
                    continue
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class TrainingDiverged(NSTError):
    """The loss became NaN or infinite: nothing is installed and no checkpoint of the broken weights is written."""


class TrainingStopped(NSTError):
    """Raised after a requested stop; the checkpoint is saved, --resume continues."""


def _device_label(device: torch.device, world_size: int) -> str:
    name = device_label(device)
    return f"{name} x {world_size}" if world_size > 1 else name


def _preview_content(cfg: TrainConfig) -> Image.Image | None:
    """The photo the registry preview is rendered from: None for the built-in scene or a held-out photo."""
    if not cfg.preview_image or cfg.preview_image == BUILTIN_PREVIEW:
        return None
    try:
        return load_image(cfg.preview_image)
    except ImageError as e:
        raise OptionsError(f"--preview-image: {e}") from None


def _portable_command(argv: Sequence[str]) -> str:
    """How this run was started, file paths reduced to their names (no local paths in shipped metadata)."""

    def name(arg: str) -> str:
        flag, eq, value = arg.rpartition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
        return flag + eq + (Path(value).name if os.sep in value else value)

    args = [name(a) for a in argv]
    return " ".join(["python -m nst_core.train", *args])


def _portable_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config for the style's JSON: file paths reduced to names (no local paths in shipped metadata)."""
    d = asdict(cfg)
    for key in ("style_image", "dataset", "loss_net_weights", "preview_image", "out", "run_dir", "init_from"):
        if d.get(key) and d[key] not in (RANDOM_WEIGHTS, BUILTIN_PREVIEW):
            d[key] = Path(d[key]).name
    return d


@torch.no_grad()
def stylise(model: nn.Module, x_uint8: torch.Tensor, profile: DeviceProfile) -> torch.Tensor:
    """Run the net on a uint8 batch; returns float 0..255 (clamped) on the CPU."""
    with profile.autocast():
        y = model(profile.format(x_uint8.to(profile.device).float()))
    return y.float().clamp(0, 255).cpu()


def preview_grid(model: nn.Module, val: torch.Tensor, profile: DeviceProfile) -> Image.Image:
    """Held-out photos on the top row, their stylisations below."""
    x = val[:4]
    y = stylise(model, x, profile).round().to(torch.uint8)
    rows = [torch.cat(list(x), dim=2), torch.cat(list(y), dim=2)]
    return Image.fromarray(torch.cat(rows, dim=1).permute(1, 2, 0).numpy())


@torch.no_grad()
def evaluate(
    model: nn.Module, criterion: PerceptualLoss, val: torch.Tensor, batch_size: int, profile: DeviceProfile
) -> dict[str, float]:
    """Mean unweighted content/style/tv terms and weighted total over held-out photos (outputs clamped)."""
    sums: dict[str, float] = {}
    for i in range(0, len(val), batch_size):
        x = profile.format(val[i : i + batch_size].to(profile.device).float())
        y = profile.format(stylise(model, x, profile).to(profile.device))
        with profile.autocast():
            total, terms = criterion(y / 255, criterion.content_targets(x / 255))
        for k, v in {**terms, "total": total}.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(x)
    return {k: v / len(val) for k, v in sums.items()}


# ------------------------------------------------------------------------------------------------------ training
def train(cfg: TrainConfig, *, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run (or resume) training and install the style; returns a summary (on rank 0; {} on other ranks).

    `on_step(step)` is called after every completed step (tests use it to simulate a crash).
    """
    cfg.validate()

    # ---- set-up: distributed, device, seeds
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    ddp = world_size > 1
    rank = int(os.environ.get("RANK", "0")) if ddp else 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if ddp else 0
    device = resolve_device(cfg.device)
    if ddp and device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if ddp:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    master = rank == 0
    try:
        return _train(cfg, device, rank, world_size, master, on_step)
    finally:
        if ddp and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    device: torch.device,
    rank: int,
    world_size: int,
    master: bool,
    on_step: Callable[[int], None] | None,
) -> dict[str, Any]:
    def log(msg: str) -> None:
        if master:
            (bar.write if bar is not None and not bar.disable else print)(msg, file=sys.stderr)

    bar = None
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    profile = make_profile(device, cfg.precision, cfg.memory_format)
    spec = get_spec(cfg.loss_net)
    cfg.content_weight = (
        cfg.content_weight if cfg.content_weight is not None else spec.default_weights.get("content_weight", 1.0)
    )
    cfg.style_weight = (
        cfg.style_weight
        if cfg.style_weight is not None
        else spec.default_weights.get("style_weight", 10.0) * FEEDFORWARD_STYLE_FACTOR
    )
    cfg.tv_weight = cfg.tv_weight if cfg.tv_weight is not None else spec.default_weights.get("tv_weight", 100.0)
    cfg.style_size = cfg.style_size or 2 * cfg.image_size
    content_layers = tuple(cfg.content_layers.split(",")) if cfg.content_layers else spec.content_layers
    for layer in content_layers:
        spec.index(layer)  # an unknown layer is an OptionsError naming the known ones
    out_dir = Path(cfg.out) if cfg.out else styles.weights_dirs()[0]
    run_dir = Path(cfg.run_dir) if cfg.run_dir else Path("runs") / cfg.name
    ckpt_path = run_dir / CHECKPOINT_NAME
    if master:  # every output place is checked before any work: no run dies at its end for a typo in --out
        styles.check_writable_dir(out_dir, "--out")
        styles.check_writable_dir(run_dir, "--run-dir")
    preview_content = _preview_content(cfg)  # a missing --preview-image fails now, not after training

    # ---- checkpoint (read before anything is built: it decides the network and where the data stream starts)
    ckpt = None
    if ckpt_path.is_file():
        if cfg.resume:
            ckpt = load_checkpoint(ckpt_path)
        elif not cfg.overwrite:
            raise OptionsError(f"{ckpt_path} exists: pass --resume to continue it or --overwrite to start afresh.")
    elif cfg.resume:
        log(f"nothing to resume in {run_dir}; starting afresh")
    init = None  # --init-from's (config, weights, history); a resumed run has its weights and history already
    if ckpt is not None:
        init_history = ckpt.get("init_from")
        arch = ckpt["config"]["arch"] if cfg.arch == "auto" else cfg.arch
    elif cfg.init_from:
        init = _initial_weights(cfg.init_from)
        arch, init_history = _arch_of(init[0], cfg.arch), init[2]
    else:
        init_history = None
        arch = cfg.arch if cfg.arch != "auto" else ("reference" if device.type == "cuda" else "light")
    cfg.arch = arch
    if ckpt is None and not cfg.force:  # continuing a run may replace what its earlier session installed
        styles.check_name_free(cfg.name, out_dir)
    if ckpt is not None:
        _check_resumable(ckpt["config"], cfg, log)
        if ckpt.get("world_size", world_size) != world_size:
            log(
                f"warning: checkpoint was trained on {ckpt['world_size']} processes, now {world_size}: "
                "the global batch changes, so the result will differ from an uninterrupted run"
            )
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)

    # ---- data
    root = Path(cfg.dataset)
    candidates = find_images(root)
    files = [p for p in candidates if _readable(p)]
    skipped = len(candidates) - len(files)
    train_files, val_files = split_holdout(files, root, cfg.val_count)
    if not train_files:
        raise OptionsError(f"No readable training images under {root} ({skipped} unreadable files skipped).")
    global_batch = cfg.batch_size * world_size
    total_steps = (
        cfg.steps if cfg.steps is not None else math.ceil((cfg.epochs or 2.0) * len(train_files) / global_batch)
    )
    start_step = int(ckpt["step"]) if ckpt else 0
    if start_step >= total_steps:
        log(f"this run already finished ({start_step} of {total_steps} steps); installing its result again")
    log(
        f"{len(train_files)} training photos, {len(val_files)} held out, {skipped} unreadable skipped; "
        f"{total_steps} steps of {global_batch} ({total_steps * global_batch / len(train_files):.2f} epochs)"
    )
    sampler = StreamBatchSampler(len(train_files), cfg.batch_size, cfg.seed, start_step, total_steps, rank, world_size)
    workers = cfg.workers if cfg.workers is not None else (min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)
    loader = DataLoader(
        CropDataset(train_files, cfg.image_size, cfg.crop_scale),
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    val, bad_files = load_held_out(val_files, cfg.image_size)

    # ---- model, optimiser, loss
    raw_model = TransformerNet(ARCHS[arch]).to(device)
    if ckpt:
        raw_model.load_state_dict(ckpt["model"])
    elif init is not None:
        raw_model.load_state_dict(init[1])
        log(f"initialised from {cfg.init_from}")
    raw_model = raw_model.to(memory_format=profile.memory_format)
    optimizer = torch.optim.Adam(raw_model.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler(device.type, enabled=profile.precision == "fp16")
    if ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
        restore_rng(ckpt["rng"], device)
    model: nn.Module = torch.compile(raw_model) if cfg.compile else raw_model
    if world_size > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    random_net = cfg.loss_net_weights == RANDOM_WEIGHTS
    net = load_loss_net(
        cfg.loss_net,
        None if random_net else cfg.loss_net_weights,
        device=device,
        layers=[*content_layers, *spec.style_layers],
        pretrained=not random_net,
    )
    net = net.to(memory_format=profile.memory_format)
    criterion = PerceptualLoss(
        net,
        content_layers,
        spec.style_layers,
        spec.style_layer_weights,
        cfg.content_weight,
        cfg.style_weight,
        cfg.tv_weight,
    )
    style_pil = resize_long_side(load_image(cfg.style_image), cfg.style_size)
    with profile.autocast():
        criterion.set_style([profile.format(pil_to_tensor(style_pil, device))])  # the style Grams, once
    log(
        f"{arch} TransformerNet ({raw_model.num_parameters / 1e6:.2f} M params) on {_device_label(device, world_size)}"
        f", {profile.describe()}; loss net {cfg.loss_net} ({net.source}); weights content "
        f"{cfg.content_weight:g} style {cfg.style_weight:g} tv {cfg.tv_weight:g}"
    )

    # ---- the loop: every step train; every N steps log / preview / checkpoint
    def checkpoint(step: int) -> None:
        if master and all(bool(torch.isfinite(p).all()) for p in raw_model.parameters()):
            save_checkpoint(
                ckpt_path,
                {
                    "model": raw_model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "config": asdict(cfg),
                    "rng": capture_rng(device),
                    "world_size": world_size,
                    "init_from": init_history,
                    "stats": {"losses": dict(ema), "train_seconds": train_seconds, "images": images_done},
                },
            )

    stats = ckpt["stats"] if ckpt else {}
    ema: dict[str, float] = dict(stats.get("losses", {}))
    train_seconds, images_done = float(stats.get("train_seconds", 0.0)), int(stats.get("images", 0))
    session_seconds, session_images = 0.0, 0
    last_ckpt_time = session_start = time.monotonic()
    step, stopped_early = start_step, ""
    if master:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=start_step, desc=cfg.name, unit="step", disable=None, dynamic_ncols=True)
    model.train()
    t0 = time.perf_counter()  # throughput counts data loading, not previews/checkpoints/evaluation
    with _StopRequest() as stop:
        for batch, bad in loader:
            x = batch.to(device, non_blocking=True).float()  # RGB 0..255, what TransformerNet takes
            x = profile.format(x)
            with profile.autocast():
                y = model(x)
                total, terms = criterion(y.float() / 255, criterion.content_targets(x / 255))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()  # fp16 only: the scaler keeps small gradients from underflowing
            scaler.step(optimizer)
            scaler.update()
            step += 1
            bad_files |= bad

            log_now = step % cfg.log_every == 0 or step == total_steps or step == start_step + 1
            if log_now:  # .item() syncs the GPU: only at log steps, so the queue stays full otherwise
                vals = _mean_over_ranks({**terms, "total": total}, device, world_size)
                ema = {k: v if k not in ema else 0.8 * ema[k] + 0.2 * v for k, v in vals.items()}
            # a CPU checks every step (free); a GPU at log steps (each check waits for the GPU)
            last = step == total_steps or (
                cfg.max_minutes is not None and time.monotonic() - session_start > 60 * cfg.max_minutes
            )
            diverged = (log_now or last or device.type == "cpu") and not bool(torch.isfinite(total.detach()))
            dt = time.perf_counter() - t0  # on CUDA exact over each log interval (synced above)
            session_seconds, session_images = session_seconds + dt, session_images + global_batch
            train_seconds, images_done = train_seconds + dt, images_done + global_batch
            if log_now and bar is not None:
                bar.set_postfix({k: f"{v:.3g}" for k, v in ema.items()}, refresh=False)
                rate = session_images / session_seconds
                if bar.disable:  # not a terminal (a log file): plain lines instead of a redrawn bar, with an ETA
                    left = (total_steps - step) * global_batch / rate
                    if cfg.max_minutes is not None:  # the time budget ends the session first
                        left = min(left, 60 * cfg.max_minutes - (time.monotonic() - session_start))
                    eta = _duration(max(left, 0.0))
                    log(
                        f"step {step}/{total_steps} "
                        + " ".join(f"{k} {v:.4g}" for k, v in ema.items())
                        + f"  {rate:.2f} img/s  eta {eta}"
                    )
            if step == start_step + ESTIMATE_AFTER and step < total_steps:
                left = (total_steps - step) * global_batch * session_seconds / session_images
                log(
                    f"estimated time for the remaining {total_steps - step} steps: {_duration(left)} at "
                    f"{session_images / session_seconds:.2f} images/s"
                    + (
                        f" (the --max-minutes budget stops it after {cfg.max_minutes:g} min)"
                        if cfg.max_minutes and left > 60 * cfg.max_minutes
                        else ""
                    )
                )
            if bar is not None:
                bar.update(1)
            if master and val is not None and cfg.preview_every and step % cfg.preview_every == 0:
                preview_grid(raw_model, val, profile).save(
                    _mkdir(run_dir / "previews") / f"step_{step:07d}.jpg", quality=90
                )
            timed = time.monotonic() - last_ckpt_time > 60 * cfg.checkpoint_minutes
            if step == total_steps or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or timed:
                checkpoint(step)
                last_ckpt_time = time.monotonic()
            over_time = cfg.max_minutes is not None and time.monotonic() - session_start > 60 * cfg.max_minutes
            signalled, over_time, diverged = _all_ranks_agree([stop.requested, over_time, diverged], device, world_size)
            if diverged:
                if bar is not None:
                    bar.close()
                raise TrainingDiverged(
                    f"training diverged at step {step}: the loss is no longer a finite number, so nothing was "
                    f"installed; the last good checkpoint (if any) is kept in {run_dir}. Try a lower --lr "
                    f"(now {cfg.lr:g}) and start afresh with --overwrite"
                )
            if over_time and step < total_steps:
                checkpoint(step)
                stopped_early = f"time budget of {cfg.max_minutes:g} min reached at step {step} of {total_steps}"
                log(stopped_early + "; finishing (continue later with --resume)")
                break
            if signalled:
                checkpoint(step)
                if bar is not None:
                    bar.close()
                log(f"stopped at step {step}; checkpoint saved in {ckpt_path}. Continue with --resume.")
                raise TrainingStopped(f"Stopped at step {step}; continue with --resume.")
            if on_step is not None:
                on_step(step)
            t0 = time.perf_counter()
    if bar is not None:
        bar.close()
    if not master:
        return {}

    # ---- finish: evaluate on held-out photos, install in the registry
    raw_model.eval()
    # a resumed run that had nothing left to do keeps the throughput its training sessions measured
    ips = session_images / session_seconds if session_seconds else images_done / max(train_seconds, 1e-9)
    evaluation = evaluate(raw_model, criterion, val, cfg.batch_size, profile) if val is not None else {}
    if preview_content is None and not cfg.preview_image and val is not None:
        preview_content = Image.fromarray(val[0].permute(1, 2, 0).numpy())  # a held-out photo
    meta = {
        "display_name": cfg.display_name,  # None: the registry's default, from the name
        "artist": cfg.artist,
        "title": cfg.title,
        "style_image": Path(cfg.style_image).name,
        "method": "feed-forward (Johnson et al. 2016), normalised perceptual loss",
        "command": cfg.command,
        "training": {k: v for k, v in _portable_config(cfg).items() if k != "command"},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": _device_label(device, world_size),
        "steps": step,
        "planned_steps": total_steps,
        "stopped_early": stopped_early,
        "images_seen": images_done,
        "train_seconds": round(train_seconds, 1),
        "images_per_s": round(ips, 3),
        "dataset": {
            "name": root.resolve().name,
            "train_images": len(train_files),
            "held_out": 0 if val is None else len(val),
            "skipped_unreadable": skipped + len(bad_files),
        },
        "loss_net": {
            "name": cfg.loss_net,
            "weights": net.source.split("/")[-1],
            "convention": net.convention,
            "content_layers": list(content_layers),
            "style_layers": list(spec.style_layers),
        },
        "init_from": init_history,
        "final_losses": {k: round(v, 6) for k, v in ema.items()},
        "eval": {"held_out_images": 0 if val is None else len(val), **{k: round(v, 6) for k, v in evaluation.items()}},
        "notes": cfg.notes,
    }
    weights_path = styles.save_style(
        raw_model.float().to(memory_format=torch.contiguous_format).cpu(),
        cfg.name,
        out_dir,
        meta,
        preview_content=preview_content,
    )
    styles.clear_cache()
    summary = {
        "weights": str(weights_path),
        "steps": step,
        "images_per_s": ips,
        "eval": evaluation,
        "final_losses": ema,
        "skipped": skipped + len(bad_files),
        "run_dir": str(run_dir),
    }
    print(f"\nstyle {cfg.name!r} installed: {weights_path}", file=sys.stderr)
    if not any(_same_dir(out_dir, d) for d in styles.weights_dirs()):
        print(
            f"{out_dir} is not searched for styles: to use it, set {styles.WEIGHTS_ENV}={out_dir} "
            f"(then: python -m nst_core stylize PHOTO --style {cfg.name} -o OUT.png)",
            file=sys.stderr,
        )
    print(f"throughput: {ips:.2f} images/s ({_device_label(device, world_size)})", file=sys.stderr)
    if evaluation:
        print(
            f"held-out evaluation ({len(val)} photos): content {evaluation['content']:.4f}  "
            f"style {evaluation['style']:.4f}  tv {evaluation['tv']:.5f}  weighted total "
            f"{evaluation['total']:.4f}",
            file=sys.stderr,
        )
    return summary


def _mean_over_ranks(terms: dict[str, torch.Tensor], device: torch.device, world_size: int) -> dict[str, float]:
    """The logged losses of the whole global batch (each rank sees only its slice of it)."""
    t = torch.stack([v.detach().float() for v in terms.values()])
    if world_size > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= world_size
    return dict(zip(terms, t.tolist(), strict=True))


def _duration(seconds: float) -> str:
    """'1:02:03' / '4:05': readable at a glance in a log line."""
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _all_ranks_agree(flags: list[bool], device: torch.device, world_size: int) -> list[bool]:
    """Each flag true if it is on any rank: all ranks must stop at the same step, or the others would wait
    forever in the next all-reduce."""
    if world_size == 1:
        return flags
    t = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def _initial_weights(source: str) -> tuple[TransformerConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Config, weights and training history of --init-from: a .safetensors file, else a registry style name.

    The history (the start's own steps, time and settings, from its JSON when there is one) goes into the new
    style's JSON, so a fine-tuned style still says everything it was trained with."""
    path = Path(source)
    if path.suffix != ".safetensors":
        path = styles.get_style(source).weights_path
    elif not path.is_file():
        raise OptionsError(f"--init-from: no such file {source!r}.")
    config, state = styles.read_style_weights(path)
    history: dict[str, Any] = {"weights": path.name}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        keep = ("name", "date", "command", "device", "steps", "images_seen", "train_seconds", "training", "init_from")
        history.update({k: meta[k] for k in keep if isinstance(meta, dict) and k in meta})
    return config, state, history


def _arch_of(config: TransformerConfig, wanted: str) -> str:
    """The ARCHS name of an --init-from network; --arch, when given, must agree with it."""
    found = next((name for name, c in ARCHS.items() if c == config), None)
    if found is None:
        raise OptionsError(f"--init-from: its network ({config.to_json()}) is none of {', '.join(ARCHS)}.")
    if wanted not in ("auto", found):
        raise OptionsError(f"--init-from holds a {found} network but --arch {wanted} was asked for.")
    return found


def _check_resumable(saved: dict[str, Any], cfg: TrainConfig, log: Callable[[str], None]) -> None:
    """Refuse to continue a checkpoint with settings that would change the result, naming each one."""
    now = asdict(cfg)
    diffs = [
        f"{k}: checkpoint {saved[k]!r}, now {now[k]!r}"
        for k in now
        if k not in RUN_ONLY_FIELDS and k in saved and saved[k] != now[k]
    ]
    if diffs:
        raise OptionsError("Cannot --resume with different training settings:\n  " + "\n  ".join(diffs))
    for k in ("style_image", "dataset"):
        if Path(saved[k]).name != Path(now[k]).name:
            log(f"warning: {k} was {saved[k]!r}, now {now[k]!r}")


def _is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            cfg = parse_args(argv)
        except SystemExit as e:  # a mistyped option (one line already printed) or --help
            return int(e.code or 0)
        cfg.command = _portable_command(sys.argv[1:] if argv is None else argv)
        train(cfg)
    except TrainingStopped as e:
        if _is_rank0():
            print(str(e), file=sys.stderr)
        return 130
    except NSTError as e:
        if _is_rank0():  # under torchrun every rank hits the same mistake: say it once
            print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
