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
    if not math.isfinite(value):
        raise error(f"{name} must be a finite number, got {raw!r}.")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if lo is not None and hi is not None:
            bound = f"between {_show(lo)} and {_show(hi)}"
        else:
            bound = f"at least {_show(lo)}" if lo is not None else f"at most {_show(hi)}"
        raise error(f"{name} must be {bound}, got {raw}.")
    return value


def _show(bound: float) -> str:
    """1, 65535, 0.5, 1000000: never 1e+06."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))
