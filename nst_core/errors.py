"""One exception family, so every front end (CLI, demo, bots) can turn user errors into a message.

Anything that is the *user's* fault (bad image, bad option, missing weights) raises an `NSTError` subclass
whose message is written for a person; anything else is a bug and should surface as a traceback.
"""

from __future__ import annotations


class NSTError(Exception):
    """Base class: the message is safe and meant to be shown to the user as is."""

    @property
    def visitor_message(self) -> str:
        """What a server shows someone who is not its operator (a web visitor): the message itself, unless a
        subclass keeps operator detail (paths, settings, fixes) apart from it."""
        return str(self)


class ImageError(NSTError):
    """The input could not be used as an image (not an image, truncated, too large, zero-size...)."""


class VideoError(ImageError):
    """A video or animation could not be used (not a video, damaged, unknown codec, over the limits)."""


class OptionsError(NSTError, ValueError):
    """An option is out of range or unknown."""


class WeightsError(NSTError):
    """Model weights could not be found, read or validated.

    The message (`str`) is for whoever runs the program: where weights were looked for and how to fix it (the CLI
    prints it). `visitor` is the same failure in plain words for a server's visitors, who can fix none of it and
    must not see the server's paths; it defaults to the message.
    """

    def __init__(self, message: str, *, visitor: str | None = None) -> None:
        super().__init__(message)
        self.visitor = visitor

    @property
    def visitor_message(self) -> str:
        return self.visitor or str(self)


class StyleNotFoundError(NSTError, KeyError):
    """A named style is not installed."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "style not found"


class Cancelled(NSTError):
    """The caller asked the running job to stop."""


class DeviceOutOfMemory(NSTError):
    """The accelerator ran out of memory; the message suggests a smaller size."""


class QueueUnavailable(NSTError):
    """The job queue (Redis) cannot be reached: the message says so in one sentence."""


class JobLost(NSTError):
    """The queue no longer knows the job (it restarted without its data, or the job waited too long)."""


class WorkerLost(NSTError):
    """The worker process running the job died, on the retry too."""


class JobTimedOut(NSTError):
    """The job ran past its time limit and was stopped."""
