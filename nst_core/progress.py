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

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise `Cancelled` when the caller has set its event; cheap enough to call every step."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("Stopped on request.")
