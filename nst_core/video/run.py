"""`stylize_video`: a video or an animated GIF/WebP stylised with a fast style, frame by frame, stabilised in time.

A clip comes back as the same kind of file: a video keeps its frame rate, frame count, size (rounded to even
sides for the codec) and sound; an animation keeps each frame's duration and its loop count. What the input is
comes from its content, never its name (`detect_media`), and every limit is checked from the header first.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import atomic_write
from ..errors import VideoError
from ..fast.run import FastOptions
from ..images import sized_for
from ..options import check_value, option_field
from ..progress import Progress, ProgressCallback, check_cancel
from ..sniff import IMAGE_SIGNATURES, looks_like_text
from . import animation, container
from .container import VideoLimits, VideoSource
from .frames import FrameStylizer
from .temporal import StabilizerSettings

# Frames per network pass. On a CPU one at a time measured fastest (batch 4 was 3-25% slower on one AMD EPYC core,
# bench/RESULTS.md); on a GPU a batch keeps it busy (not yet measured there).
CPU_BATCH, GPU_BATCH = 1, 4


@dataclass(frozen=True)
class Media:
    """What a file is: "video" (with its FFmpeg demuxer), "animation" (GIF/WebP), "image" or "unknown"."""

    kind: str
    demuxer: str | None = None


def detect_media(source: VideoSource) -> Media:
    """Recognise a file by its first bytes (and, for GIF/WebP, by counting frames); the name is not looked at."""
    head = _head(source)
    demuxer = container.sniff_container(head)
    if demuxer is not None:
        return Media("video", demuxer)
    if head.startswith((b"GIF87a", b"GIF89a")) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return Media("animation") if animation.is_animated(source) else Media("image")
    if any(head.startswith(sig) for sig, _ in IMAGE_SIGNATURES) or head[4:8] == b"ftyp":
        return Media("image")
    return Media("unknown")


def _head(source: VideoSource, n: int = 512) -> bytes:
    if isinstance(source, bytes):
        return source[:n]
    try:
        with open(os.fspath(source), "rb") as fh:
            return fh.read(n)
    except FileNotFoundError:
        raise VideoError(f"file not found: {Path(source).name}") from None
    except OSError as exc:
        raise VideoError(f"cannot read {Path(source).name}: {exc.strerror or exc}") from None


def not_a_video(source: VideoSource, what: str) -> VideoError:
    """The error for a file that is neither a video nor an animation, saying what it looks like instead."""
    head = _head(source)
    if not head:
        return VideoError(f"{what} is empty (0 bytes), not a video")
    looks = "looks like text" if looks_like_text(head[:64]) else "is in no video format this program reads"
    return VideoError(f"{what} is not a video: it {looks} (use MP4, MOV, MKV, WebM, AVI, or an animated GIF/WebP)")


@dataclass(frozen=True)
class VideoResult:
    """What was written: kind ("video" or "animation"), frames, size, frame rate (videos) and sound kept."""

    kind: str
    frames: int
    width: int
    height: int
    fps: Fraction | None
    audio: bool
    seconds: float  # wall-clock time the job took


def stylize_video(
    source: VideoSource,
    destination: str | os.PathLike,
    style: str | None = None,
    *,
    style_images: Sequence[Image.Image] = (),
    style_blend: Sequence[float] | None = None,
    strength: float = 1.0,
    size: int | None = None,
    stabilize: bool = True,
    preserve_colors: bool = False,
    device: str = "auto",
    precision: str = "auto",
    limits: VideoLimits | None = None,
    stabilizer: StabilizerSettings | None = None,
    label: str | None = None,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> VideoResult:
    """Stylise every frame of `source` (path or bytes) into `destination` (.mp4/.m4v/.mov/.mkv/.webm for a video,
    .gif/.webp for an animation) with the installed fast style `style`, or with any paintings (`style_images`,
    blended by `style_blend`) through the arbitrary-style network.

    `size` is the output's long side (default: the source's). `limits` default to `VideoLimits.from_env()`.
    `label` names the input in messages (servers pass "your video"; default: the file's name). Progress comes
    as `Progress` records counting frames (`unit="frame"`, `rate` = frames/s, `eta`, `image` = latest frame);
    `cancel` stops between batches with `Cancelled`, leaving no partial file behind.
    """
    start = time.monotonic()
    what = label or (Path(os.fspath(source)).name if not isinstance(source, bytes) else "the video")
    check_value(option_field(FastOptions, "size"), size)  # a frame is a fast picture: its sizes
    limits = limits or VideoLimits.from_env()
    media = detect_media(source)
    if media.kind == "image":
        raise VideoError(f"{what} is a still image, not a video; stylise it as a picture")
    if media.kind == "unknown":
        raise not_a_video(source, what)
    stylizer = FrameStylizer(
        style, style_images=style_images, style_blend=style_blend, strength=strength,
        preserve_colors=preserve_colors, device=device, precision=precision, stabilize=stabilize,
        stabilizer=stabilizer,
    )  # fmt: skip
    job = _Job(stylizer, start, callback, cancel)
    if media.kind == "video":
        return _video(source, destination, media, what, size, limits, job)
    return _animation(source, destination, what, size, limits, job)


def _out_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    return (width, height) if size is None else sized_for(width, height, size)


class _Job:
    """Runs frames through the stylizer in batches, reporting progress and honouring cancel between batches."""

    def __init__(self, stylizer: FrameStylizer, start: float, callback: ProgressCallback | None, cancel) -> None:
        self.stylizer, self.start, self.callback, self.cancel = stylizer, start, callback, cancel

    def run(self, frames: Iterable[np.ndarray], total: int, sink: Callable[[np.ndarray], None]) -> int:
        done = 0
        self._report(done, total, None)
        batch = CPU_BATCH if self.stylizer.profile.device.type == "cpu" else GPU_BATCH
        for chunk in _chunks(frames, batch):
            check_cancel(self.cancel)
            outs = self.stylizer.batch(chunk, cancel=self.cancel)
            for out in outs:
                sink(out)
            done += len(outs)
            self._report(done, max(total, done), outs[-1])
        check_cancel(self.cancel)
        return done

    def _report(self, done: int, total: int, last: np.ndarray | None) -> None:
        if self.callback is not None:
            size = (last.shape[1], last.shape[0]) if last is not None else (0, 0)
            image = Image.fromarray(last) if last is not None else None
            elapsed = time.monotonic() - self.start
            self.callback(Progress(step=done, total=total, elapsed=elapsed, size=size, image=image, unit="frame"))


def _chunks(frames: Iterable[np.ndarray], n: int) -> Iterator[list[np.ndarray]]:
    chunk: list[np.ndarray] = []
    for f in frames:
        chunk.append(f)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _video(source, destination, media: Media, what: str, size, limits: VideoLimits, job: _Job) -> VideoResult:
    suffix = Path(os.fspath(destination)).suffix.lower()
    container.output_kind(destination)  # before any work: a wrong name fails now
    info = container.probe_video(source, media.demuxer, what, limits)
    out_size = container.even_size(*_out_size(info.width, info.height, size))
    frames = container.read_frames(source, info, what, limits, out_size)
    audio = (source, media.demuxer) if info.has_audio else None
    count = 0

    def write(tmp: Path) -> None:
        nonlocal count
        try:
            writer = container.VideoWriter(tmp, suffix, out_size, info.fps, audio_from=audio)
            try:
                count = job.run(frames, info.frames, writer.write)
            except BaseException:
                writer.abort()  # cancelled or failed: no flushing, no sound carried over, the file is dropped
                raise
            writer.close()
        finally:
            frames.close()  # the input container now, not when the garbage collector gets to it

    atomic_write(destination, write, fsync=False)
    elapsed = time.monotonic() - job.start
    return VideoResult("video", count, *out_size, info.fps, info.has_audio, elapsed)


def _animation(source, destination, what: str, size, limits: VideoLimits, job: _Job) -> VideoResult:
    animation.check_destination(destination)
    info = animation.probe_animation(source, what, limits)
    out_size = _out_size(info.width, info.height, size)
    limits.check_animation(what, info.frames, *out_size)  # before any work: every painted frame is held
    outs: list[np.ndarray] = []
    job.run(animation.read_animation(source, what, out_size), info.frames, outs.append)
    animation.write_animation(destination, outs, info)
    return VideoResult("animation", len(outs), *out_size, None, False, time.monotonic() - job.start)
