"""Clickable examples (a photo with a style that paints itself, paintings for the custom-style tab) and the style
gallery's painting insets.

What we ship (demo/assets, credits in its CREDITS.md, written by tools/make_demo_assets.py): thumbnails of at most
320 px of public-domain paintings, and four public-domain / CC0 photographs from scikit-image's sample data; the
core's built-in synthetic scene comes last. NST_DEMO_EXAMPLES (a folder with `photos/` and `paintings/`) replaces
the bundled folder, so a Space operator shows images whose rights they hold without a code change.
A painting there named as a style's training
painting also appears, inset, on that style's gallery tile. Results of photo examples are cached lazily
by Gradio: the first visitor to click one waits about a second, later visitors get the picture at once.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps

from nst_core.styles import synthetic_preview_content

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
MAX_EXAMPLES = 12  # per list: a page of thumbnails, not a gallery


def _images(folder: Path | None) -> list[Path]:
    if folder is None or not folder.is_dir():
        return []
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return found[:MAX_EXAMPLES]


def builtin_photo(cache_dir: Path) -> Path:
    """The built-in scene as a file (Gradio examples are files), written once per server."""
    path = cache_dir / "example_scene.png"
    if not path.is_file():
        synthetic_preview_content(512).save(path)
    return path


def photo_examples(examples_dir: Path | None, cache_dir: Path, styles: Sequence[str]) -> list[list[str]]:
    """[photo, style] rows: each photo shown with a different style, the best-scoring (first) style first."""
    if not styles:
        return []
    photos = [*_images(examples_dir / "photos" if examples_dir else None), builtin_photo(cache_dir)]
    return [[str(photo), style] for photo, style in zip(photos, itertools.cycle(styles))]


def credit(path: Path) -> str | None:
    """'The Starry Night, Vincent van Gogh (1889)': a picture's caption from its folder's credits.json (the
    bundled examples have one; an operator's folder may)."""
    try:
        labels = json.loads((path.parent.parent / "credits.json").read_text())
    except (OSError, ValueError):
        return None
    return labels.get(f"{path.parent.name}/{path.name}") if isinstance(labels, dict) else None


def painting_examples(examples_dir: Path | None) -> list[list[str]]:
    """[painting] rows for the custom-style tab; none unless the operator supplies paintings."""
    return [[str(p)] for p in _images(examples_dir / "paintings" if examples_dir else None)]


TILE = 256  # gallery tiles are square, cropped to cover
INSET = 0.45  # the painting's share of the tile's side, in the top right corner


def painting_for(examples_dir: Path | None, style_name: str, meta: dict) -> Path | None:
    """The operator's copy of a style's painting: `paintings/` holds it under the file name its training recorded
    (e.g. starry_night.jpg) or under the style's name."""
    for path in _images(examples_dir / "paintings" if examples_dir else None):
        if path.name == meta.get("style_image") or path.stem == style_name:
            return path
    return None


def painting_tile(preview: Path, painting: Path, cache_dir: Path) -> Path:
    """A gallery tile that shows both what the style does (its sample result) and the painting it learned (an inset
    in the corner); made once per pair of files and kept in the server's cache folder."""
    stamp = "-".join(f"{p.stat().st_mtime_ns:x}{p.stat().st_size:x}" for p in (preview, painting))
    key = f"{preview.stem}-{painting.stem}-{stamp}"
    out = cache_dir / f"tile-{key}.jpg"
    if out.is_file():
        return out
    with Image.open(preview) as sample, Image.open(painting) as art:
        tile = ImageOps.fit(sample.convert("RGB"), (TILE, TILE))
        side = int(TILE * INSET)
        inset = ImageOps.expand(ImageOps.fit(art.convert("RGB"), (side - 6, side - 6)), border=3, fill="white")
        tile.paste(inset, (TILE - side - 4, 4))  # top right: the caption sits at the bottom
    tile.save(out, quality=90)
    return out
