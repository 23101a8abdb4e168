"""Tiled inference for pictures too large for one forward pass, seamless and matching an untiled run.

Instance norm is global, so tiles normalised on their own statistics differ in colour and contrast (seams,
patches), and statistics from a thumbnail change the look noticeably (this network is very sensitive to them).
`tiled_exact` therefore computes the exact whole-image statistics stage by stage (~1.5x the compute of an
untiled pass), and `Canvas` blends the overlaps with linear ramps that skip the reflection-padded tile borders.
The result matches an untiled run to within rounding. `tiled_thumbnail` is the fallback when the stored states
would not fit in host memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..device import DeviceProfile
from ..progress import check_cancel
from .transformer_net import NormStats, TransformerNet, normalize

__all__ = [
    "MIN_TILE",
    "RAMP_FRACTION",
    "Canvas",
    "Ticker",
    "TilePlan",
    "plan_tiles",
    "stored_bytes",
    "tiled_exact",
    "tiled_thumbnail",
]

MIN_TILE = 128
TILE_OVERLAP = 96  # px shared by neighbouring tiles of a fast network: beyond its reach from a tile's border
RAMP_FRACTION = 0.25  # share of the overlap over which neighbouring tiles cross-fade
_ALIGN = 4  # two stride-2 convs: tiles start on multiples of 4 so they sample the same grid as the full image


def _positions(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) spans covering 0..length; starts on multiples of 4; the last span ends at `length`."""
    if length <= tile:
        return [(0, length)]
    stride = max(_ALIGN, (tile - overlap) // _ALIGN * _ALIGN)
    spans = []
    start = 0
    while start + tile < length:
        spans.append((start, start + tile))
        start += stride
    last = (length - tile) // _ALIGN * _ALIGN
    if spans and last <= spans[-1][0]:
        spans.pop()
    spans.append((last, length))
    return spans


def _cores(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split the axis into the part each span owns (for statistics): cuts in the middle of each overlap,
    on multiples of 4 so they fall on whole pixels at 1/2 and 1/4 resolution too."""
    cuts = [(spans[i][1] + spans[i + 1][0]) // 2 // _ALIGN * _ALIGN for i in range(len(spans) - 1)]
    bounds = [0, *cuts, spans[-1][1]]
    return [(bounds[i], bounds[i + 1]) for i in range(len(spans))]


def _cuts(spans: list[tuple[int, int]]) -> list[tuple[float | None, float | None]]:
    """Per span, where it hands over to the previous/next span: the middle of their overlap (None: border)."""
    mids = [(spans[i][1] + spans[i + 1][0]) / 2 for i in range(len(spans) - 1)]
    return [(mids[i - 1] if i > 0 else None, mids[i] if i < len(mids) else None) for i in range(len(spans))]


def _blend_weights(span: tuple[int, int], cuts: tuple[float | None, float | None], ramp: float) -> torch.Tensor:
    """Per-row (or column) weight of a tile: a linear cross-fade `ramp` px wide centred on each hand-over cut,
    1 before it, 0 after. Neighbours' weights sum to exactly 1, and the fade stays (overlap - ramp) / 2 px
    away from both tiles' borders, whose reflection padding makes them inexact (errors reach ~40 px in)."""
    centres = torch.arange(span[0], span[1], dtype=torch.float64) + 0.5
    w = torch.ones_like(centres)
    lo, hi = cuts
    if lo is not None:
        w = torch.minimum(w, ((centres - (lo - ramp / 2)) / ramp).clamp(0, 1))
    if hi is not None:
        w = torch.minimum(w, (((hi + ramp / 2) - centres) / ramp).clamp(0, 1))
    return w.float()


@dataclass
class _Tile:
    span_y: tuple[int, int]
    span_x: tuple[int, int]
    core_y: tuple[int, int]  # the part of the image this tile owns when pooling statistics
    core_x: tuple[int, int]
    cuts_y: tuple[float | None, float | None]  # where it cross-fades into its neighbours
    cuts_x: tuple[float | None, float | None]

    def weights(self, ramp: float) -> torch.Tensor:
        """(h, w) blending weights of this tile."""
        return _blend_weights(self.span_y, self.cuts_y, ramp)[:, None] * _blend_weights(self.span_x, self.cuts_x, ramp)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.span_y[0] : self.span_y[1], self.span_x[0] : self.span_x[1]]

    def core_of(self, t: torch.Tensor) -> torch.Tensor:
        """The owned region of an activation of this tile, at whatever resolution `t` has."""
        (y0, y1), (x0, x1) = self.span_y, self.span_x
        th, tw = t.shape[-2:]
        fy, fx = th / (y1 - y0), tw / (x1 - x0)
        cy0 = round((self.core_y[0] - y0) * fy)
        cy1 = th if self.core_y[1] == y1 else round((self.core_y[1] - y0) * fy)
        cx0 = round((self.core_x[0] - x0) * fx)
        cx1 = tw if self.core_x[1] == x1 else round((self.core_x[1] - x0) * fx)
        return t[:, :, cy0:cy1, cx0:cx1]


@dataclass
class TilePlan:
    tiles: list[_Tile]
    height: int
    width: int
    overlap: int

    @property
    def ramp(self) -> float:
        return max(1.0, self.overlap * RAMP_FRACTION)


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> TilePlan:
    """Overlapping tiles of `tile` px (the last of a row/column up to 3 px more), starting on multiples of
    4 so every tile samples the same stride-2 grid as the whole image would."""
    overlap = overlap // _ALIGN * _ALIGN
    # Tiles must be wide enough that the blended band (mid-overlap) lies well inside each tile: near a tile's
    # border the activations are least exact, so small tiles grow rather than the overlap shrinking.
    tile = max(MIN_TILE, tile // _ALIGN * _ALIGN, 2 * overlap + 64)
    ys, xs = _positions(height, tile, overlap), _positions(width, tile, overlap)
    tiles = [
        _Tile(y, x, cy, cx, ky, kx)
        for y, cy, ky in zip(ys, _cores(ys), _cuts(ys), strict=True)
        for x, cx, kx in zip(xs, _cores(xs), _cuts(xs), strict=True)
    ]
    return TilePlan(tiles, height, width, overlap)


class _Moments:
    """Pools per-channel mean/variance over the tiles' owned regions (float64, so it is exact enough)."""

    def __init__(self) -> None:
        self.s1: torch.Tensor | None = None
        self.s2: torch.Tensor | None = None
        self.n = 0

    def add(self, t: torch.Tensor) -> None:
        var, mean = torch.var_mean(t.float(), dim=(2, 3), keepdim=True, correction=0)
        n = t.shape[-2] * t.shape[-1]
        m, v = mean.double().cpu(), var.double().cpu()
        s1, s2 = m * n, (v + m * m) * n
        self.s1 = s1 if self.s1 is None else self.s1 + s1
        self.s2 = s2 if self.s2 is None else self.s2 + s2
        self.n += n

    def result(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.s1 is not None and self.s2 is not None and self.n > 0
        mean = self.s1 / self.n
        var = (self.s2 / self.n - mean * mean).clamp_min(0)
        return mean.float().to(device), var.float().to(device)


def _to(state: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in state.items()}


def tiled_exact(
    model: TransformerNet,
    x: torch.Tensor,
    plan: TilePlan,
    profile: DeviceProfile,
    tick: Callable[[], None],
) -> torch.Tensor:
    """Tiled forward pass whose instance norms use the statistics of the WHOLE image, so the result equals
    an untiled run except within a few pixels of tile borders (which the blending hides).

    The net is run stage by stage (one stage per instance norm): all tiles go through a stage and their
    owned regions' moments are pooled before any tile is normalised. States at 1/4 resolution (the residual
    blocks, most of the compute) are kept on the host between stages; the cheap full-resolution stages
    are recomputed instead of stored. Cost: about 1.5 untiled passes.
    """
    stages, final = model.stages()
    device = profile.device
    low = [k for k, st in enumerate(stages) if st.scale == max(st.scale for st in stages)]
    first = low[0]  # first stage at the lowest resolution: the states before it are recomputed from the input
    dec = low[-1] + 1  # first decoder stage: states from here on are recomputed, not stored
    stats: list[tuple[torch.Tensor, torch.Tensor]] = []
    store: list[tuple[dict[str, Any], torch.Tensor | None]] = [({}, None)] * len(plan.tiles)

    def run(s: dict[str, Any], a: int, b: int) -> dict[str, Any]:
        for j in range(a, b):
            st = stages[j]
            st.post(s, normalize(st.norm, st.pre(s), *stats[j]))
        return s

    with profile.autocast():
        for k, stage in enumerate(stages):
            acc = _Moments()
            for i, tile in enumerate(plan.tiles):
                if k <= first:  # full and 1/2 resolution: recompute from the input
                    s = run({"x": profile.format(tile.crop(x).to(device))}, 0, k)
                    pre = stage.pre(s)
                    if k == first:
                        store[i] = (_to(s, torch.device("cpu")), pre.cpu())
                else:
                    s, pending = store[i]
                    s = _to(s, device)
                    if pending is not None:  # finish the previous stage now that its statistics exist
                        prev = stages[k - 1]
                        prev.post(s, normalize(prev.norm, pending.to(device), *stats[k - 1]))
                    if k < dec:
                        pre = stage.pre(s)
                        store[i] = (_to(s, torch.device("cpu")), pre.cpu())
                    else:
                        if pending is not None:
                            store[i] = (_to(s, torch.device("cpu")), None)
                        pre = stage.pre(run(dict(s), dec, k))
                acc.add(tile.core_of(pre))
                tick()
            stats.append(acc.result(device))

        canvas = Canvas(plan)
        for i, tile in enumerate(plan.tiles):
            s = run(_to(store[i][0], device), dec, len(stages))
            canvas.add(tile, final(s))
            tick()
    return canvas.result()


def tiled_thumbnail(
    model: TransformerNet,
    x: torch.Tensor,
    plan: TilePlan,
    profile: DeviceProfile,
    tick: Callable[[], None],
    budget_px: int,
) -> torch.Tensor:
    """Fallback for images whose stored states would not fit in host memory: statistics from a thumbnail
    (Chen et al. 2022, "Thumbnail Instance Normalization"). No seams, but the look drifts from an untiled
    run (fine texture is lost in the thumbnail, so early-layer variances come out ~10% low)."""
    h, w = x.shape[-2:]
    scale = min(1.0, math.sqrt(budget_px / (h * w)))
    thumb = x
    if scale < 1.0:
        size = (max(16, round(h * scale)), max(16, round(w * scale)))
        thumb = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    rec = NormStats()
    canvas = Canvas(plan)
    with profile.autocast():
        model(profile.format(thumb.to(profile.device)), rec)
        for tile in plan.tiles:
            canvas.add(tile, model(profile.format(tile.crop(x).to(profile.device)), rec.replay()))
            tick()
    return canvas.result()


class Canvas:
    """Overlapping tile outputs cross-faded into one image (weights ramp down across each overlap)."""

    def __init__(self, plan: TilePlan) -> None:
        self.plan = plan
        self.out = torch.zeros(1, 3, plan.height, plan.width)
        self.wsum = torch.zeros(1, 1, plan.height, plan.width)

    def add(self, tile, y: torch.Tensor) -> None:
        (y0, y1), (x0, x1) = tile.span_y, tile.span_x
        wt = tile.weights(self.plan.ramp)
        self.out[:, :, y0:y1, x0:x1] += y.float().cpu() * wt
        self.wsum[:, :, y0:y1, x0:x1] += wt

    def result(self) -> torch.Tensor:
        return self.out / self.wsum.clamp_min(1e-6)


def stored_bytes(model: TransformerNet, plan: TilePlan, dtype: torch.dtype | None) -> int:
    """Host memory of the states kept between stages: up to 3 tensors of c3 channels at 1/4 resolution."""
    elem = 2 if dtype in (torch.float16, torch.bfloat16) else 4
    c3 = model.config.channels[2]
    px = sum(-(-(t.span_y[1] - t.span_y[0]) // 4) * -(-(t.span_x[1] - t.span_x[0]) // 4) for t in plan.tiles)
    return 3 * c3 * px * elem


class Ticker:
    """Counts finished tile steps for the progress callback and checks for cancellation between them."""

    def __init__(self, total: int, callback: Callable[[int, int], None] | None, cancel) -> None:
        self.done, self.total, self.callback, self.cancel = 0, total, callback, cancel

    def __call__(self) -> None:
        self.done += 1
        if self.callback:
            self.callback(self.done, self.total)
        check_cancel(self.cancel)
