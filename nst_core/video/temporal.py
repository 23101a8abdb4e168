"""Temporal stabilisation of stylised video: each output frame leans on the previous output, moved with the scene.

Why: a feed-forward style network amplifies small input changes, so sensor noise on a static scene makes the
strokes boil (frame-to-frame change 2-2.4x the input's, bench/RESULTS.md). Blending in the previous *output*,
warped along the optical flow of the *input* frames, makes strokes follow the scene instead of being repainted
each frame. Where the previous frame cannot tell what is there now (a disoccluded background, a cut, a lighting
change, a failed flow), the blend weight drops to zero and the network's own frame shows through, so nothing
ghosts: those pixels are found by a forward-backward flow consistency check (Sundaram et al. 2010; Ruder et al.
2016 use the same for video style transfer) and by how well the warped previous input matches the current one.

That blend alone damps the boiling by a fixed factor (about 4x at alpha 0.75), not enough for the textured styles,
which amplify noise up to 6x (#23). So before painting, `denoise` holds the input still where the scene stands still
(no motion, and the input within its noise of the held one): the network then paints the same picture again and
its strokes stay put. There the output is not blended any more (nothing to damp), so nothing the network painted
around a change that is over (its receptive field reaches past a moving object) is held after it.

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
    """How strongly and where the previous input and output are held (defaults chosen by bench/bench_video.py;
    `denoise` set by hand, not swept, and measured per style by bench/bench_temporal.py)."""

    method: str = "flow"
    alpha: float = 0.75  # weight of the previous output where it is fully trusted (0 = off, < 1 always)
    denoise: float = 0.95  # weight of the previous input where the scene stands still, before painting (0 = off)
    consistency_px: float = 1.5  # forward-backward flow disagreement (px) still counted as the same point
    photo_tolerance: float = 8.0  # mean 0-255 difference of warped previous vs current input before trust fades
    flow_side: int = 480  # optical flow is computed on a copy at most this long (and scaled back): speed

    def validate(self) -> StabilizerSettings:
        if self.method not in METHODS:
            raise OptionsError(f"stabilizer method must be one of {', '.join(METHODS)}, not {self.method!r}")
        for name in ("alpha", "denoise"):
            if not 0.0 <= float(getattr(self, name)) < 1.0:
                value = getattr(self, name)
                raise OptionsError(f"stabilizer {name} must be from 0 up to (not including) 1, got {value!r}")
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
        self._prev_raw: np.ndarray | None = None  # the previous frame given to `denoise`
        self._ref: np.ndarray | None = None  # the input held by `denoise` (float32)
        self._still: np.ndarray | None = None  # where `denoise` found the scene still (0..1) in the latest frame
        self._shown: np.ndarray | None = None  # the frame `denoise` gave last
        self._prev_out: np.ndarray | None = None
        self.last_weight: np.ndarray | None = None  # per-pixel blend weight of the last frame (for inspection)

    def reset(self) -> None:
        self._prev_in = self._prev_out = self.last_weight = None
        self._prev_raw = self._ref = self._still = self._shown = None

    def denoise(self, content: np.ndarray) -> np.ndarray:
        """The frame the network should paint: where the scene stands still (the input is within its noise of the
        input held so far) the held input, updated by `1 - denoise` of the new one; elsewhere the frame as it is.

        Why before painting: the network turns sensor noise into strokes that boil, and a blend of its outputs
        afterwards can only damp that boiling, while it also holds on to what the network painted near a change
        that is over (its receptive field reaches past an object that has moved away: a halo that would linger
        where the scene is still). A steady input gives steady strokes, and the check here is on the input
        itself, pixel by pixel, so nothing of a moved object is held. Stateful like `__call__`; `reset()` clears it.
        """
        s, ref, prev = self.settings, self._ref, self._prev_raw
        cur = content.astype(np.float32)
        self._prev_raw = content
        if s.method == "none" or s.denoise == 0 or ref is None or ref.shape != cur.shape:
            self._ref, self._still, self._shown = cur, None, content
            return content
        px = _px(content, s.flow_side)
        err = _blurred_abs_diff(ref, cur, 2.0 * px)
        tol = self._still_tolerance(err)
        self._still = _fade(err, tol)
        if s.method == "flow":  # and not moving: a flat sky in a pan matches itself, but its strokes must move
            back = self.flow(content, prev)
            self._still *= cv2.GaussianBlur(_fade(np.hypot(back[..., 0], back[..., 1]), 0.25 * px), (0, 0), 1.5 * px)
        weight = (s.denoise * self._still)[..., None]
        self._ref = weight * ref + (1.0 - weight) * cur
        # a pixel of the frame given changes only when the held value has moved past half the noise tolerance:
        # the network amplifies even one-level changes of a few pixels (20x on the test clip), so the average,
        # drifting a little each frame, is not given afresh
        shown = self._shown
        fresh = np.rint(self._ref).clip(0, 255).astype(np.uint8)
        self._shown = np.where(np.abs(self._ref - shown).max(axis=-1, keepdims=True) < tol / 2, shown, fresh)
        return self._shown

    def _still_tolerance(self, err: np.ndarray) -> float:
        """How far the input may stray from the held one and still count as unchanged: half the photometric
        tolerance, raised with the clip's noise (the median difference: most of a frame is unchanged wherever this
        matters), never past the whole tolerance, so that a cut or a pan never counts as noise."""
        tol = self.settings.photo_tolerance
        return float(np.clip(1.5 * np.median(err), tol / 2, tol))

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
            if self._still is not None and self._still.shape == trust.shape:
                trust = trust * (1.0 - 0.5 * self._still)  # held still by `denoise`: little left to damp
            weight = (s.alpha * trust)[..., None]
            blended = weight * history + (1.0 - weight) * stylised.astype(np.float32)
            out = np.rint(blended).clip(0, 255).astype(np.uint8)
            self.last_weight = weight[..., 0]
        self._prev_in, self._prev_out = content, out
        return out

    def _history(self, prev_in: np.ndarray, prev_out: np.ndarray, content: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The previous output aligned to the current frame, and how far to trust each of its pixels (0..1).
        Tolerances in pixels grow with the frame past `flow_side` (where one pixel of the flow is several)."""
        s = self.settings
        px = _px(content, s.flow_side)
        if s.method == "static":
            err = _blurred_abs_diff(prev_in.astype(np.float32), content, 2.0 * px)
            return prev_out.astype(np.float32), _fade(err, s.photo_tolerance / 2)
        back = self.flow(content, prev_in)  # for each pixel now: where it was in the previous frame
        fwd = self.flow(prev_in, content)
        trust = consistency_mask(back, fwd, s.consistency_px * px) * inside_mask(back)
        warped_in = warp(prev_in.astype(np.float32), back)
        trust *= _fade(_blurred_abs_diff(warped_in, content, 2.0 * px), s.photo_tolerance)
        trust = cv2.GaussianBlur(trust, (0, 0), 1.5 * px)  # soft edges: no seams where trust changes
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


def _px(frame: np.ndarray, flow_side: int) -> float:
    """Frame pixels per pixel of the flow (1 up to `flow_side` long, more past it): what pixel tolerances and
    blurs are scaled by, so that a 720p frame is judged as its 480 px flow copy is."""
    return max(1.0, max(frame.shape[:2]) / flow_side)


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


def _blurred_abs_diff(a: np.ndarray, b: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Mean absolute RGB difference, blurred so single noisy pixels do not count as change."""
    return cv2.GaussianBlur(np.abs(a - b.astype(np.float32)).mean(axis=-1), (0, 0), sigma)


def _fade(err: np.ndarray, tolerance: float) -> np.ndarray:
    """Trust 1 up to `tolerance`, falling linearly to 0 at twice it."""
    return np.clip(2.0 - err / tolerance, 0.0, 1.0).astype(np.float32)
