"""`FrameStylizer`: a fast style applied to a stream of frames, one at a time or in batches, stabilised in time.

Why a stateful object: a video file (`stylize_video`), the demo's webcam stream and a bot's GIF all feed frames
in order and want each back as soon as possible. The network is loaded once; several frames at hand can go through
it as one batch (instance norm is per picture, so each frame gets its lone result; that pays on a GPU, while on
one CPU core single frames measured faster, bench/RESULTS.md); the stabiliser keeps the previous input and output
to blend along the optical flow.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .. import styles
from ..arbitrary import ArbitraryOptions, Painter
from ..device import make_profile
from ..errors import OptionsError
from ..fast.budget import budget_pixels
from ..fast.inference import stylize_tensor
from ..fast.run import MIN_NET_SIDE, FastOptions, finish_output
from ..fast.strokes import resolve_stroke_scale, working_size
from ..images import pad_to_min_side
from ..progress import check_cancel
from .temporal import StabilizerSettings, TemporalStabilizer

Frame = Image.Image | np.ndarray


class FrameStylizer:
    """Stylise frames of one stream in order. `stabilize=False` gives the network's frames as they are.

    >>> s = FrameStylizer("starry_night", strength=0.9)
    >>> out = s(frame)               # PIL image or HxWx3 uint8 array in, the same kind out
    >>> outs = s.batch([f1, f2, f3])  # several at once (one network pass: for GPUs)
    >>> s.reset()                    # a new clip or a cut: forget the previous frame
    >>> s = FrameStylizer(style_images=[painting])  # any painting, through the arbitrary-style network
    """

    def __init__(
        self,
        style: str | None = None,
        *,
        style_images: Sequence[Image.Image] = (),
        style_blend: Sequence[float] | None = None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        stroke_scale: float | None = None,
        device: str = "auto",
        precision: str = "auto",
        memory_format: str = "auto",
        stabilize: bool = True,
        stabilizer: StabilizerSettings | None = None,
    ) -> None:
        self.painter: Painter | None = None
        if style_images:
            if style is not None:
                raise OptionsError("give a style name or paintings (style_images), not both")
            self.painter = Painter(style_images, ArbitraryOptions(
                strength=strength, preserve_colors=preserve_colors, style_blend=_blend(style_blend), device=device,
                precision=precision, memory_format=memory_format,
            ))  # fmt: skip
            self.options = FastOptions(style="", strength=strength, preserve_colors=preserve_colors)
            self.profile = self.painter.profile
        else:
            self._load_fast(style, strength, preserve_colors, stroke_scale, device, precision, memory_format)
        settings = stabilizer or StabilizerSettings()
        if not stabilize:
            settings = StabilizerSettings(method="none")
        self.stabilizer = TemporalStabilizer(settings)

    def _load_fast(self, style, strength, preserve_colors, stroke_scale, device, precision, memory_format) -> None:
        if style is None:
            raise OptionsError("give a style name, or paintings as style_images")
        self.options = FastOptions(
            style=style, strength=strength, preserve_colors=preserve_colors, stroke_scale=stroke_scale,
            device=device, precision=precision, memory_format=memory_format,
        ).validate()  # fmt: skip
        self.profile = make_profile(device, precision, memory_format)
        info = styles.get_style(style)
        self.model = styles.load_style_model(info.name, self.profile.device, channels_last=self.profile.channels_last)

    def reset(self) -> None:
        """Forget the previous frame (start of a new clip, a scene cut, a new webcam session)."""
        self.stabilizer.reset()

    def __call__(self, frame: Frame) -> Frame:
        return self.batch([frame])[0]

    def batch(self, frames: Sequence[Frame], cancel: threading.Event | None = None) -> list[Frame]:
        """Stylise consecutive frames of one size; returns them in order, each the kind it came as."""
        arrays = [_to_array(f) for f in frames]
        if not arrays:
            return []
        if any(a.shape != arrays[0].shape for a in arrays):
            raise ValueError("frames of one batch must share one size")
        if float(self.options.strength) != 0.0:  # the network paints the frames with sensor noise held still
            arrays = [self.stabilizer.denoise(a) for a in arrays]
        outs = [self.stabilizer(a, s) for a, s in zip(arrays, self._stylise(arrays, cancel), strict=True)]
        return [Image.fromarray(o) if isinstance(f, Image.Image) else o for f, o in zip(frames, outs, strict=True)]

    def _stylise(self, frames: list[np.ndarray], cancel: threading.Event | None) -> list[np.ndarray]:
        """The network's frames, finished as a still would be (detail, colours, strength); not yet stabilised."""
        if float(self.options.strength) == 0.0:
            return frames
        if self.painter is not None:
            return [np.asarray(self.painter(Image.fromarray(f), cancel=cancel)) for f in frames]
        h, w = frames[0].shape[:2]
        scale = resolve_stroke_scale(self.options.stroke_scale, max(w, h))
        photos = [Image.fromarray(f) for f in frames]
        work = (
            [p.resize(working_size((w, h), scale), Image.Resampling.LANCZOS) for p in photos] if scale > 1 else photos
        )
        padded = [pad_to_min_side(p, MIN_NET_SIDE) for p in work]
        x = torch.from_numpy(np.stack([np.asarray(p) for p, _ in padded])).permute(0, 3, 1, 2).float()
        y = self._forward(x, cancel)
        u8 = y.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        return [
            np.asarray(finish_output(Image.fromarray(u8[i]).crop(box), photos[i], self.options))
            for i, (_, box) in enumerate(padded)
        ]

    @torch.inference_mode()
    def _forward(self, x: torch.Tensor, cancel: threading.Event | None) -> torch.Tensor:
        """(B,3,H,W) 0..255 through the network in batches that fit the memory budget (tiles for huge frames)."""
        b, _, h, w = x.shape
        per_pass = budget_pixels(self.model, self.profile) // (h * w)
        if per_pass < 1:  # one frame is over the budget: tiled, one at a time
            parts = []
            for i in range(b):
                check_cancel(cancel)
                parts.append(stylize_tensor(self.model, x[i : i + 1], profile=self.profile, cancel=cancel))
            return torch.cat(parts)
        parts = []
        for i in range(0, b, per_pass):
            check_cancel(cancel)
            chunk = x[i : i + per_pass].to(self.profile.device)
            with self.profile.autocast():
                parts.append(self.model(self.profile.format(chunk)).float().cpu())
        return torch.cat(parts)


def _blend(blend: Sequence[float] | None) -> tuple[float, ...] | None:
    return tuple(blend) if blend is not None else None


def _to_array(frame: Frame) -> np.ndarray:
    """HxWx3 uint8 RGB from a PIL image or an array (grey or RGBA arrays are converted the usual way)."""
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 arrays, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"frames must be HxWx3 arrays, got shape {a.shape}")
    return np.ascontiguousarray(a[..., :3])
