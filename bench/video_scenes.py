"""Test scenes for temporal stability, cut from a real photo, with their exact motion, and the measures on them.

Why synthetic motion: the true flow is known, so the warping error is judged against the truth and not against
the stabiliser's own (possibly wrong) optical flow, and the pixels with no history (disoccluded, entering at an
edge) are known exactly, which is where ghosting would show.

- `static_noisy`: one view, independent sensor noise per frame (flicker: output change vs input change);
- `pan`: a window sliding across the photo, `dx` px per frame (the camera pans);
- `moving_object`: the pan plus a round cut-out of a second photo crossing it the other way (occlusions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass
class Scene:
    frames: list[np.ndarray]  # HxWx3 uint8
    flows: list[np.ndarray | None]  # per frame, the true backward flow (now -> previous frame); None for frame 0
    valid: list[np.ndarray | None]  # per frame, 1 where the pixel was visible in the previous frame


def _noisy(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.rint(img.astype(np.float32) + rng.normal(0.0, sigma, img.shape)).clip(0, 255).astype(np.uint8)


def _fit(photo: Image.Image, w: int, h: int) -> np.ndarray:
    return np.asarray(photo.convert("RGB").resize((w, h), Image.Resampling.LANCZOS))


def static_noisy(photo: Image.Image, size: tuple[int, int], frames: int, sigma: float = 3.0, seed: int = 0) -> Scene:
    w, h = size
    rng = np.random.default_rng(seed)
    base = _fit(photo, w, h)
    zero = np.zeros((h, w, 2), np.float32)
    ones = np.ones((h, w), np.float32)
    return Scene([_noisy(base, sigma, rng) for _ in range(frames)], [None] + [zero] * (frames - 1),
                 [None] + [ones] * (frames - 1))  # fmt: skip


def _pan_canvas(photo: Image.Image, size: tuple[int, int], frames: int, dx: int) -> np.ndarray:
    w, h = size
    cw = w + dx * frames
    ph = round(photo.height * cw / photo.width)
    canvas = _fit(photo, cw, max(h, ph))
    top = (canvas.shape[0] - h) // 2
    return canvas[top : top + h]


def pan(
    photo: Image.Image, size: tuple[int, int], frames: int, dx: int = 4, sigma: float = 2.0, seed: int = 0
) -> Scene:
    """The view moves right `dx` px a frame, so the picture moves left: now[x] == previous[x + dx]."""
    w, h = size
    rng = np.random.default_rng(seed)
    canvas = _pan_canvas(photo, size, frames, dx)
    out = [_noisy(canvas[:, dx * t : dx * t + w], sigma, rng) for t in range(frames)]
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = dx
    valid = np.ones((h, w), np.float32)
    valid[:, w - dx :] = 0
    return Scene(out, [None] + [flow] * (frames - 1), [None] + [valid] * (frames - 1))


def moving_object(
    photo: Image.Image, sprite: Image.Image, size: tuple[int, int], frames: int, dx: int = 4,
    velocity: tuple[int, int] = (-10, 3), sigma: float = 2.0, seed: int = 0,
) -> Scene:  # fmt: skip
    """The pan, with a disc (radius h/4) of `sprite` crossing it at `velocity` px/frame."""
    w, h = size
    rng = np.random.default_rng(seed)
    canvas = _pan_canvas(photo, size, frames, dx)
    r = h // 4
    disc = _fit(sprite, 2 * r, 2 * r)
    yy, xx = np.mgrid[0:h, 0:w]
    vx, vy = velocity
    start = (w - r - 8 if vx < 0 else r + 8, h // 3)
    masks, out = [], []
    for t in range(frames):
        cx, cy = start[0] + vx * t, start[1] + vy * t
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
        frame = canvas[:, dx * t : dx * t + w].copy()
        sy, sx = yy[inside] - (cy - r), xx[inside] - (cx - r)
        frame[inside] = disc[sy.clip(0, 2 * r - 1), sx.clip(0, 2 * r - 1)]
        masks.append(inside)
        out.append(_noisy(frame, sigma, rng))
    flows, valid = [None], [None]
    for t in range(1, frames):
        f = np.zeros((h, w, 2), np.float32)
        f[..., 0] = dx
        f[masks[t], 0], f[masks[t], 1] = -vx, -vy
        src_x, src_y = xx + f[..., 0], yy + f[..., 1]
        ok = (src_x >= 0) & (src_x <= w - 1) & (src_y >= 0) & (src_y <= h - 1)
        sxi, syi = src_x.clip(0, w - 1).astype(int), src_y.clip(0, h - 1).astype(int)
        was_object = masks[t - 1][syi, sxi]
        ok &= was_object == masks[t]  # background that was behind the disc, or the disc's own edge: no history
        flows.append(f)
        valid.append(ok.astype(np.float32))
    return Scene(out, flows, valid)


# ------------------------------------------------------------------------------------------------- measures
def mean_change(frames: list[np.ndarray]) -> float:
    """Mean absolute 0-255 change between consecutive frames."""
    return float(np.mean([np.abs(frames[i].astype(np.float32) - frames[i - 1]).mean() for i in range(1, len(frames))]))


def warping_error(frames: list[np.ndarray], scene: Scene) -> float:
    """Mean |out_t - out_{t-1} warped by the TRUE flow| over the pixels visible in both frames (0-255)."""
    from nst_core.video.temporal import warp

    errs = []
    for t in range(1, len(frames)):
        warped = warp(frames[t - 1].astype(np.float32), scene.flows[t])
        d = np.abs(frames[t].astype(np.float32) - warped).mean(axis=-1)
        errs.append(float((d * scene.valid[t]).sum() / max(1.0, scene.valid[t].sum())))
    return float(np.mean(errs))


def ghosting(stabilised: list[np.ndarray], raw: list[np.ndarray], scene: Scene) -> float:
    """Mean |stabilised - network's own frame| over pixels with NO history (0-255): what leaked from the past."""
    errs = []
    for t in range(1, len(raw)):
        hidden = 1.0 - scene.valid[t]
        d = np.abs(stabilised[t].astype(np.float32) - raw[t]).mean(axis=-1)
        errs.append(float((d * hidden).sum() / max(1.0, hidden.sum())))
    return float(np.mean(errs))
