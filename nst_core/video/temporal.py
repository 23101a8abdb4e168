"""Temporal stabilisation of stylised video: each output frame leans on the previous output, moved with the scene.

Why: a feed-forward style network amplifies small input changes, so sensor noise on a static scene makes the
strokes boil (frame-to-frame change 2-2.4x the input's, bench/RESULTS.md). Blending in the previous *output*,
warped along the optical flow of the *input* frames, makes strokes follow the scene instead of being repainted
each frame. Where the previous frame cannot tell what is there now (a disoccluded background, a cut, a lighting
change, a failed flow), the blend weight drops to zero and the network's own frame shows through, so nothing
ghosts: those pixels are found by a forward-backward flow consistency check (Sundaram et al. 2010; Ruder et al.
2016 use the same for video style transfer) and by how well the warped previous input matches the current one.

Candidates, compared in bench/bench_video.py (the numbers chose the default):
- ``flow``: DIS optical flow (OpenCV), occlusion mask from forward-backward consistency and photometric error;
- ``static``: no flow, blend only where the input did not change (smoothing in static regions);
- ``none``: the network's frames as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import OptionsError

METHODS = ("flow", "static", "none")


@dataclass(frozen=True)
class StabilizerSettings:
    """How strongly and where the previous output is blended in (defaults chosen by bench/bench_video.py)."""

    method: str = "flow"
    alpha: float = 0.75  # weight of the previous output where it is fully trusted (0 = off, < 1 always)
    consistency_px: float = 1.5  # forward-backward flow disagreement (px) still counted as the same point
    photo_tolerance: float = 8.0  # mean 0-255 difference of warped previous vs current input before trust fades
    flow_side: int = 480  # optical flow is computed on a copy at most this long (and scaled back): speed

    def validate(self) -> StabilizerSettings:
        if self.method not in METHODS:
            raise OptionsError(f"stabilizer method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if not 0.0 <= float(self.alpha) < 1.0:
            raise OptionsError(f"stabilizer alpha must be from 0 up to (not including) 1, got {self.alpha!r}")
        if self.consistency_px <= 0 or self.photo_tolerance <= 0 or self.flow_side < 16:
            raise OptionsError("stabilizer tolerances must be positive and flow_side at least 16 px")
        return self


class TemporalStabilizer:
    """Stateful: feed frames in display order; call `reset()` at a cut or when a new stream starts.

    `__call__(content, stylised)` takes the input frame and the network's output for it (both HxWx3 uint8 RGB,
    same size) and returns the stabilised output. It keeps the previous input and output, nothing else.
    """

    def __init__(self, settings: StabilizerSettings | None = None) -> None:
        self.settings = (settings or StabilizerSettings()).validate()
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._prev_in: np.ndarray | None = None
        self._prev_out: np.ndarray | None = None
        self.last_weight: np.ndarray | None = None  # per-pixel blend weight of the last frame (for inspection)

    def reset(self) -> None:
        self._prev_in = self._prev_out = self.last_weight = None

    def __call__(self, content: np.ndarray, stylised: np.ndarray) -> np.ndarray:
        if content.shape != stylised.shape or content.ndim != 3 or content.shape[2] != 3:
            raise ValueError(f"expected two HxWx3 frames of one size, got {content.shape} and {stylised.shape}")
        s = self.settings
        prev_in, prev_out = self._prev_in, self._prev_out
        if s.method == "none" or s.alpha == 0 or prev_in is None or prev_in.shape != content.shape:
            out = stylised
            self.last_weight = None
        else:
            history, trust = self._history(prev_in, prev_out, content)
            weight = (s.alpha * trust)[..., None]
            blended = weight * history + (1.0 - weight) * stylised.astype(np.float32)
            out = np.rint(blended).clip(0, 255).astype(np.uint8)
            self.last_weight = weight[..., 0]
        self._prev_in, self._prev_out = content, out
        return out

    def _history(self, prev_in: np.ndarray, prev_out: np.ndarray, content: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The previous output aligned to the current frame, and how far to trust each of its pixels (0..1)."""
        s = self.settings
        if s.method == "static":
            err = _blurred_abs_diff(prev_in.astype(np.float32), content)
            return prev_out.astype(np.float32), _fade(err, s.photo_tolerance / 2)
        back = self.flow(content, prev_in)  # for each pixel now: where it was in the previous frame
        fwd = self.flow(prev_in, content)
        trust = consistency_mask(back, fwd, s.consistency_px) * inside_mask(back)
        warped_in = warp(prev_in.astype(np.float32), back)
        trust *= _fade(_blurred_abs_diff(warped_in, content), s.photo_tolerance)
        trust = cv2.GaussianBlur(trust, (0, 0), 1.5)  # soft edges: no seams where trust changes
        return warp(prev_out.astype(np.float32), back), trust

    def flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dense flow from RGB frame `a` to `b` (HxWx2 float32, pixels), computed at most `flow_side` long."""
        h, w = a.shape[:2]
        scale = min(1.0, self.settings.flow_side / max(h, w))
        ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            small = (max(8, round(w * scale)), max(8, round(h * scale)))
            ga = cv2.resize(ga, small, interpolation=cv2.INTER_AREA)
            gb = cv2.resize(gb, small, interpolation=cv2.INTER_AREA)
        f = self._dis.calc(ga, gb, None)
        if scale < 1.0:
            fh, fw = f.shape[:2]
            f = cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR)
            f[..., 0] *= w / fw
            f[..., 1] *= h / fh
        return f


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` sampled at (x, y) + flow(x, y): with a backward flow (now -> before), the earlier frame moved to
    where its content is now. Bilinear; outside the frame the border is repeated (and masked by `inside_mask`)."""
    gx, gy = _grid(*flow.shape[:2])
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(back: np.ndarray, fwd: np.ndarray, tolerance_px: float) -> np.ndarray:
    """1 where following `back` and then `fwd` returns to the start (within `tolerance_px` plus 1% of the motion),
    0 where the point was hidden in the other frame or the flow is unreliable."""
    fwd_at = warp(fwd, back)
    gap = np.sum((back + fwd_at) ** 2, axis=-1)
    motion = np.sum(back**2, axis=-1) + np.sum(fwd_at**2, axis=-1)
    return (gap <= 0.01 * motion + tolerance_px**2).astype(np.float32)


def inside_mask(back: np.ndarray) -> np.ndarray:
    """1 where the backward flow lands inside the previous frame (content entering at an edge has no history)."""
    h, w = back.shape[:2]
    gx, gy = _grid(h, w)
    x, y = gx + back[..., 0], gy + back[..., 1]
    return ((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).astype(np.float32)


def _blurred_abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute RGB difference, blurred so single noisy pixels do not count as change."""
    return cv2.GaussianBlur(np.abs(a - b.astype(np.float32)).mean(axis=-1), (0, 0), 2.0)


def _fade(err: np.ndarray, tolerance: float) -> np.ndarray:
    """Trust 1 up to `tolerance`, falling linearly to 0 at twice it."""
    return np.clip(2.0 - err / tolerance, 0.0, 1.0).astype(np.float32)
