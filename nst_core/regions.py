"""Styling regions of a picture: one run per region (or one guided Gatys run), laid over the photo by the mask.

`stylize(..., mask=...)` comes here. Fast styles and the arbitrary method paint the whole picture once per region
style and blend; Gatys optimises one picture with a guided Gram matrix per region (Gatys et al. 2017), which a
per-region blend cannot give (the strokes of each region are made for its shape). Every result then goes through
`masks.blend_regions`, so outside the regions the photo is returned exactly.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from PIL import Image

from .errors import OptionsError
from .images import ImageSource, load_image
from .masks import Regions, blend_regions, load_regions
from .progress import Progress, ProgressCallback

FEATHER = 0.003  # of the long side: hard mask edges softened over a few pixels, so no seam shows


def _per_region(styles: Sequence, regions: Regions, what: str) -> list:
    n = len(regions.weights)
    if len(styles) == n:
        return list(styles)
    if len(styles) == 1:
        return list(styles) * n
    raise OptionsError(f"the mask has {n} region(s): give one {what} per region, or one for all (got {len(styles)})")


def _shifted(callback: ProgressCallback | None, index: int, count: int) -> ProgressCallback | None:
    """A region's progress as part of the whole job (region `index` of `count`)."""
    if callback is None:
        return None

    def report(p: Progress) -> None:
        total = p.total * count
        callback(Progress(step=index * p.total + p.step, total=total, losses=p.losses, elapsed=p.elapsed,
                          size=p.size, scale=p.scale, scales=p.scales, image=p.image, unit=p.unit))  # fmt: skip

    return report


def stylize_regions(
    image: Image.Image,
    method: str,
    style: str | Sequence[str] | None,
    style_images: Sequence[ImageSource],
    mask: ImageSource | Regions,
    invert: bool,
    options: dict,
    callback: ProgressCallback | None,
    cancel: threading.Event | None,
    *,
    init_image: ImageSource | None = None,
) -> Image.Image:
    from .api import stylize  # one region's run is an ordinary call

    if not isinstance(invert, bool):
        raise OptionsError(f"invert_mask must be true or false, got {invert!r}")
    regions = load_regions(mask, image.size, invert=invert, feather=FEATHER * max(image.size))
    if method == "gatys":
        from .gatys import GatysOptions, run_gatys

        paintings = _per_region([load_image(s) for s in style_images], regions, "style image")
        init = load_image(init_image) if init_image is not None else None
        if init is not None:
            options.setdefault("init", "image")
        out = run_gatys(image, paintings, GatysOptions(**options), init_image=init, regions=regions,
                        callback=callback, cancel=cancel)  # fmt: skip
        return blend_regions(image.resize(out.size, Image.Resampling.LANCZOS), [out] * len(regions.weights), regions)
    if method == "fast":
        jobs = [{"style": s} for s in _per_region([style] if isinstance(style, str) else list(style or ()), regions,
                                                  "style")]  # fmt: skip
    else:
        jobs = [{"style_images": [s]} for s in _per_region(list(style_images), regions, "style image")]
    results, done = [], {}
    for i, job in enumerate(jobs):
        key = repr(job)
        if key not in done:  # the same style on several regions is painted once
            done[key] = stylize(image, method=method, callback=_shifted(callback, i, len(jobs)), cancel=cancel,
                                **job, **options)  # fmt: skip
        results.append(done[key])
    photo = image.resize(results[0].size, Image.Resampling.LANCZOS) if results[0].size != image.size else image
    return blend_regions(photo, results, regions)
