"""Video files in and out with PyAV (its wheels bundle FFmpeg): probe, limits, decode to RGB frames, encode.

Why so careful: videos come from strangers (the demo, the bots). FFmpeg would happily probe any of its hundreds
of formats, including playlists (HLS, concat) that open other files or URLs. So the container is recognised from
its first bytes here, against a short allow-list, and FFmpeg is told which demuxer to use: it never guesses.
Everything that can be learnt from the header (size, duration, frame count) is checked against `VideoLimits`
before a single frame is decoded, and again while decoding, since headers can lie.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..envvars import env_number
from ..errors import OptionsError, VideoError

log = logging.getLogger(__name__)

VideoSource = str | os.PathLike | bytes

# first bytes -> FFmpeg demuxer. MP4/MOV boxes: ftyp (usual), or an older file starting with moov/mdat/wide/free.
AUDIO_TAIL = 1.0  # seconds of sound kept past the last frame (a fade-out, encoder padding)
_MOV_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")
_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")
# output suffix -> (muxer, video encoder, options, audio encoder used when the source's audio cannot be copied)
OUTPUTS = {
    ".mp4": ("mp4", "libx264", {"crf": "18", "preset": "veryfast"}, "aac"),
    ".m4v": ("mp4", "libx264", {"crf": "18", "preset": "veryfast"}, "aac"),
    ".mov": ("mov", "libx264", {"crf": "18", "preset": "veryfast"}, "aac"),
    ".mkv": ("matroska", "libx264", {"crf": "18", "preset": "veryfast"}, "aac"),
    ".webm": ("webm", "libvpx-vp9", {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"}, "libopus"),
}


@dataclass(frozen=True)
class VideoLimits:
    """The largest clip accepted; the defaults suit a CPU server. From the environment with `from_env()`."""

    max_seconds: float = 120.0
    max_frames: int = 3600
    max_pixels: int = 3840 * 2160  # per frame, as stored (before any resizing)
    # An animation is written in one go (Pillow), so all its painted frames are held at once (RGB, plus the copy
    # Pillow makes): frames x width x height x 6 bytes must fit this.
    max_animation_mb: int = 2048

    @classmethod
    def from_env(cls) -> VideoLimits:
        """NST_VIDEO_MAX_SECONDS, _FRAMES, _PIXELS, _ANIMATION_MB (checked; a typo is an error)."""
        d = cls()
        return cls(
            max_seconds=float(env_number("NST_VIDEO_MAX_SECONDS", d.max_seconds, lo=0.1, whole=False)),
            max_frames=int(env_number("NST_VIDEO_MAX_FRAMES", d.max_frames, lo=1)),
            max_pixels=int(env_number("NST_VIDEO_MAX_PIXELS", d.max_pixels, lo=1)),
            max_animation_mb=int(env_number("NST_VIDEO_MAX_ANIMATION_MB", d.max_animation_mb, lo=1)),
        )

    def check_animation(self, what: str, frames: int, width: int, height: int) -> None:
        """Raise VideoError when the painted animation would not fit in memory at this output size."""
        if frames * width * height * 6 > self.max_animation_mb * 2**20:
            raise VideoError(
                f"{what} has {frames} frames; painted at {width}x{height} they are too many to hold at once "
                "(an animation is written in one go): choose a smaller size, fewer frames, or send it as a video"
            )

    def check(self, what: str, width: int, height: int, frames: int, seconds: float) -> None:
        """Raise VideoError naming the first limit the clip is over (pixels, then length)."""
        if width * height > self.max_pixels:
            raise VideoError(
                f"{what} is {width}x{height} pixels a frame, over the limit of {self.max_pixels:,} pixels; "
                "use a smaller video"
            )
        if seconds > self.max_seconds:
            raise VideoError(f"{what} lasts {seconds:.1f} s, over the limit of {self.max_seconds:g} s; cut it shorter")
        if frames > self.max_frames:
            raise VideoError(f"{what} has {frames} frames, over the limit of {self.max_frames}; cut it shorter")


@dataclass(frozen=True)
class VideoInfo:
    """What the header says about a clip (frames and seconds may be estimates, enforced again while decoding)."""

    demuxer: str
    codec: str
    width: int
    height: int
    fps: Fraction
    frames: int
    seconds: float
    has_audio: bool


def sniff_container(head: bytes) -> str | None:
    """The FFmpeg demuxer for these first bytes, or None when they are not an allowed video container."""
    if head[4:8] in _MOV_BOXES:
        return None if head[4:8] == b"ftyp" and head[8:12] in _IMAGE_BRANDS else "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"FLV\x01"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47:
        return "mpegts"
    return None


def _open(source: VideoSource, demuxer: str, what: str) -> av.container.InputContainer:
    try:
        data = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
        return av.open(data, mode="r", format=demuxer, options={"enable_drefs": "0"})
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{what} is a damaged or incomplete video and cannot be read ({_reason(exc)})") from None


def probe_video(source: VideoSource, demuxer: str, what: str, limits: VideoLimits) -> VideoInfo:
    """Read the header and the first frame; raise VideoError (corrupt, no picture, unknown codec, over limits)."""
    with _open(source, demuxer, what) as c:
        if not c.streams.video:
            kind = "an audio file" if c.streams.audio else "a media file with no picture"
            raise VideoError(f"{what} is {kind}, not a video")
        v = c.streams.video[0]
        ctx = v.codec_context
        if ctx is None or not ctx.name or ctx.name == "none":
            raise VideoError(f"{what} uses a video codec this installation cannot decode; convert it to H.264 MP4")
        width, height = ctx.width, ctx.height
        fps = v.average_rate or v.guessed_rate or v.base_rate
        if not fps or fps <= 0 or width <= 0 or height <= 0:
            raise VideoError(f"{what} has no usable frame size or frame rate in its header; the file is damaged")
        fps = Fraction(fps)
        seconds = _seconds(c, v)
        frames = v.frames or round(seconds * fps)
        limits.check(what, width, height, frames, seconds)
        try:
            next(c.decode(v))
        except StopIteration:
            raise VideoError(f"{what} contains no video frames") from None
        except av.FFmpegError as exc:
            raise VideoError(f"{what} has a damaged video stream ({_reason(exc)})") from None
        return VideoInfo(demuxer, ctx.name, width, height, fps, frames, seconds, bool(c.streams.audio))


def _seconds(c: av.container.InputContainer, v: av.VideoStream) -> float:
    if v.duration and v.time_base:
        return float(v.duration * v.time_base)
    return c.duration / av.time_base if c.duration else 0.0


def read_frames(
    source: VideoSource, info: VideoInfo, what: str, limits: VideoLimits, size: tuple[int, int]
) -> Iterator[np.ndarray]:
    """HxWx3 uint8 RGB frames scaled to `size` (w, h) by FFmpeg while decoding; limits enforced as it goes."""
    w, h = size
    with _open(source, info.demuxer, what) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        count, start = 0, None
        try:
            for frame in c.decode(v):
                count += 1
                seconds = 0.0
                if frame.pts is not None and frame.time_base:  # from the first frame: a clip may start at any time
                    start = frame.pts if start is None else start
                    seconds = float((frame.pts - start) * frame.time_base)
                limits.check(what, info.width, info.height, count, seconds)
                yield frame.to_ndarray(format="rgb24", width=w, height=h)
        except av.FFmpegError as exc:
            raise VideoError(f"{what} is damaged after frame {count} and cannot be read on ({_reason(exc)})") from None


def output_kind(dest: str | os.PathLike) -> str:
    """The muxer for a video destination, or OptionsError naming the suffixes that work."""
    suffix = Path(os.fspath(dest)).suffix.lower()
    if suffix not in OUTPUTS:
        raise OptionsError(f"a video is written as {', '.join(sorted(OUTPUTS))}; {Path(dest).name!r} is none of them")
    return OUTPUTS[suffix][0]


def even_size(width: int, height: int) -> tuple[int, int]:
    """H.264/VP9 in 4:2:0 need even sides: round down (at least 2 px)."""
    return max(2, width - width % 2), max(2, height - height % 2)


class VideoWriter:
    """Encodes RGB frames at `fps` into `path` as a `suffix` file (.mp4, ...) and copies the source's audio.

    The audio is copied as is when the container takes its codec, else re-encoded (AAC, or Opus for WebM); a
    clip whose audio cannot be carried over at all is still written, without it, and says so in the log.
    """

    def __init__(
        self, path: str | os.PathLike, suffix: str, size: tuple[int, int], fps: Fraction,
        audio_from: tuple[VideoSource, str] | None = None,
    ) -> None:  # fmt: skip
        muxer, codec, options, self._audio_codec = OUTPUTS[suffix]
        self._out = av.open(os.fspath(path), mode="w", format=muxer)
        self._video = self._out.add_stream(codec, rate=fps, options=dict(options))
        self._video.width, self._video.height = size
        self._video.pix_fmt = "yuv420p"
        self._fps, self._frames = fps, 0
        self._audio_in = self._audio_out = self._resampler = None
        if audio_from is not None:
            try:
                self._add_audio(*audio_from)
            except BaseException:
                self.abort()
                raise

    def _add_audio(self, source: VideoSource, demuxer: str) -> None:
        self._audio_in = av.open(io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source),
                                 format=demuxer, options={"enable_drefs": "0"})  # fmt: skip
        src = self._audio_in.streams.audio[0]
        if src.codec_context.name in self._out.supported_codecs and src.codec_context.name != "pcm_s16le":
            self._audio_out = self._out.add_stream_from_template(src)
        else:
            self._audio_out = self._out.add_stream(self._audio_codec, rate=48000 if "opus" in self._audio_codec else
                                                   src.codec_context.sample_rate)  # fmt: skip
            self._resampler = av.AudioResampler(format=self._audio_out.codec_context.format,
                                                layout=src.codec_context.layout, rate=self._audio_out.rate)  # fmt: skip

    def write(self, frame: np.ndarray) -> None:
        self._frames += 1
        for packet in self._video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._out.mux(packet)

    def close(self) -> None:
        """Flush the encoder, carry the audio over, finish the file."""
        try:
            for packet in self._video.encode():
                self._out.mux(packet)
            if self._audio_in is not None:
                try:
                    self._copy_audio()
                except av.FFmpegError as exc:
                    log.warning("the sound could not be carried over (%s); the video is written without it", exc)
        finally:
            if self._audio_in is not None:
                self._audio_in.close()
            self._out.close()

    def abort(self) -> None:
        """Close both containers without flushing the encoder or copying the sound (the job failed or was
        cancelled: the partial file is thrown away, and a long sound track must not delay the stop)."""
        if self._audio_in is not None:
            self._audio_in.close()
        with contextlib.suppress(av.FFmpegError, OSError, ValueError):  # a trailer after a failure may not fit
            self._out.close()

    def _copy_audio(self) -> None:
        """The sound, up to the end of the picture (AUDIO_TAIL seconds of grace): a short clip carrying hours of
        sound would otherwise cost minutes of copying or re-encoding and a file far over any upload limit."""
        src = self._audio_in.streams.audio[0]
        end = float(self._frames / self._fps) + AUDIO_TAIL if self._fps else 0.0

        def before_end(item: Any) -> bool:
            return item.pts is None or item.time_base is None or float(item.pts * item.time_base) <= end

        if self._resampler is None:
            for packet in self._audio_in.demux(src):
                if not before_end(packet):
                    break
                if packet.dts is not None:
                    packet.stream = self._audio_out
                    self._out.mux(packet)
            return
        for frame in self._audio_in.decode(src):
            if not before_end(frame):
                break
            for part in self._resampler.resample(frame):
                for packet in self._audio_out.encode(part):
                    self._out.mux(packet)
        for packet in self._audio_out.encode():
            self._out.mux(packet)


def _reason(exc: BaseException) -> str:
    """FFmpeg's words without the file name it appends (a server path is nobody's business)."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__
