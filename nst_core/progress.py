"""The one progress record shared by the CLI (tqdm), the demo (gr.Progress) and the bots (status edits)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from .errors import Cancelled


@dataclass
class Progress:
    """Where a long job stands. `image` is only set every few steps (it costs a device->host copy)."""

    step: int  # steps done so far, over all scales
    total: int  # steps planned, over all scales
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0  # seconds since the job started
    size: tuple[int, int] = (0, 0)  # (width, height) being optimised now
    scale: int = 1  # 1-based index of the current scale
    scales: int = 1
    image: Image.Image | None = None
    unit: str = "step"  # what step counts: "step" (optimisation, tiles) or "frame" (video)
    # Work done and planned in the job's own cost units, when its steps cost unequal amounts (multi-scale Gatys:
    # a step costs its scale's pixels). Zero when every step costs the same.
    work: float = 0.0
    work_total: float = 0.0
    position: int = 0  # place in a shared job queue (nst_core.serve) while waiting for a worker; 0 once running

    @property
    def rate(self) -> float | None:
        """Steps (frames) per second so far, or None before there is a pace to go by."""
        return self.step / self.elapsed if self.step > 0 and self.elapsed > 0 else None

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 1.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far, or None before there is a pace to go by. With `work` set, the pace
        is time per unit of work, so a run whose later scales cost four times as much per step is not
        promised to end early (measured in bench/bench_eta.py)."""
        if self.step <= 0 or self.elapsed <= 0 or not self.total:
            return None
        if self.work > 0 and self.work_total > 0:
            return max(0.0, self.elapsed / self.work * (self.work_total - self.work))
        return max(0.0, self.elapsed / self.step * (self.total - self.step))


def human_duration(seconds: float) -> str:
    """'45 s', '3 min', '1 h 5 min': how people say a wait."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


ETA_AFTER_STEPS = 3  # the first steps include warm-up (loading, the first device pass): no pace to promise yet


def status_line(p: Progress, head: str, *, clock: bool = True, time_left: bool = True, min_eta: float = 0.0) -> str:
    """`head` (each front end's own words for what is done: 'Painting… step 60/150', 'Stylising… 40%') with what
    every front end adds the same way: the coarse-to-fine pass, the time so far (`clock`) and, once there is a
    pace to go by, the time left (`time_left`, when at least `min_eta` s): 'Painting… step 60/150
    (coarse-to-fine pass 1 of 2) · 40 s, about 1 min left'. One place, so the demo, the video tab and the bots
    round and word a wait alike."""
    text = head
    if p.scales > 1:
        text += f" (coarse-to-fine pass {p.scale} of {p.scales})"
    if clock:
        text += f" · {human_duration(p.elapsed)}"
    eta = p.eta
    if time_left and eta is not None and p.step >= ETA_AFTER_STEPS and eta >= min_eta:
        text += f", about {human_duration(eta)} left"
    return text


ProgressCallback = Callable[[Progress], None]


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` when the caller has set its event; cheap enough to call every step."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("Stopped on request.")
