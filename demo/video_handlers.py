"""What the Video and Webcam tabs call: a clip in, `nst_core.stylize_video` with this server's limits, the
stylised clip and friendly words back; webcam frames through one `FrameStylizer` per visitor. Either paints with a
fast style or, when the visitor gives one, with their own painting (the Instant method, `style_images=`).

As in demo/handlers.py, no stylisation logic lives here: the core recognises the file by its bytes, checks the
limits from the header and writes messages for people ("your video lasts 95.0 s, over the limit of 30 s").
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

import nst_core
from nst_core.progress import status_line

from .availability import INSTANT, Availability
from .config import DemoConfig
from .dispatch import engine_from_env, show_progress
from .files import result_path
from .handlers import MIN_UPLOAD_SIDE, capped_int, friendly_error, refuse, visitor_text
from .jobs import StopSwitches, run_in_thread

log = logging.getLogger("nst.demo")

LABEL = "your video"  # how messages name the upload: never a path on the server
PREVIEW_EVERY = 1.0  # seconds between frames shown while a clip is being painted
WEBCAM_IDLE = 3.0  # seconds without a frame after which a visitor's stream counts as ended (state dropped)
MAX_WEBCAM_SESSIONS = 64
PAINTING_SIDE = 1024  # a painting is read at most this large: the network takes its statistics, not its pixels


def _path(upload: Any) -> str | None:
    """A file input's path; a FileData dict when an API client bypasses preprocessing."""
    if isinstance(upload, dict):
        upload = upload.get("path")
    return str(upload) if upload else None


def load_painting(upload: Any, config: DemoConfig, available: Availability) -> list[Image.Image]:
    """The visitor's painting as `style_images` (empty: none given, paint with the style); refused in plain words
    when the Instant network does not load here."""
    path = _path(upload)
    if path is None:
        return []
    if (why := available.refusal(INSTANT)) is not None:
        raise gr.Error(visitor_text(why), print_exception=False)
    return [nst_core.load_image(path, max_pixels=config.max_pixels, label="your painting", shrink_to=PAINTING_SIDE,
                                min_side=MIN_UPLOAD_SIDE)]  # fmt: skip


def _out_suffix(path: str) -> str:
    """A video comes back as MP4 (plays in every browser); an animation as the same kind it came as."""
    media = nst_core.detect_media(path)
    if media.kind != "animation":
        return ".mp4"  # also for a still or an unknown file: stylize_video then says what is wrong with it
    with open(path, "rb") as fh:
        return ".gif" if fh.read(6).startswith(b"GIF") else ".webp"


def describe(p: nst_core.Progress) -> str:
    """'Frame 48 of 240 · 4.1 frames/s · 12 s, about 47 s left'."""
    rate = f" · {p.rate:.1f} frames/s" if p.rate is not None else ""
    return status_line(p, f"Frame {p.step} of {p.total}{rate}")


class VideoStylist:
    """The Video tab's handlers, bound to one server config; wired to the page in `demo.video_tabs`."""

    def __init__(self, config: DemoConfig, out_dir: Path, available: Availability | None = None) -> None:
        self.config = config
        self.engine = engine_from_env()  # this process, or the queue's workers (NST_QUEUE_URL)
        self.available = available or Availability()
        self.out_dir = out_dir
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.stops = StopSwitches()

    def limits(self) -> nst_core.VideoLimits:
        c = self.config
        return nst_core.VideoLimits(
            max_seconds=c.video_max_seconds, max_frames=c.video_max_frames, max_pixels=c.video_max_pixels
        )

    def arm_stop(self, request: gr.Request) -> None:
        self.stops.arm(request.session_hash)

    def stop(self, request: gr.Request) -> None:
        self.stops.stop(request.session_hash)

    def _destination(self, style: str, suffix: str) -> Path:
        """A new file for the result; results older than `file_ttl` are swept so the disk stays bounded."""
        return result_path(self.out_dir, f"video_{style or 'style'}", suffix, self.config.file_ttl)

    def _job(self, video: Any, style: Any, strength: Any, stabilize: Any, size: Any, painting: Any) -> dict[str, Any]:
        """Widget values -> stylize_video's arguments; a missing or wrong input raises gr.Error."""
        video = _path(video)
        if not video:
            raise refuse("Please add a video or an animated GIF first.")
        paintings = load_painting(painting, self.config, self.available)
        if not style and not paintings:
            raise refuse("Please pick a style first.")
        name = "painting" if paintings else str(style)
        return {
            "source": video,
            "destination": self._destination(name, _out_suffix(video)),
            "style": None if paintings else str(style),
            "style_images": paintings,
            "strength": float(strength),
            "size": capped_int(size, "Output size (px)", self.config.video_max_size),
            "stabilize": bool(stabilize),
            "device": self.config.device,
            "precision": self.config.precision,
            "limits": self.limits(),
            "label": LABEL,
        }

    async def stylize_video(
        self,
        video: str | None,
        style: str | None,
        strength: float = 1.0,
        stabilize: bool = True,
        size: int = 384,
        painting: str | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way to ask for a progress bar
        request: gr.Request = None,  # type: ignore[assignment] - Gradio fills it in; not an API parameter
    ) -> AsyncIterator[tuple[Any, Any]]:
        """Repaint every frame of a video (MP4, MOV, MKV, WebM, AVI) or an animated GIF/WebP in a fast style, or in
        the style of your own painting (the Instant method).

        Args:
            video: the clip; a video comes back as MP4 (sound kept), an animation as the same kind.
            style: name of an installed style, e.g. "starry_night" (not used when a painting is given).
            strength: 0..1, how much of the style to apply.
            stabilize: steady the strokes from frame to frame (optical flow), so the picture does not flicker.
            size: long side of the result in pixels.
            painting: optional, any painting to paint with instead of the style.

        Returns:
            The last stylised frame (for an animation: the stylised animation itself), and the stylised file.
        """
        try:
            job = self._job(video, style, strength, stabilize, size, painting)
        except Exception as exc:
            raise friendly_error(exc) from None
        session = getattr(request, "session_hash", None)
        cancel = self.stops.claim(session)  # the page's Stop switch, armed at the click (or made here)
        progress(0.0, desc="Reading your video…")
        shown_at, last_frame = 0.0, None
        try:
            work = lambda callback: self.engine.stylize_video(callback=callback, cancel=cancel, **job)  # noqa: E731
            async with contextlib.aclosing(run_in_thread(work, cancel, "nst-video")) as events:
                async for kind, payload in events:
                    if kind == "progress":
                        if payload.position:  # still waiting for a queue worker
                            show_progress(progress, payload, describe)
                        else:
                            progress((payload.step, payload.total), desc=describe(payload), unit="frames")
                        last_frame = payload.image if payload.image is not None else last_frame
                        if payload.image is not None and time.monotonic() - shown_at >= PREVIEW_EVERY:
                            shown_at = time.monotonic()
                            yield payload.image, gr.skip()
                    else:
                        out = str(job["destination"])
                        log.info("video: %d frames in %.1f s", payload.frames, payload.seconds)
                        # the documented first output: the animation itself, or a video's last painted frame
                        yield (out if payload.kind == "animation" else last_frame), out
        except nst_core.Cancelled:
            gr.Info("Stopped. Nothing was saved.")
            yield gr.skip(), None
        except Exception as exc:
            raise friendly_error(exc) from None
        finally:
            self.stops.release(session, cancel)

    @staticmethod
    def show_result(file: str | None) -> Any:
        """Page only: a finished video goes into the player (an animation already plays in the preview)."""
        is_video = bool(file) and Path(str(file)).suffix.lower() == ".mp4"
        return gr.Video(value=file if is_video else None, visible=is_video)


