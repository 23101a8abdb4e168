"""Animated GIF and WebP in and out, with each frame's own duration and the loop count kept.

Why Pillow and not PyAV here: FFmpeg's WebP decoder does not read animated WebP, and its GIF encoder needs a
palette filter graph to look right; Pillow reads and writes both formats with per-frame durations directly.
Only GIF and WebP are opened (no format guessing), and the size is checked against the limits before decoding.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import atomic_write
from ..errors import OptionsError, VideoError
from ..images import to_rgb
from .container import VideoLimits, VideoSource

SUFFIXES = {".gif": "GIF", ".webp": "WEBP"}
_DEFAULT_MS = 100  # what browsers show for a frame that states no duration


@dataclass(frozen=True)
class AnimationInfo:
    format: str  # GIF | WEBP
    width: int
    height: int
    durations_ms: tuple[int, ...]
    loop: int  # 0 = forever

    @property
    def frames(self) -> int:
        return len(self.durations_ms)

    @property
    def seconds(self) -> float:
        return sum(self.durations_ms) / 1000.0


def _open(source: VideoSource) -> Image.Image:
    data = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    return Image.open(data, formats=("GIF", "WEBP"))


def is_animated(source: VideoSource) -> bool:
    """True for a GIF or WebP with more than one frame (a one-frame one is a still image)."""
    try:
        with _open(source) as im:
            return bool(getattr(im, "is_animated", False))
    except Exception:  # anything Pillow cannot open as GIF/WebP is not an animation
        return False


def probe_animation(source: VideoSource, what: str, limits: VideoLimits) -> AnimationInfo:
    """Size, per-frame durations and loop count; VideoError when damaged or over the limits."""
    try:
        with _open(source) as im:
            w, h = im.size
            limits.check(what, w, h, 1, 0.0)
            n = im.n_frames
            limits.check(what, w, h, n, 0.0)
            durations = []
            for i in range(n):
                im.seek(i)
                durations.append(int(im.info.get("duration") or _DEFAULT_MS))
            info = AnimationInfo(im.format, w, h, tuple(durations), int(im.info.get("loop", 0) or 0))
    except VideoError:
        raise
    except Exception as exc:
        raise VideoError(f"{what} is a damaged animation and cannot be read ({exc})") from None
    limits.check(what, w, h, info.frames, info.seconds)
    return info


def read_animation(source: VideoSource, what: str, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Each frame as HxWx3 uint8 RGB at `size` (transparent parts on white, as a browser would show them)."""
    with _open(source) as im:
        for i in range(im.n_frames):
            try:
                im.seek(i)
                frame = to_rgb(im.convert("RGBA"))
            except Exception as exc:
                raise VideoError(f"{what} is damaged at frame {i + 1} ({exc})") from None
            if frame.size != size:
                frame = frame.resize(size, Image.Resampling.LANCZOS)
            yield np.asarray(frame)


def check_destination(dest: str | os.PathLike) -> str:
    """The Pillow format for an animation destination, or OptionsError."""
    fmt = SUFFIXES.get(Path(os.fspath(dest)).suffix.lower())
    if fmt is None:
        raise OptionsError(f"an animation is written as .gif or .webp; {Path(dest).name!r} is neither")
    return fmt


def write_animation(dest: str | os.PathLike, frames: list[np.ndarray], info: AnimationInfo) -> None:
    """All frames at once (Pillow writes animations in one call), atomically, durations and loop as in `info`.

    Pillow stores a frame identical to the one before as a longer showing of it (durations summed): a pause in a
    GIF plays the same but may count fewer frames. Telling the frames apart would take a visible pixel change in a
    256-colour GIF, so it is left as it is."""
    fmt = check_destination(dest)
    images = [Image.fromarray(f) for f in frames]
    extra = {"quality": 90} if fmt == "WEBP" else {"optimize": False, "disposal": 1}

    def write(tmp: Path) -> None:
        images[0].save(
            tmp, format=fmt, save_all=True, append_images=images[1:], duration=list(info.durations_ms),
            loop=info.loop, **extra,
        )  # fmt: skip

    atomic_write(dest, write, fsync=False)
