"""`asyncio.run` that works in any test order.

Why: the browser tests' session-wide Chromium is driven by Playwright's sync API, which keeps an event loop running
in the main thread for the rest of the session; a plain `asyncio.run` after them fails ("cannot be called from a
running event loop"). Then the coroutine gets a thread of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result, as `asyncio.run` gives it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
