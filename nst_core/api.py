"""`stylize`: the one entry point the CLI, the demo and the bots share."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import fields

from PIL import Image

from .errors import OptionsError
from .fast import FastOptions, run_fast
from .gatys import GatysOptions, run_gatys
from .images import ImageSource, load_image
from .progress import ProgressCallback

METHODS = ("fast", "gatys")
_FAST_FIELDS = {f.name for f in fields(FastOptions)} - {"style"}
_GATYS_FIELDS = GatysOptions.field_names() - {"style_blend"}


def stylize(
    content: ImageSource,
    style: str | None = None,
    *,
    method: str | None = None,
    style_images: Sequence[ImageSource] = (),
    style_blend: Sequence[float] | None = None,
    init_image: ImageSource | None = None,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    **options,
) -> Image.Image:
    """Stylise `content` with an installed fast style (`style="NAME"`) or, with `style_images`, by Gatys
    optimisation. `options` are the fields of `FastOptions` or `GatysOptions`; anything else is an error."""
    if method is None:
        method = "gatys" if style_images else "fast"
    if method not in METHODS:
        raise OptionsError(f"method must be one of {', '.join(METHODS)}, not {method!r}.")
    allowed = _FAST_FIELDS if method == "fast" else _GATYS_FIELDS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise OptionsError(
            f"unknown option(s) for method {method!r}: {', '.join(unknown)}. Valid: {', '.join(sorted(allowed))}."
        )
    image = load_image(content)
    if method == "fast":
        if style is None:
            raise OptionsError(
                "Choose a style: style='NAME' (see `python -m nst_core styles`), or give style "
                "images for method='gatys'."
            )
        if style_images or init_image is not None or style_blend is not None:
            raise OptionsError("style_images, style_blend and init_image are only used by method='gatys'.")
        return run_fast(image, FastOptions(style=style, **options), callback=callback, cancel=cancel)
    if style is not None:
        raise OptionsError("method='gatys' takes style_images, not a style name.")
    if not style_images:
        raise OptionsError("method='gatys' needs at least one style image.")
    styles = [load_image(s) for s in style_images]
    init = load_image(init_image) if init_image is not None else None
    if init is not None:
        options.setdefault("init", "image")  # giving an init image means starting from it
    opts = GatysOptions(style_blend=tuple(style_blend) if style_blend is not None else None, **options)
    return run_gatys(image, styles, opts, init_image=init, callback=callback, cancel=cancel)
