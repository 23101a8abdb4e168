"""Every failure a user can cause becomes one short, friendly sentence; everything else is logged as a bug.

Both bots call `friendly_error` in their outermost handler, so no traceback or internal detail (and no token)
ever reaches a chat channel.
"""

from __future__ import annotations

import asyncio
import logging

import nst_core
from nst_core.errors import Cancelled, DeviceOutOfMemory, WeightsError
from nst_core.progress import status_line

log = logging.getLogger("bots")

MIN_ETA_SECONDS = 5  # a status message is edited every few seconds: a shorter estimate is stale when read


class BotError(Exception):
    """A problem the user can fix or should know about; the message is shown as is."""


class FetchError(BotError):
    """The image could not be downloaded (size, type, host, timeout, HTTP error)."""


class BadOptions(BotError):
    """A command option is missing or out of range; `field` names it so a form can flag the right input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Busy(BotError):
    """Rate limit or full queue: try again later."""


class JobTimeout(BotError):
    """The job ran past NST_BOT_JOB_TIMEOUT and was cancelled."""


def human_size(n: int) -> str:
    """Sizes as users read them (MB, one decimal only when it matters)."""
    if n >= 1024 * 1024:
        mb = n / (1024 * 1024)
        return f"{mb:.0f} MB" if mb >= 10 or mb == int(mb) else f"{mb:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def friendly_error(exc: BaseException) -> str:
    """The message to show for `exc`; unexpected errors are logged with their traceback, but not shown."""
    if isinstance(exc, BotError):
        return str(exc)
    if isinstance(exc, DeviceOutOfMemory):
        return f"{exc} Try a smaller `size`."
    if isinstance(exc, WeightsError):
        log.error("model weights problem: %s", exc)
        return "This style's model could not be loaded on the server; please tell the bot's admin."
    if isinstance(exc, Cancelled):
        return "The job was stopped before it finished."
    if isinstance(exc, nst_core.NSTError):
        return str(exc) or "That did not work with these options."
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "That took too long and was stopped. Try a smaller `size`."
    log.error("unexpected error while stylising", exc_info=exc)
    return "Sorry, something went wrong on my side. The error was logged; please try again later."


def queue_text(position: int) -> str:
    """Status while waiting for a worker: position 1 means next in line."""
    if position <= 0:
        return "Starting…"
    if position == 1:
        return "You are next in the queue…"
    return f"You are number {position} in the queue…"


def progress_text(progress: nst_core.Progress) -> str:
    """'Stylising… 40%' (plus the scale when a multi-scale Gatys run reports one); 'Stylising… frame 12 of 40'
    for a GIF or a video. No clock (a chat message is edited every few seconds), and no estimate under 5 s."""
    if progress.position > 0:  # waiting on the shared job queue (NST_QUEUE_URL)
        return queue_text(progress.position)
    if progress.unit == "frame":
        head = f"Stylising… frame {progress.step} of {progress.total}"
    else:
        head = f"Stylising… {round(100 * max(0.0, min(1.0, progress.fraction)))}%"
    return status_line(progress, head, clock=False, min_eta=MIN_ETA_SECONDS)
