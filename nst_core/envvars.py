"""Numbers from environment variables, checked once, with a message that names the variable.

Why one helper: the core (memory budget, pixel limit), the demo and the bots all read numeric settings from the
environment, and a typo there should fail the same clear way everywhere, never be clamped or ignored silently.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from .errors import OptionsError


def env_number(
    name: str,
    default: float,
    *,
    lo: float | None = None,
    hi: float | None = None,
    whole: bool = True,
    env: Mapping[str, str] | None = None,
    error: type[Exception] = OptionsError,
) -> int | float:
    """`env[name]` as an int (`whole`) or float in [lo, hi]; `default` when unset or blank.

    Underscores are allowed (`40_000_000`). `error` is the exception raised, so a front end can keep its own."""
    raw = (os.environ if env is None else env).get(name, "").strip()
    if not raw:
        return default
    try:
        value: int | float = int(raw) if whole else float(raw)
    except ValueError:
        raise error(f"{name} must be a {'whole number' if whole else 'number'}, got {raw!r}.") from None
    if not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
        bound = (f"between {lo:g} and {hi:g}" if lo is not None else f"at most {hi:g}") if hi is not None else (
            f"at least {lo:g}" if lo is not None else "finite")
        raise error(f"{name} must be {bound}, got {raw}.")
    return value
