"""Fast (feed-forward, Johnson et al. 2016) stylisation with a trained style from the registry.

One forward pass of a TransformerNet. Images too big for the device's memory are processed in overlapping
tiles. Instance norm is global, so tiles normalised on their own statistics differ in colour and contrast
(seams, patches), and statistics from a thumbnail change the look noticeably (this network is very
sensitive to them). Tiled inference therefore computes the exact whole-image statistics stage by stage
(`_tiled_exact`, ~1.5x the compute of an untiled pass), and blends the overlaps with linear ramps that
skip the reflection-padded tile borders. The result matches an untiled run to within rounding.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from . import styles
from .colors import preserve_colors
from .device import DEVICES, DeviceProfile, make_profile, normalise_memory_format, normalise_precision
from .envvars import env_number
from .errors import DeviceOutOfMemory, OptionsError
from .images import pad_to_min_side, pil_to_tensor, resize_long_side, tensor_to_pil
from .progress import Progress, ProgressCallback, check_cancel
from .strokes import MAX_STROKE_SCALE, resolve_stroke_scale, restore_detail, working_size
from .transformer_net import NormStats, TransformerNet, normalize

__all__ = [
    "FastOptions",
    "apply_model",
    "budget_pixels",
    "finish_output",
    "memory_budget_bytes",
    "run_fast",
    "stylize_tensor",
]

MIN_SIZE, MAX_SIZE = 16, 8192
MIN_TILE = 128
MIN_NET_SIDE = 32  # reflection pads (4 px at full, 1 px at 1/4 resolution) need this much; smaller is edge-padded
MEMORY_ENV = "NST_FAST_MEMORY_MB"
log = logging.getLogger(__name__)
RAMP_FRACTION = 0.25  # share of the overlap over which neighbouring tiles cross-fade
_ALIGN = 4  # two stride-2 convs: tiles start on multiples of 4 so they sample the same grid as the full image


@dataclass
class FastOptions:
    """Options of a fast stylisation. `strength` blends toward the content (0 = content, 1 = full style)."""

    style: str
    strength: float = 1.0
    preserve_colors: bool = False
    size: int | None = None  # resize the content's long side to this first
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (see nst_core.device: bf16 where the device has it)
    memory_format: str = "auto"  # auto | channels_last | contiguous
    stroke_scale: float | None = None  # strokes this many times larger (None: auto, see nst_core.strokes)
    tile_size: int | None = None  # None: tile only when the image does not fit the memory budget
    tile_overlap: int = 96  # px shared by neighbouring tiles (at most half a tile is used)

    def validate(self) -> FastOptions:
        """Raise OptionsError with a message a user can act on; returns self for chaining."""
        if not isinstance(self.style, str) or not self.style.strip():
            raise OptionsError("style must be the name of an installed style (see `python -m nst_core styles`)")
        if not _is_number(self.strength) or not 0.0 <= float(self.strength) <= 1.0:
            raise OptionsError(f"strength must be a number from 0 to 1, got {self.strength!r}")
        if not isinstance(self.preserve_colors, bool):
            raise OptionsError(f"preserve_colors must be true or false, got {self.preserve_colors!r}")
        if self.size is not None and (not _is_int(self.size) or not MIN_SIZE <= self.size <= MAX_SIZE):
            raise OptionsError(
                f"size must be a whole number of pixels from {MIN_SIZE} to {MAX_SIZE}, got {self.size!r}"
            )
        if isinstance(self.device, torch.device):
            pass
        elif not isinstance(self.device, str) or self.device.lower().split(":")[0] not in DEVICES:
            raise OptionsError(f"unknown device {self.device!r}: choose one of {', '.join(DEVICES)}")
        normalise_precision(self.precision)
        normalise_memory_format(self.memory_format)
        if self.stroke_scale is not None and (
            not _is_number(self.stroke_scale) or not 1.0 <= float(self.stroke_scale) <= MAX_STROKE_SCALE
        ):
            raise OptionsError(
                f"stroke_scale must be a number from 1 to {MAX_STROKE_SCALE:g} (or unset for auto), "
                f"got {self.stroke_scale!r}"
            )
        if self.tile_size is not None and (not _is_int(self.tile_size) or not MIN_TILE <= self.tile_size <= MAX_SIZE):
            raise OptionsError(
                f"tile_size must be a whole number of pixels from {MIN_TILE} to {MAX_SIZE} (or unset), "
                f"got {self.tile_size!r}"
            )
        if not _is_int(self.tile_overlap) or self.tile_overlap < 0:
            raise OptionsError(f"tile_overlap must be a whole number of pixels >= 0, got {self.tile_overlap!r}")
        return self


def _is_int(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(float(v))


# ------------------------------------------------------------------------------------------------- memory
def _bytes_per_pixel(model: TransformerNet, dtype: torch.dtype | None) -> float:
    """Peak activation memory per input pixel, measured on CPU: ~1 KB/px for the 32-channel reference net
    (scales with the first width). 40*c1 bytes keeps a margin; half precision needs about 60% of that."""
    per_px = 40.0 * model.config.channels[0]
    return per_px * (0.6 if dtype in (torch.float16, torch.bfloat16) else 1.0)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_budget_bytes(device: torch.device) -> int:
    """Memory one forward pass may use: env NST_FAST_MEMORY_MB, else half the free GPU memory, else a
    quarter of available RAM capped at 3 GiB (several jobs may run at once on a CPU server)."""
    mb = env_number(MEMORY_ENV, 0, lo=1e-3, whole=False)
    if mb:
        return max(1, int(mb * 1024 * 1024))
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    if device.type == "mps":
        return 2 * 1024**3
    avail = _meminfo_available()
    cap = 3 * 1024**3
    return min(cap, avail // 4) if avail else cap


# ------------------------------------------------------------------------------------------------- tiling
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


def _tiled_exact(
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

        canvas = _Canvas(plan)
        for i, tile in enumerate(plan.tiles):
            s = run(_to(store[i][0], device), dec, len(stages))
            canvas.add(tile, final(s))
            tick()
    return canvas.result()


def _tiled_thumbnail(
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
    canvas = _Canvas(plan)
    with profile.autocast():
        model(profile.format(thumb.to(profile.device)), rec)
        for tile in plan.tiles:
            canvas.add(tile, model(profile.format(tile.crop(x).to(profile.device)), rec.replay()))
            tick()
    return canvas.result()


class _Canvas:
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


def _stored_bytes(model: TransformerNet, plan: TilePlan, dtype: torch.dtype | None) -> int:
    """Host memory of the states kept between stages: up to 3 tensors of c3 channels at 1/4 resolution."""
    elem = 2 if dtype in (torch.float16, torch.bfloat16) else 4
    c3 = model.config.channels[2]
    px = sum(-(-(t.span_y[1] - t.span_y[0]) // 4) * -(-(t.span_x[1] - t.span_x[0]) // 4) for t in plan.tiles)
    return 3 * c3 * px * elem


class _Ticker:
    """Counts finished tile steps for the progress callback and checks for cancellation between them."""

    def __init__(self, total: int, callback: Callable[[int, int], None] | None, cancel) -> None:
        self.done, self.total, self.callback, self.cancel = 0, total, callback, cancel

    def __call__(self) -> None:
        self.done += 1
        if self.callback:
            self.callback(self.done, self.total)
        check_cancel(self.cancel)


def _tiled(model, x, tile_size, overlap, budget_px, profile, callback, cancel) -> torch.Tensor:
    """Tiled inference; on out-of-memory, retry with smaller tiles."""
    while True:
        plan = plan_tiles(x.shape[-2], x.shape[-1], tile_size, overlap)
        host = _meminfo_available() or 8 * 1024**3
        exact = _stored_bytes(model, plan, profile.dtype) < host // 2
        steps = len(plan.tiles) * ((len(model.stages()[0]) + 1) if exact else 1)
        tick = _Ticker(steps, callback, cancel)
        try:
            check_cancel(cancel)
            if callback:
                callback(0, steps)
            if exact:
                return _tiled_exact(model, x, plan, profile, tick)
            log.warning("image too large to keep tile states in memory; using thumbnail statistics")
            return _tiled_thumbnail(model, x, plan, profile, tick, budget_px)
        except torch.OutOfMemoryError:
            _empty_cache(profile.device)
            if tile_size <= MIN_TILE:
                raise DeviceOutOfMemory(
                    f"The {profile.device.type.upper()} ran out of memory even with the smallest tiles; "
                    "choose a smaller size or another device."
                ) from None
            tile_size = max(MIN_TILE, tile_size // 2)
            budget_px = max(MIN_TILE * MIN_TILE, budget_px // 4)


# ------------------------------------------------------------------------------------------------ public
@torch.inference_mode()
def stylize_tensor(
    model: TransformerNet,
    x: torch.Tensor,
    *,
    profile: DeviceProfile | None = None,
    tile_size: int | None = None,
    tile_overlap: int = 96,
    callback: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> torch.Tensor:
    """(1,3,H,W) float 0..255 on CPU -> stylised (1,3,H,W) float 0..255 on CPU (not clamped).

    `profile` says how to compute (default: float32, contiguous, on the model's device); the model must already
    be in the profile's memory format. Tiles when `tile_size` is given or the image does not fit the device's
    memory budget (tiles then use whole-image instance-norm statistics, see `_tiled_exact`).
    `callback(done, total)` counts tile steps; `cancel` is checked between them.
    """
    param = next(model.parameters())
    profile = profile or make_profile(param.device, "fp32", "contiguous")
    device = profile.device
    _, _, h, w = x.shape
    budget_px = budget_pixels(model, profile)
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
    tile_overlap: int = 96,
) -> Image.Image:
    """Stylise a PIL image with an already loaded model (training previews, tests); no options parsing."""
    x = pil_to_tensor(content, value_range=255)
    y = stylize_tensor(model, x, profile=profile, tile_size=tile_size, tile_overlap=tile_overlap)
    return tensor_to_pil(y, value_range=255)


def run_fast(
    content: Image.Image,
    options: FastOptions,
    *,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Image.Image:
    """Stylise `content` with the installed style `options.style`; returns an RGB image of the same size
    (or of the long side `options.size`)."""
    options.validate()
    start = time.monotonic()
    check_cancel(cancel)
    profile = make_profile(options.device, options.precision, options.memory_format)  # same errors at any strength
    info = styles.get_style(options.style)
    img = content.convert("RGB") if content.mode != "RGB" else content
    if options.size is not None and max(img.size) != options.size:
        img = resize_long_side(img, options.size)
    strength = float(options.strength)
    size = img.size

    def report(done: int, total: int) -> None:
        if callback is not None:
            callback(Progress(step=done, total=total, elapsed=time.monotonic() - start, size=size))

    if strength == 0.0:
        report(1, 1)
        return img.copy()

    model = styles.load_style_model(info.name, profile.device, channels_last=profile.channels_last)
    scale = resolve_stroke_scale(options.stroke_scale, max(size))
    work = img.resize(working_size(size, scale), Image.Resampling.LANCZOS) if scale > 1 else img
    padded, box = pad_to_min_side(work, MIN_NET_SIDE)
    x = pil_to_tensor(padded, value_range=255)
    try:
        y = stylize_tensor(
            model, x, profile=profile, tile_size=options.tile_size, tile_overlap=options.tile_overlap,
            callback=report, cancel=cancel,
        )  # fmt: skip
    except torch.OutOfMemoryError:
        raise DeviceOutOfMemory(
            f"The {profile.device.type.upper()} ran out of memory; choose a smaller size or a tile_size."
        ) from None
    return finish_output(tensor_to_pil(y, value_range=255).crop(box), img, options)


def finish_output(out: Image.Image, img: Image.Image, options: FastOptions) -> Image.Image:
    """The network's picture `out` (at the working size) made the final one for the photo `img`: detail restored
    when strokes were enlarged, colours kept on request, and blended toward the photo by `strength`. Shared
    with video frames, so a frame looks like the same picture stylised alone."""
    if out.size != img.size:
        out = restore_detail(out, img)
    if options.preserve_colors:
        out = preserve_colors(out, img)
    strength = float(options.strength)
    if strength < 1.0:
        c = np.asarray(img, dtype=np.float32)
        s = np.asarray(out, dtype=np.float32)
        out = Image.fromarray(np.rint(c + strength * (s - c)).clip(0, 255).astype(np.uint8))
    return out


def budget_pixels(model: TransformerNet, profile: DeviceProfile) -> int:
    """How many input pixels one untiled forward pass may hold on this device (a batch of frames shares it)."""
    per_px = _bytes_per_pixel(model, profile.dtype)
    return max(MIN_TILE * MIN_TILE, int(memory_budget_bytes(profile.device) / per_px))
