"""Any painting in one pass: `ArbitraryOptions` and `run_arbitrary`, with the bundled network (no VGG-19 needed).

The network ships in `weights/arbitrary/` (or comes from `NST_ARBITRARY_WEIGHTS` / `weights=`); front ends ask
`arbitrary_status()` at start-up and offer the method only when it loads.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..colors import match_luminance, preserve_colors
from ..device import DeviceProfile, device_option, make_profile, memory_format_option, precision_option
from ..errors import DeviceOutOfMemory, OptionsError, WeightsError
from ..fast.budget import memory_budget_bytes
from ..fast.tiling import MIN_TILE, Ticker, plan_tiles
from ..images import (
    MAX_SIZE,
    MIN_SIZE,
    SIZE_HELP,
    pil_to_tensor,
    resize_long_side,
    resize_to_size,
    sized_for,
    tensor_to_pil,
)
from ..options import blend_option, check_options, option
from ..progress import Progress, ProgressCallback, check_cancel
from .model_file import load_network
from .network import ArbitraryNet
from .paint import paint, paint_tiled, style_statistics

__all__ = [
    "BUNDLED",
    "WEIGHTS_ENV",
    "ArbitraryOptions",
    "Painter",
    "arbitrary_status",
    "load_arbitrary",
    "run_arbitrary",
]

WEIGHTS_ENV = "NST_ARBITRARY_WEIGHTS"
BUNDLED = Path(__file__).resolve().parents[2] / "weights" / "arbitrary" / "wct_student.safetensors"
# What a server's visitors are told (no file names, nothing they could fix); the message keeps the operator's detail.
VISITOR_MISSING = "The any-painting network is not installed on this server."
VISITOR_BROKEN = "The any-painting network on this server cannot be read."
MAX_STYLE_SIDE = 1024  # paintings are read at the output's long side, at most this (statistics need no more)
_BYTES_PER_PX = 2200  # peak activation memory per pixel of one level-1 pass, float32, measured on CPU


@dataclass
class ArbitraryOptions:
    """Options of an arbitrary-style run. `strength` blends the photo's features with the painted ones."""

    strength: float = option(1.0, "{lo}..{hi}, how much of the painting's statistics (0 = the photo)", bounds=(0, 1))
    style_blend: tuple[float, ...] | None = blend_option()
    preserve_colors: bool = option(False, "keep the content's colours")
    size: int | None = option(None, SIZE_HELP, bounds=(MIN_SIZE, MAX_SIZE))
    device: str = device_option()
    precision: str = precision_option()
    memory_format: str = memory_format_option()
    tile_size: int | None = option(
        None, "tile large images (pixels; default: only when the image does not fit the memory budget)",
        bounds=(MIN_TILE, MAX_SIZE),
    )  # fmt: skip
    tile_overlap: int = option(64, "px shared by neighbouring tiles", flag=False, bounds=(0, 1024))
    arbitrary_weights: str | None = option(
        None, f"the arbitrary-style network (default: ${WEIGHTS_ENV}, else the bundled one)", metavar="PATH"
    )

    def validate(self) -> ArbitraryOptions:
        """Every field against its declaration, naming the option as the caller wrote it; returns self."""
        return check_options(self)


def _weights_path(explicit: str | os.PathLike | None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env).expanduser() if env else BUNDLED


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float, device: str, channels_last: bool) -> ArbitraryNet:
    net = load_network(path).to(device)
    return net.to(memory_format=torch.channels_last) if channels_last else net


def load_arbitrary(weights: str | os.PathLike | None = None, profile: DeviceProfile | None = None) -> ArbitraryNet:
    """The network (cached per file version and device); a missing or broken file is one WeightsError."""
    profile = profile or make_profile("cpu", "fp32", "contiguous")
    path = _weights_path(weights)
    if not path.is_file():
        origin = "the given file" if weights else f"${WEIGHTS_ENV}" if os.environ.get(WEIGHTS_ENV) else "bundled"
        raise WeightsError(
            f"The arbitrary-style network ({origin}: {path.name}) is missing; reinstall nst, or train one with "
            "`python -m nst_core.train arbitrary`.",
            visitor=VISITOR_MISSING,
        )
    try:
        return _load(str(path.resolve()), path.stat().st_mtime, str(profile.device), profile.channels_last)
    except WeightsError as exc:  # a broken file: its name is the operator's business
        raise WeightsError(str(exc), visitor=VISITOR_BROKEN) from None


