"""Clickable examples: a photo (with a style) that paints itself, and paintings for the custom-style tab.

What we may ship: the core's built-in synthetic scene (generated, no file in the repo). Real photos and paintings
come from NST_DEMO_EXAMPLES (a folder with `photos/` and `paintings/`), so a Space operator adds images whose
rights they hold (e.g. public-domain paintings) without a code change. Results of photo examples are cached lazily
by Gradio: the first visitor to click one waits about a second, later visitors get the picture at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

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
    photos = [builtin_photo(cache_dir), *_images(examples_dir / "photos" if examples_dir else None)]
    return [[str(photo), style] for photo, style in zip(photos, itertools.cycle(styles))]


def painting_examples(examples_dir: Path | None) -> list[list[str]]:
    """[painting] rows for the custom-style tab; none unless the operator supplies paintings."""
    return [[str(p)] for p in _images(examples_dir / "paintings" if examples_dir else None)]
