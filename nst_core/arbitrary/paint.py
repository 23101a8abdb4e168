"""Paint a picture with any painting: the coarse-to-fine cascade of Li et al. 2017 on the student network.

Level 4 (relu4_1-like features) sets the large-scale colours and shapes; each finer level starts from the
previous level's picture and brings texture of a smaller scale. Every level is: encode, the WCT map of that level
(content statistics of the current picture, the paintings' statistics), decode. Sizes are padded by reflection
to a multiple of 8 (three poolings) and cropped back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ..device import DeviceProfile
from ..fast.tiling import Canvas, TilePlan
from .network import LEVELS, ArbitraryNet
from .transform import FeatureStats, affine_map, apply_map, feature_stats

__all__ = ["CASCADE", "pad_to_multiple", "paint", "paint_tiled", "style_statistics"]

CASCADE = tuple(reversed(LEVELS))  # 4, 3, 2, 1: every level; a network's own config may use fewer
_MULTIPLE = 8
_MIN_SIDE = 16


def pad_to_multiple(x: torch.Tensor, multiple: int = _MULTIPLE) -> tuple[torch.Tensor, tuple[int, int]]:
    """`x` grown to a multiple of `multiple` px a side, and at least `_MIN_SIDE` (level 4's reflection padding
    needs 2 px there); reflected where the picture is large enough, its edge repeated where not."""
    h, w = x.shape[-2:]
    ph, pw = max(_MIN_SIDE, h + (-h) % multiple) - h, max(_MIN_SIDE, w + (-w) % multiple) - w
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


@torch.no_grad()
def style_statistics(net: ArbitraryNet, style: torch.Tensor, profile: DeviceProfile) -> dict[int, FeatureStats]:
    """Each level's feature statistics of one painting (1, 3, H, W) in 0-1."""
    x, _ = pad_to_multiple(profile.format(style.to(profile.device)))
    with profile.autocast():
        feats = net.encoder(x, max(LEVELS))
    return {lv: feature_stats(f) for lv, f in zip(LEVELS, feats, strict=True)}


@torch.no_grad()
def paint(
    net: ArbitraryNet,
    content: torch.Tensor,
    styles: Sequence[dict[int, FeatureStats]],
    blend: Sequence[float],
    strength: float,
    profile: DeviceProfile,
    *,
    levels: Sequence[int] | None = None,
    on_level: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """The painted (1, 3, H, W) picture in 0-1 for a content picture in 0-1 and the paintings' statistics,
    through `levels` (default: the network's cascade)."""
    x, (h, w) = pad_to_multiple(profile.format(content.to(profile.device)))
    for done, lv in enumerate(levels or net.config.cascade, 1):
        with profile.autocast():
            f = net.encoder.encode(x, lv)
        a, b = affine_map(feature_stats(f), [s[lv] for s in styles], blend, strength)
        with profile.autocast():
            x = net.decode(apply_map(f, a, b), lv)
        x = x.float().clamp_(0, 1)
        if on_level is not None:
            on_level(done)
    return x[..., :h, :w]


@torch.no_grad()
def paint_tiled(
    net: ArbitraryNet,
    content: torch.Tensor,
    styles: Sequence[dict[int, FeatureStats]],
    blend: Sequence[float],
    strength: float,
    profile: DeviceProfile,
    plan: TilePlan,
    tick: Callable[[], None],
) -> torch.Tensor:
    """`paint` for pictures too large for one pass: per level, the content statistics are summed over the
    tiles' own regions first (so every tile gets the whole picture's map), then each tile is mapped, decoded
    and cross-faded into the canvas. Two encoder passes per tile and level; `tick` after each tile pass."""
    x = content.float().cpu()
    for lv in net.config.cascade:
        total = None
        for tile in plan.tiles:
            crop = tile.crop(x)
            f = _encode_tile(net, crop, lv, profile)
            step = 2 ** (lv - 1)  # the level's resolution: the padding is left out of the statistics
            f = f[..., : -(-crop.shape[-2] // step), : -(-crop.shape[-1] // step)]
            part = feature_stats(tile.core_of(f))
            total = part if total is None else total + part
            tick()
        a, b = affine_map(total, [s[lv] for s in styles], blend, strength)
        canvas = Canvas(plan)
        for tile in plan.tiles:
            crop = tile.crop(x)
            f = _encode_tile(net, crop, lv, profile)
            with profile.autocast():
                y = net.decode(apply_map(f, a, b), lv)
            canvas.add(tile, y.float()[..., : crop.shape[-2], : crop.shape[-1]])
            tick()
        x = canvas.result().clamp_(0, 1)
    return x


def _encode_tile(net: ArbitraryNet, crop: torch.Tensor, level: int, profile: DeviceProfile) -> torch.Tensor:
    """Level features of a tile padded to a multiple of 8 (kept padded: the decoder crops afterwards)."""
    padded, _ = pad_to_multiple(profile.format(crop.to(profile.device)))
    with profile.autocast():
        return net.encoder.encode(padded, level)
