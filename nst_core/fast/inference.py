"""Running a style's network on a picture: one forward pass when it fits the device's memory budget, tiles when
it does not (or when asked). `apply_model` is the one PIL -> network -> PIL helper: the API (`run_fast`), the
registry's previews and training's previews all go through it."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

import torch
from PIL import Image

from ..device import DeviceProfile, make_profile
from ..errors import DeviceOutOfMemory
from ..images import pil_to_tensor, tensor_to_pil
from ..progress import check_cancel
from . import budget
from .tiling import MIN_TILE, TILE_OVERLAP, Ticker, plan_tiles, stored_bytes, tiled_exact, tiled_thumbnail
from .transformer_net import TransformerNet

__all__ = ["apply_model", "stylize_tensor"]

log = logging.getLogger(__name__)


@torch.inference_mode()
def stylize_tensor(
    model: TransformerNet,
    x: torch.Tensor,
    *,
    profile: DeviceProfile | None = None,
    tile_size: int | None = None,
    tile_overlap: int = TILE_OVERLAP,
    callback: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """(1,3,H,W) float 0..255 on CPU -> stylised (1,3,H,W) float 0..255 on CPU (not clamped).

    `profile` says how to compute (default: float32, contiguous, on the model's device); the model must already
    be in the profile's memory format. Tiles when `tile_size` is given or the image does not fit the device's
    memory budget (tiles then use whole-image instance-norm statistics, see `nst_core.fast.tiling`).
    `callback(done, total)` counts tile steps; `cancel` is checked between them.
    """
    param = next(model.parameters())
    profile = profile or make_profile(param.device, "fp32", "contiguous")
    device = profile.device
    _, _, h, w = x.shape
    budget_px = budget.budget_pixels(model, profile)
    if tile_size is None and h * w <= budget_px:
        check_cancel(cancel)
        if callback:
            callback(0, 1)
        try:
            with profile.autocast():
                y = model(profile.format(x.to(device, param.dtype))).float().cpu()
        except torch.OutOfMemoryError:
            _empty_cache(device)
            budget_px //= 4  # the estimate was optimistic for this device: retry in tiles
        else:
            if callback:
                callback(1, 1)
            return y.contiguous()
    if tile_size is None:
        tile_size = max(MIN_TILE, math.isqrt(budget_px))
    return _tiled(model, x, tile_size, tile_overlap, budget_px, profile, callback, cancel)


def _empty_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def apply_model(
    model: TransformerNet,
    content: Image.Image,
    *,
    profile: DeviceProfile | None = None,
    tile_size: int | None = None,
    tile_overlap: int = TILE_OVERLAP,
    callback: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Image.Image:
    """Stylise a PIL image with an already loaded model: the one PIL -> network -> PIL path (the API, the
    registry's and training's previews). Same size out, no options parsing; the keywords are `stylize_tensor`'s."""
    x = pil_to_tensor(content, value_range=255)
    y = stylize_tensor(
        model, x, profile=profile, tile_size=tile_size, tile_overlap=tile_overlap, callback=callback, cancel=cancel
    )
    return tensor_to_pil(y, value_range=255)


def _tiled(model, x, tile_size, overlap, budget_px, profile, callback, cancel) -> torch.Tensor:
    """Tiled inference; on out-of-memory, retry with smaller tiles."""
    while True:
        plan = plan_tiles(x.shape[-2], x.shape[-1], tile_size, overlap)
        host = budget.meminfo_available() or 8 * 1024**3
        exact = stored_bytes(model, plan, profile.dtype) < host // 2
        steps = len(plan.tiles) * ((len(model.stages()[0]) + 1) if exact else 1)
        tick = Ticker(steps, callback, cancel)
        try:
            check_cancel(cancel)
            if callback:
                callback(0, steps)
            if exact:
                return tiled_exact(model, x, plan, profile, tick)
            log.warning("image too large to keep tile states in memory; using thumbnail statistics")
            return tiled_thumbnail(model, x, plan, profile, tick, budget_px)
        except torch.OutOfMemoryError:
            _empty_cache(profile.device)
            if tile_size <= MIN_TILE:
                raise DeviceOutOfMemory(
                    f"The {profile.device.type.upper()} ran out of memory even with the smallest tiles; "
                    "choose a smaller size or another device."
                ) from None
            tile_size = max(MIN_TILE, tile_size // 2)
            budget_px = max(MIN_TILE * MIN_TILE, budget_px // 4)
