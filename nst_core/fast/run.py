"""Fast (feed-forward, Johnson et al. 2016) stylisation with a trained style from the registry: its options and
`run_fast`.

One forward pass of the style's TransformerNet (`inference`), in tiles when the picture does not fit the device's
memory (`budget`, `tiling`), then the finishing touches shared with video frames.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from .. import styles
from ..colors import preserve_colors
from ..device import device_option, make_profile, memory_format_option, precision_option
from ..errors import DeviceOutOfMemory
from ..images import MAX_SIZE, MIN_SIZE, SIZE_HELP, pad_to_min_side, resize_to_size, sized_for
from ..options import check_options, option
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

MIN_NET_SIDE = 32  # reflection pads (4 px at full, 1 px at 1/4 resolution) need this much; smaller is edge-padded


def _is_style_name(name: object) -> bool:
    return isinstance(name, str) and bool(name.strip())


@dataclass
class FastOptions:
    """Options of a fast stylisation. `strength` blends toward the content (0 = content, 1 = full style)."""

    # not a flag: the CLI has its own --style, repeatable for regions
    style: str = option(
        help="name of an installed style (see `styles`)", flag=False, check=_is_style_name,
        expect="the name of an installed style (see `python -m nst_core styles`)",
    )  # fmt: skip
    strength: float = option(1.0, "{lo}..{hi}, blend toward the content", bounds=(0, 1))
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
        TILE_OVERLAP, "px shared by neighbouring tiles (at most half a tile is used)", flag=False, bounds=(0, MAX_SIZE)
    )

    def validate(self) -> FastOptions:
        """Raise OptionsError with a message a user can act on (from the fields' declarations, naming the
        option as the caller wrote it); returns self for chaining."""
        return check_options(self)


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
