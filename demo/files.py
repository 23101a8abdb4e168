"""The demo's result files: a fresh, safe name for each download, and a sweep of old results so the disk stays
bounded.

The output folder also holds files the demo did not paint for a visitor (the built-in example scene, gallery tiles,
Gradio's example cache) and an operator may point it anywhere, so the sweep deletes only names `result_path` made
(`nst_<label>_<8 hex digits>.<suffix>`), never "every *.png".
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

PREFIX = "nst_"
RESULT_NAME = re.compile(rf"{PREFIX}[A-Za-z0-9_-]*_[0-9a-f]{{8}}\.[A-Za-z0-9]+")
LABEL_CHARS = 40  # of the label kept in a file name: enough to recognise the style in a downloads folder


def safe_label(text: str, fallback: str) -> str:
    """`text` as a file-name part: letters, digits, _ and - only (a visitor's style name may hold anything)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:LABEL_CHARS] or fallback


def sweep(folder: Path, ttl: float) -> None:
    """Delete the results in `folder` older than `ttl` seconds; anything else there is left alone."""
    now = time.time()
    for old in folder.glob(f"{PREFIX}*"):
        try:
            if RESULT_NAME.fullmatch(old.name) and old.is_file() and now - old.stat().st_mtime > ttl:
                old.unlink()
        except OSError:  # swept by another request meanwhile, or not ours to delete
            pass


def result_path(folder: Path, label: str, suffix: str, ttl: float, fallback: str = "image") -> Path:
    """A new file name for a result in `folder` (old results swept first): 'nst_starry_night_1a2b3c4d.png'."""
    sweep(folder, ttl)
    return folder / f"{PREFIX}{safe_label(label, fallback)}_{uuid.uuid4().hex[:8]}{suffix}"
