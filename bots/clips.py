"""Animated GIFs and short videos: recognised by their bytes after the bounded download, stylised frame by frame
with `nst_core.stylize_video` under the bot's own short-clip limits, and fitted under the platform's upload limit.

An animation comes back as a GIF, a video as an MP4 (its sound kept). Installed (fast) styles and custom
paintings in one pass (the arbitrary network, "instant") paint clips; Gatys ("best") would take minutes a frame.
The output's long side is at most NST_BOT_VIDEO_SIZE (a smaller `size` is honoured, a small clip never enlarged);
if the file is still over the upload limit, it is made once more at a smaller size, else the person is told.
Results of clips carry no buttons: keeping every clip in memory for them would cost too much.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

import nst_core
from nst_core.video.animation import probe_animation
from nst_core.video.container import probe_video
from nst_core.video.run import not_a_video

from .config import CommonConfig
from .messages import BadOptions, BotError, FetchError, human_size
from .options import BEST, INSTANT, JobSpec, default_strength

VIDEO_EXTS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
MIN_CLIP_SIDE = 64  # a retry never goes below this long side: smaller is not worth sending
RETRY_SHRINK = 0.85  # at most this fraction of the first try's long side (bytes grow about with the pixels)
NO_BEST = f"Best quality paints still pictures only; for a GIF or a video leave out `{BEST}` ({INSTANT} quality)."
NO_CUSTOM = "A custom painting works on still pictures only here; pick an installed style for a GIF or a video."

StylizeVideoFn = Callable[..., Any]


@dataclass(frozen=True)
class Clip:
    """A downloaded animation ("animation") or video ("video"); `label` names it in messages."""

    data: bytes
    kind: str
    demuxer: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "video":
            return "Your video"
        return "Your GIF" if self.data[:3] == b"GIF" else "Your animation"


@dataclass(frozen=True)
class ClipResult:
    data: bytes
    ext: str  # "gif" | "mp4"
    size: tuple[int, int]  # (width, height)
    frames: int

    @property
    def noun(self) -> str:
        return "GIF" if self.ext == "gif" else "video"

    def filename(self, stem: str) -> str:
        return f"{stem}.{self.ext}"


def declares_video(content_type: str | None, filename: str | None) -> bool:
    """What the platform says a file is (MIME type or name): only used to word a refusal, never to decide."""
    return (content_type or "").lower().startswith("video/") or (filename or "").lower().endswith(VIDEO_EXTS)


def identify(data: bytes, *, clips: bool, expect_video: bool = False) -> Clip | None:
    """A `Clip` for an animation or a video; None for bytes to decode as a still picture (the image path as
    before: its own messages for what is not a picture). With clips turned off an animated GIF is a still."""
    media = nst_core.detect_media(data)
    if media.kind in ("animation", "video"):
        if clips:
            return Clip(data, media.kind, media.demuxer)
        if media.kind == "video":
            raise FetchError("Videos are turned off on this server; send a picture (PNG, JPEG or WebP).")
        return None
    if media.kind == "unknown" and expect_video:
        raise not_a_video(data, "That file")
    return None


def source_long_side(clip: Clip, config: CommonConfig) -> int:
    """The clip's long side as sent; checks the bot's limits from the header first (a VideoError says which)."""
    if clip.kind == "video":
        info = probe_video(clip.data, clip.demuxer or "", clip.label, config.clip_limits)
        return max(info.width, info.height)
    anim = probe_animation(clip.data, clip.label, config.clip_limits)
    return max(anim.width, anim.height)


def smaller(size: int, got: int, limit: int) -> int:
    """A long side whose file should fit: bytes scale about with the pixels, so with the square root."""
    return int(size * min(RETRY_SHRINK, 0.9 * math.sqrt(limit / max(got, 1))))


def check_clip_spec(spec: JobSpec, config: CommonConfig) -> None:
    """Refuse, before the painting is even downloaded, what cannot paint a clip: Gatys (asked for as `best`, or
    in place of an instant network that did not load here)."""
    if spec.method == "gatys":
        raise BadOptions(NO_BEST if config.arbitrary_enabled else NO_CUSTOM)
    if spec.method == "fast" and not spec.style:
        raise BadOptions(NO_CUSTOM)


def render_clip(
    clip: Clip,
    spec: JobSpec,
    config: CommonConfig,
    limit: int,
    *,
    style_image: Image.Image | None = None,
    callback: Callable[[nst_core.Progress], None] | None = None,
    cancel: threading.Event | None = None,
    stylize_video: StylizeVideoFn | None = None,
) -> ClipResult:
    """Runs in a worker thread: stylise `clip` into a GIF or MP4 of at most `limit` bytes (one smaller retry),
    with the installed style of `spec` or, for a custom painting, `style_image`."""
    check_clip_spec(spec, config)
    if spec.custom and style_image is None:
        raise ValueError("custom paintings need a style image")
    styles = (style_image,) if spec.custom else ()
    stylize_video = stylize_video or nst_core.stylize_video
    long_side = source_long_side(clip, config)
    size = min(spec.size or config.clip_size, config.clip_size, long_side)
    ext = "gif" if clip.kind == "animation" else "mp4"
    with tempfile.TemporaryDirectory(prefix="nst-bot-") as tmp:
        dest = Path(tmp) / f"result.{ext}"
        for attempt in (1, 2):
            done = stylize_video(
                clip.data, dest, spec.style, style_images=styles,
                strength=default_strength(spec.method) if spec.strength is None else spec.strength,
                size=None if size >= long_side else size, preserve_colors=spec.preserve_colors,
                device=config.device, precision=config.precision, limits=config.clip_limits, label=clip.label,
                callback=callback, cancel=cancel,
            )  # fmt: skip
            data = dest.read_bytes()
            if len(data) <= limit:
                return ClipResult(data, ext, (done.width, done.height), done.frames)
            size = smaller(size, len(data), limit)
            if attempt == 2 or size < MIN_CLIP_SIDE:
                break
    noun = "GIF" if ext == "gif" else "video"
    raise BotError(
        f"The stylised {noun} is {human_size(len(data))}, over the {human_size(limit)} upload limit here even when "
        "made smaller; send a shorter clip."
    )
