"""`stylize`: the one entry point the CLI, the demo and the bots share."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import fields

from PIL import Image

from .arbitrary import ArbitraryOptions, run_arbitrary
from .batching import shared_batcher, wait
from .errors import OptionsError
from .fast.run import FastOptions, run_fast
from .gatys import GatysOptions, run_gatys
from .images import ImageSource, load_image, restore_alpha, split_alpha
from .masks import Regions
from .progress import ProgressCallback
from .regions import stylize_regions

METHODS = ("fast", "arbitrary", "gatys")
_FIELDS = {
    "fast": {f.name for f in fields(FastOptions)} - {"style"},
    "arbitrary": {f.name for f in fields(ArbitraryOptions)} - {"style_blend"},
    "gatys": GatysOptions.field_names() - {"style_blend"},
}


def stylize(
    content: ImageSource,
    style: str | Sequence[str] | None = None,
    *,
    method: str | None = None,
    style_images: Sequence[ImageSource] = (),
    style_blend: Sequence[float] | None = None,
    init_image: ImageSource | None = None,
    mask: ImageSource | Regions | None = None,
    invert_mask: bool = False,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    **options,
) -> Image.Image:
    """Stylise `content` with an installed fast style (`style="NAME"`) or, with `style_images`, by Gatys
    optimisation (the default) or in one pass with `method="arbitrary"`. `options` are the fields of
    `FastOptions`, `ArbitraryOptions` or `GatysOptions`; anything else is an error.

    `mask` (a picture, see `nst_core.masks`) styles only part of the photo: one region (greyscale, soft edges
    kept; `invert_mask` swaps inside and outside) or several colour-coded ones, with one style (a name, or a
    painting in `style_images`) per region, or one for all; outside every region the photo comes back exactly.

    A transparent photo is painted in colour and comes back with its own transparency (RGBA), so a cut-out
    stays a cut-out in PNG/WebP; JPEG writers put it on white."""
    if method is None:
        method = "gatys" if style_images else "fast"
    if method not in METHODS:
        raise OptionsError(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
    allowed = _FIELDS[method]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise OptionsError(
            f"unknown option(s) for method {method!r}: {', '.join(unknown)}. Valid: {', '.join(sorted(allowed))}."
        )
    image, alpha = split_alpha(load_image(content, keep_alpha=True))
    painted = _paint(image, method, style, style_images, style_blend, init_image, mask, invert_mask, callback,
                     cancel, options)  # fmt: skip
    return restore_alpha(painted, alpha)


def _paint(image, method, style, style_images, style_blend, init_image, mask, invert_mask, callback, cancel,
           options) -> Image.Image:  # fmt: skip
    """The method's run on an RGB photo, once `stylize` has checked the method and the option names."""
    if mask is not None:
        if style_blend is not None:
            raise OptionsError("style_blend mixes paintings over the whole picture; with a mask give one per region")
        return stylize_regions(image, method, style, style_images, mask, invert_mask, options, callback, cancel,
                               init_image=init_image)  # fmt: skip
    if not isinstance(style, (str, type(None))):
        raise OptionsError("several styles need a mask saying where each goes (mask=...)")
    if method == "fast":
        if style is None:
            raise OptionsError(
                "Choose a style: style='NAME' (see `python -m nst_core styles`), or give style "
                "images for method='gatys'."
            )
        if style_images or init_image is not None or style_blend is not None:
            raise OptionsError("style_images, style_blend and init_image are for method='gatys' or 'arbitrary'.")
        return run_fast(image, FastOptions(style=style, **options), callback=callback, cancel=cancel)
    if style is not None:
        raise OptionsError(f"method={method!r} takes style_images, not a style name.")
    if not style_images:
        raise OptionsError(f"method={method!r} needs at least one style image.")
    styles = [load_image(s) for s in style_images]
    blend = tuple(style_blend) if style_blend is not None else None
    if method == "arbitrary":
        if init_image is not None:
            raise OptionsError("init_image is only used by method='gatys'.")
        return run_arbitrary(image, styles, ArbitraryOptions(style_blend=blend, **options), callback=callback,
                             cancel=cancel)  # fmt: skip
    init = load_image(init_image) if init_image is not None else None
    if init is not None:
        options.setdefault("init", "image")  # giving an init image means starting from it
    opts = GatysOptions(style_blend=blend, **options)
    batcher = shared_batcher()  # NST_GATYS_BATCH > 1: batched with other threads' requests where they fit
    if batcher is not None:
        return wait(batcher.submit(image, styles, opts, init_image=init, callback=callback, cancel=cancel), cancel)
    return run_gatys(image, styles, opts, init_image=init, callback=callback, cancel=cancel)
