"""The style registry: which styles are installed, by name, and where their files are (no torch here).

Folders searched, first hit wins: every entry of ``NST_WEIGHTS_DIR`` (``os.pathsep``-separated, so users can
override shipped styles), then the repository's ``weights/``. A broken or foreign file is logged once and
skipped: one bad download must never take the style list (and the demo/bots) down. What the files hold is
`fileformat`'s business; loading a network is `loader`'s.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..errors import OptionsError, StyleNotFoundError
from ..fast.architecture import TransformerConfig
from .fileformat import META_SUFFIX, PREVIEW_SUFFIX, WEIGHT_SUFFIX, check_weights_header, meta_text, read_meta

__all__ = [
    "NAME_PATTERN",
    "REPO_WEIGHTS_DIR",
    "WEIGHTS_ENV",
    "StyleInfo",
    "check_name_free",
    "check_writable_dir",
    "default_style",
    "get_style",
    "list_styles",
    "match_styles",
    "record_scores",
    "validate_name",
    "weights_dirs",
]

log = logging.getLogger(__name__)

WEIGHTS_ENV = "NST_WEIGHTS_DIR"
REPO_WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class StyleInfo:
    """One installed style. `meta` is the parsed NAME.json; `config` comes from the weights' metadata."""

    name: str
    display_name: str
    artist: str
    title: str
    preview_path: Path | None
    weights_path: Path
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    config: TransformerConfig = field(default_factory=TransformerConfig)

    @property
    def label(self) -> str:
        """'Display name - Artist' for menus; just the display name when the artist is unknown."""
        return f"{self.display_name} - {self.artist}" if self.artist else self.display_name