def arbitrary_status(weights: str | os.PathLike | None = None) -> tuple[bool, str]:
    """(True, '') when the method can run here, else (False, why): what a front end asks at start-up."""
    try:
        load_arbitrary(weights)
    except WeightsError as exc:
        return False, str(exc)
    return True, ""


class Painter:
    """Paintings read once, then any number of pictures or frames painted with them: what `run_arbitrary`,
    video frames and the webcam share. The paintings' statistics are cached per working size."""

    def __init__(self, styles: Sequence[Image.Image], options: ArbitraryOptions | None = None) -> None:
        self.options = (options or ArbitraryOptions()).validate()
        if not styles:
            raise OptionsError("method='arbitrary' needs at least one style image.")
        blend = self.options.style_blend
        self.blend = list(blend) if blend is not None else [1.0] * len(styles)
        if len(self.blend) != len(styles):
            raise OptionsError(
                f"give one blend weight per style image: got {len(self.blend)} for {len(styles)} image(s)."
            )
        self.styles = [s.convert("RGB") for s in styles]
        self.profile = make_profile(self.options.device, self.options.precision, self.options.memory_format)
        self.net = load_arbitrary(self.options.arbitrary_weights, self.profile)
        self._stats: dict[tuple[int, tuple[int, int] | None], list] = {}

    def _statistics(self, img: Image.Image) -> list:
        side = min(max(img.size), MAX_STYLE_SIDE)
        key = (side, img.size if self.options.preserve_colors else None)  # colour-kept paintings follow the photo
        if key not in self._stats:
            paintings = [resize_long_side(s, side) for s in self.styles]
            if self.options.preserve_colors:
                paintings = [match_luminance(p, img) for p in paintings]
            self._stats = {key: [style_statistics(self.net, pil_to_tensor(p), self.profile) for p in paintings]}
        return self._stats[key]

    def __call__(
        self,
        content: Image.Image,
        *,
        callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Image.Image:
        """`content` painted: an RGB image of its size, or of the long side `options.size`."""
        start = time.monotonic()
        check_cancel(cancel)
        img = content.convert("RGB")
        if self.options.size is not None and sized_for(*img.size, self.options.size) != img.size:
            img = resize_to_size(img, self.options.size)
        if float(self.options.strength) == 0.0:
            return img.copy()
        stats = self._statistics(img)
        report = _reporter(callback, start, img.size)
        out = _paint(self.net, img, stats, self.blend, float(self.options.strength), self.options, self.profile,
                     report, cancel)  # fmt: skip
        return preserve_colors(out, img) if self.options.preserve_colors else out


def run_arbitrary(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: ArbitraryOptions | None = None,
    *,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Image.Image:
    """`content` painted in the style of `styles` (blended by `options.style_blend`); an RGB image of the photo's
    size, or of the long side `options.size`."""
    return Painter(styles, options)(content, callback=callback, cancel=cancel)


def _reporter(callback: ProgressCallback | None, start: float, size: tuple[int, int]):
    def report(done: int, total: int) -> None:
        if callback is not None:
            callback(Progress(step=done, total=total, elapsed=time.monotonic() - start, size=size))

    return report


def _paint(net, img, stats, blend, strength, opts, profile, report, cancel) -> Image.Image:
    x = pil_to_tensor(img)
    w, h = img.size
    budget_px = max(MIN_TILE * MIN_TILE, memory_budget_bytes(profile.device) // _BYTES_PER_PX)
    try:
        if opts.tile_size is None and w * h <= budget_px:
            total = len(net.config.cascade)

            def level_done(done: int) -> None:
                report(done, total)
                check_cancel(cancel)

            y = paint(net, x, stats, blend, strength, profile, on_level=level_done)
        else:
            tile = opts.tile_size or max(MIN_TILE, math.isqrt(budget_px))
            plan = plan_tiles(h, w, tile, opts.tile_overlap)
            tick = Ticker(2 * len(net.config.cascade) * len(plan.tiles), report, cancel)
            y = paint_tiled(net, x, stats, blend, strength, profile, plan, tick)
    except torch.OutOfMemoryError:
        raise DeviceOutOfMemory(
            f"The {profile.device.type.upper()} ran out of memory; choose a smaller size or a tile_size."
        ) from None
    return tensor_to_pil(y.cpu())
