"""The pictures behind recent results, so the buttons under a result ("another style", "re-roll", "stronger",
"weaker") can work on the same picture without asking for it again.

Kept in memory only: bounded in count (the oldest is forgotten first), expiring after a while, and shrunk to the
largest output size a job may ask for. Never on disk, and never referenced by a path in a button's ID: a button
only names its action, the result message it sits under is the key. After a restart or expiry the lookup is None
and the bot says so privately.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from PIL import Image

import nst_core

from .config import CommonConfig
from .options import JobSpec

EXPIRED = (
    "I no longer have the picture behind this result (it is over {minutes} minutes old, or I restarted); "
    "run the command again with the picture."
)


@dataclass(frozen=True)
class Recent:
    """One result's inputs: the source picture, the options used, and the painting for a custom style."""

    content: Image.Image
    spec: JobSpec
    style_image: Image.Image | None = None


class RecentImages:
    def __init__(self, config: CommonConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_items = config.recent_items
        self.ttl = config.recent_minutes * 60.0
        self.max_side = config.max_size
        self._clock = clock
        self._items: OrderedDict[Hashable, tuple[float, Recent]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_items > 0 and self.ttl > 0

    def expired_text(self) -> str:
        return EXPIRED.format(minutes=f"{self.ttl / 60:g}")

    def _small(self, img: Image.Image | None) -> Image.Image | None:
        """No job may ask for more than max_side pixels, so nothing larger needs keeping."""
        if img is None or max(img.size) <= self.max_side:
            return img
        return nst_core.resize_long_side(img, self.max_side)

    def remember(self, key: Hashable, content: Image.Image, spec: JobSpec, style_image: Image.Image | None) -> None:
        if not self.enabled:
            return
        self._drop_expired()
        self._items[key] = (self._clock(), Recent(self._small(content), spec, self._small(style_image)))
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def get(self, key: Hashable) -> Recent | None:
        self._drop_expired()
        found = self._items.get(key)
        return found[1] if found else None

    def _drop_expired(self) -> None:
        now = self._clock()
        while self._items:
            stamp, _ = next(iter(self._items.values()))
            if now - stamp < self.ttl:
                break
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