# ------------------------------------------------------------------------------------------------ discovery
def validate_name(name: str) -> str:
    """Style names become file names: lowercase, digits, '_' and '-', no path parts (no traversal)."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise OptionsError(
            f"invalid style name {name!r}: use 1-64 lowercase letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def weights_dirs() -> list[Path]:
    """Search order: NST_WEIGHTS_DIR entries (user overrides), then the repository's weights/."""
    dirs: list[Path] = []
    for part in os.environ.get(WEIGHTS_ENV, "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    dirs.append(REPO_WEIGHTS_DIR)
    seen: set[Path] = set()
    unique = []
    for d in dirs:
        key = d.resolve() if d.exists() else d
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


_warned: set[tuple[str, int, str]] = set()
_warn_lock = threading.Lock()


def _warn_once(path: Path, reason: str) -> None:
    """list_styles() runs on every page load; say what is wrong with a file once, not on every call."""
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    key = (str(path), mtime, reason)
    with _warn_lock:
        if key in _warned:
            return
        _warned.add(key)
    log.warning("skipping %s: %s", path, reason)


def _style_from_files(name: str, weights: Path) -> StyleInfo | None:
    meta_path = weights.with_name(name + META_SUFFIX)
    if not meta_path.is_file():
        _warn_once(weights, f"no {meta_path.name} next to it")
        return None
    try:
        meta = read_meta(meta_path)
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _warn_once(meta_path, f"unreadable style metadata ({exc})")
        return None
    try:
        config = check_weights_header(weights)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _warn_once(weights, f"unusable weights ({exc})")
        return None
    preview = weights.with_name(name + PREVIEW_SUFFIX)
    return StyleInfo(
        name=name,
        display_name=meta["display_name"].strip(),
        artist=(meta.get("artist") or "").strip(),
        title=(meta.get("title") or "").strip(),
        preview_path=preview if preview.is_file() else None,
        weights_path=weights,
        meta=meta,
        config=config,
    )


def _scan_dir(d: Path) -> dict[str, StyleInfo]:
    found: dict[str, StyleInfo] = {}
    try:
        entries = sorted(d.iterdir())
    except FileNotFoundError:
        return found
    except OSError as exc:
        _warn_once(d, f"cannot list weights folder ({exc})")
        return found
    names = {p.name for p in entries}
    for p in entries:
        fname = p.name
        if fname.startswith(".") or not p.is_file() or fname.lower().startswith(("readme", "license")):
            continue  # dotfiles (.gitkeep, our own .part temp files), docs
        if fname.endswith(WEIGHT_SUFFIX):
            name = fname[: -len(WEIGHT_SUFFIX)]
            if not NAME_PATTERN.match(name):
                _warn_once(p, "file name is not a valid style name")
                continue
            info = _style_from_files(name, p)
            if info is not None:
                found[name] = info
        elif fname.endswith(PREVIEW_SUFFIX):
            continue
        elif fname.endswith(META_SUFFIX):
            if fname[: -len(META_SUFFIX)] + WEIGHT_SUFFIX not in names:
                _warn_once(p, f"no {fname[: -len(META_SUFFIX)]}{WEIGHT_SUFFIX} next to it")
        else:
            _warn_once(p, "not a style file (expected NAME.safetensors, NAME.json, NAME.preview.jpg)")
    return found


def list_styles() -> list[StyleInfo]:
    """Every usable style, sorted by name; earlier folders override later ones with the same name."""
    styles: dict[str, StyleInfo] = {}
    for d in weights_dirs():
        for name, info in _scan_dir(d).items():
            styles.setdefault(name, info)
    return [styles[k] for k in sorted(styles)]


def default_style(styles: list[StyleInfo] | None = None) -> StyleInfo | None:
    """The style a front end shows first: the best by its recorded quality scores (`record_scores`), else the
    first by name. Best = lowest sum of structure and style ratio, each divided by its bar (`nst_core.bars`),
    so neither a near-copy of the photo nor a painting that buries the photo wins."""
    from ..bars import STRUCTURE_BAR, STYLE_RATIO_BAR

    styles = list_styles() if styles is None else styles
    scored = [s for s in styles if _score(s, "structure") is not None and _score(s, "style_ratio") is not None]
    if not scored:
        return styles[0] if styles else None
    return min(
        scored,
        key=lambda s: (_score(s, "structure") / STRUCTURE_BAR + _score(s, "style_ratio") / STYLE_RATIO_BAR, s.name),
    )


def _loose(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


def match_styles(query: str, styles: Sequence[StyleInfo] | None = None) -> list[StyleInfo]:
    """The styles a person may mean by `query`, for front ends where people type names ("Starry Night",
    `starry`, "van gogh"): an exact id, display name or label wins alone; otherwise every style whose id, display
    name or artist contains the query, case, spaces and punctuation ignored. Empty when nothing matches."""
    styles = list_styles() if styles is None else list(styles)
    key = query.strip().casefold()
    exact = [s for s in styles if key in (s.name.casefold(), s.display_name.casefold(), s.label.casefold())]
    if exact or not _loose(key):
        return exact[:1]
    loose = _loose(key)
    return [s for s in styles if any(loose in _loose(t) for t in (s.name, s.display_name, s.artist or ""))]


def _score(info: StyleInfo, key: str) -> float | None:
    value = (info.meta.get("scores") or {}).get(key) if isinstance(info.meta.get("scores"), dict) else None
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def record_scores(name: str, scores: Mapping[str, Any]) -> Path:
    """Store measured quality scores (bench/quality_styles.py) under "scores" in the style's JSON, atomically."""
    info = get_style(name)
    path = info.weights_path.with_suffix(META_SUFFIX)
    meta = read_meta(path)
    meta["scores"] = dict(scores)
    text = meta_text(meta)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


def get_style(name: str) -> StyleInfo:
    """The named style, or StyleNotFoundError listing what is installed."""
    broken = False
    if isinstance(name, str) and NAME_PATTERN.match(name):
        for d in weights_dirs():
            weights = d / (name + WEIGHT_SUFFIX)
            if weights.is_file():
                info = _style_from_files(name, weights)
                if info is not None:
                    return info
                broken = True
    available = ", ".join(s.name for s in list_styles()) or "none installed"
    if broken:
        raise StyleNotFoundError(
            f"Style {name!r} is installed but its files are broken (see the log). Available: {available}."
        )
    raise StyleNotFoundError(f"Unknown style {name!r}. Available styles: {available}.")


# ------------------------------------------------------------------------------------------ before writing
def check_writable_dir(folder: str | os.PathLike, what: str) -> Path:
    """Create `folder` if needed and prove a file can be written there, or OptionsError naming `what`: a run
    must not train for an hour and then fail to save."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".nst-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except FileExistsError:
        raise OptionsError(f"{what} {folder}: a file of that name is in the way (a folder is needed)") from None
    except NotADirectoryError:
        raise OptionsError(f"{what} {folder}: part of that path is a file, not a folder") from None
    except PermissionError:
        raise OptionsError(f"{what} {folder}: permission denied (choose a folder you can write to)") from None
    except OSError as e:
        raise OptionsError(f"{what} {folder}: cannot write there ({e.strerror or e})") from None
    return folder


def check_name_free(name: str, out_dir: str | os.PathLike) -> None:
    """Refuse to replace an installed style by accident, or to hide one (a bundled one included) behind a new style
    of the same name in a folder searched first: `--force` says it is meant."""
    for folder in [Path(out_dir), *weights_dirs()]:
        if any((folder / (name + suffix)).exists() for suffix in (WEIGHT_SUFFIX, META_SUFFIX)):
            raise OptionsError(
                f"a style named {name!r} is already installed in {folder}; choose another --name, or pass "
                "--force to replace it"
            )
