"""Fast (feed-forward, Johnson et al. 2016) stylisation with a trained style from the registry: its options and
`run_fast`.

One forward pass of the style's TransformerNet (`inference`), in tiles when the picture does not fit the device's
memory (`budget`, `tiling`), then the finishing touches shared with video frames.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .. import styles
from ..colors import preserve_colors
from ..device import (
    DEVICES,
    device_option,
    make_profile,
    memory_format_option,
    normalise_memory_format,
    normalise_precision,
    precision_option,
)
from ..errors import DeviceOutOfMemory, OptionsError
from ..images import SIZE_HELP, pad_to_min_side, resize_to_size, sized_for
from ..options import option
from ..progress import Progress, ProgressCallback, check_cancel
from .inference import apply_model
from .strokes import MAX_STROKE_SCALE, resolve_stroke_scale, restore_detail, working_size
from .tiling import MIN_TILE, TILE_OVERLAP

__all__ = [
    "MAX_SIZE",
    "MIN_NET_SIDE",
    "MIN_SIZE",
    "FastOptions",
    "finish_output",
    "run_fast",
]

MIN_SIZE, MAX_SIZE = 16, 8192
MIN_NET_SIDE = 32  # reflection pads (4 px at full, 1 px at 1/4 resolution) need this much; smaller is edge-padded


@dataclass
class FastOptions:
    """Options of a fast stylisation. `strength` blends toward the content (0 = content, 1 = full style)."""

    style: str = option(help="name of an installed style (see `styles`)", flag=False)  # the CLI's own --style
    strength: float = option(1.0, "0..1, blend toward the content", bounds=(0, 1))
    preserve_colors: bool = option(False, "keep the content's colours")
    size: int | None = option(None, SIZE_HELP, bounds=(MIN_SIZE, MAX_SIZE))
    device: str = device_option()
    precision: str = precision_option()  # auto | fp32 | bf16 | fp16 (see nst_core.device)
    memory_format: str = memory_format_option()  # auto | channels_last | contiguous
    stroke_scale: float | None = option(
        None, "strokes this many times larger, {lo}-{hi} (default: auto, larger on big images so strokes look as "
        "they do at 512 px)", bounds=(1, MAX_STROKE_SCALE),
    )  # fmt: skip
    tile_size: int | None = option(
        None, "tile large images (pixels; default: only when the image does not fit the memory budget)",
        bounds=(MIN_TILE, MAX_SIZE),
    )  # fmt: skip
    tile_overlap: int = option(
        TILE_OVERLAP, "px shared by neighbouring tiles (at most half a tile is used)", flag=False
    )

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
    if options.size is not None and sized_for(*img.size, options.size) != img.size:
        img = resize_to_size(img, options.size)
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
    try:
        out = apply_model(
            model, padded, profile=profile, tile_size=options.tile_size, tile_overlap=options.tile_overlap,
            callback=report, cancel=cancel,
        )  # fmt: skip
    except torch.OutOfMemoryError:
        raise DeviceOutOfMemory(
            f"The {profile.device.type.upper()} ran out of memory; choose a smaller size or a tile_size."
        ) from None
    return finish_output(out.crop(box), img, options)


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
