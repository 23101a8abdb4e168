"""Atomic file replacement: readers (and a process killed mid-write) see the old file or the new one, never half."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def _read_umask() -> int:
    """The process umask, read once at import: reading it means setting it, and setting it to 0 even for a moment
    while worker threads create files (video jobs, the demo) would make theirs world-writable."""
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


UMASK = _read_umask()


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], *, fsync: bool = True) -> None:
    """Call `write(tmp)` for a temp file beside `path`, then rename it over `path`.

    The file gets the usual umask permissions (some writers create 0600 files, which would hide shared weights
    from other users).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~UMASK)
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