@dataclass
class _Stream:
    key: tuple[Any, ...]  # the options the stylizer was made with
    stylizer: nst_core.FrameStylizer
    last: float  # time.monotonic() of its latest frame


class WebcamStylist:
    """Live frames: each visitor's stream has its own `FrameStylizer` (its stabiliser remembers that visitor's
    previous frame), kept by page session, made anew when the options change, dropped after `WEBCAM_IDLE` seconds
    without a frame (the stream ended) or when too many visitors came since."""

    def __init__(self, config: DemoConfig, available: Availability | None = None) -> None:
        self.config = config
        self.available = available or Availability()
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        self._lock = threading.Lock()  # several visitors' frames arrive on worker threads at once

    def _stylizer(
        self, session: str | None, style: str | None, strength: float, stabilize: bool, painting: str | None
    ) -> nst_core.FrameStylizer:
        key = (painting or style, strength, stabilize)
        with self._lock:
            found = self._current(session, key)
        if found is not None:
            return found
        c = self.config  # made outside the lock: loading a style must not pause every other visitor's frames
        paintings = load_painting(painting, c, self.available)
        if not style and not paintings:
            raise refuse("Please pick a style first.")
        made = nst_core.FrameStylizer(
            None if paintings else style, style_images=paintings, strength=strength, stabilize=stabilize,
            device=c.device, precision=c.precision,
        )  # fmt: skip
        with self._lock:
            return self._keep(session, _Stream(key, made, time.monotonic()))

    def _current(self, session: str | None, key: tuple) -> Any:
        """The visitor's stylizer for these options, or None; ended streams are forgotten on the way."""
        now = time.monotonic()
        for sid in [s for s, st in self._streams.items() if now - st.last > WEBCAM_IDLE]:
            del self._streams[sid]  # ended streams (and a paused one: it restarts without a stale frame)
        stream = self._streams.get(session or "")
        if stream is None or stream.key != key:
            return None
        stream.last = now
        self._streams.move_to_end(session or "")
        return stream.stylizer

    def _keep(self, session: str | None, stream: _Stream) -> Any:
        if not session:  # an API call without a page session gets no memory of earlier frames
            return stream.stylizer
        existing = self._streams.get(session)
        if existing is not None and existing.key == stream.key:  # another frame of this visitor made one meanwhile
            stream = existing
        self._streams[session] = stream
        self._streams.move_to_end(session)
        while len(self._streams) > MAX_WEBCAM_SESSIONS:
            self._streams.popitem(last=False)
        return stream.stylizer

    def frame(
        self,
        frame: np.ndarray | None,
        style: str | None,
        strength: float = 1.0,
        stabilize: bool = True,
        request: gr.Request = None,  # type: ignore[assignment] - Gradio fills it in; not an API parameter
        painting: str | None = None,  # after `request`: callers that pass the request fifth keep working
    ) -> Any:
        """One webcam frame in, stylised at `webcam_size` px (long side) out, in the style or the painting."""
        if frame is None:
            return gr.skip()
        try:
            stylizer = self._stylizer(getattr(request, "session_hash", None), style or None, float(strength),
                                      bool(stabilize), _path(painting))  # fmt: skip
            picture = Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert("RGB")
            side = self.config.webcam_size
            if max(picture.size) > side:
                scale = side / max(picture.size)
                picture = picture.resize(
                    (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                    Image.Resampling.BILINEAR,
                )
            return stylizer(np.asarray(picture))
        except Exception as exc:
            raise friendly_error(exc) from None

    def active(self) -> int:
        """Streams with state kept now (for tests)."""
        return len(self._streams)
