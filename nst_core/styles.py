"""Registry of trained feed-forward styles (timm-like: list, get, load by name).

A style is three files side by side in a weights folder:

- ``NAME.safetensors``: the TransformerNet weights; its metadata holds the architecture (``nst_config``), so
  the right network is rebuilt without trusting pickles;
- ``NAME.json``: what people see and what was done (display_name, artist, title, style_image, training
  settings, date, losses reached, notes);
- ``NAME.preview.jpg``: a small image stylised by this very model (optional).

Folders searched, first hit wins: every entry of ``NST_WEIGHTS_DIR`` (``os.pathsep``-separated, so users can
override shipped styles), then the repository's ``weights/``. A broken or foreign file is logged once and
skipped: one bad download must never take the style list (and the demo/bots) down.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from .atomic import atomic_write
from .device import resolve_device
from .errors import OptionsError, StyleNotFoundError, WeightsError
from .images import pil_to_tensor, tensor_to_pil
from .safeload import torch_load
from .transformer_net import TransformerConfig, TransformerNet, config_from_state_dict

__all__ = [
    "NAME_PATTERN",
    "WEIGHTS_ENV",
    "StyleInfo",
    "build_model",
    "clear_cache",
    "default_style",
    "get_style",
    "import_torch_checkpoint",
    "list_styles",
    "load_style_model",
    "read_style_weights",
    "record_scores",
    "render_preview",
    "save_style",
    "synthetic_preview_content",
    "validate_name",
    "weights_dirs",
]

log = logging.getLogger(__name__)

WEIGHTS_ENV = "NST_WEIGHTS_DIR"
REPO_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FORMAT = "nst-style"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("display_name",)
PREVIEW_LONG_SIDE = 256
_WEIGHT_SUFFIX = ".safetensors"
_META_SUFFIX = ".json"
_PREVIEW_SUFFIX = ".preview.jpg"
_SAFETENSORS_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
_MAX_HEADER = 16 * 1024 * 1024
_CACHE_SIZE = 8


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


def _read_safetensors_header(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse and sanity-check the header without loading tensors (cheap enough for every listing)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError("file too short to be safetensors")
        (n,) = struct.unpack("<Q", raw)
        if n <= 1 or n > _MAX_HEADER or 8 + n > size:
            raise ValueError("not a safetensors file (bad header length)")
        header = json.loads(fh.read(n).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("not a safetensors file (header is not an object)")
    meta = header.pop("__metadata__", None) or {}
    end = 0
    for key, entry in header.items():
        if not isinstance(entry, dict) or "data_offsets" not in entry or "shape" not in entry:
            raise ValueError(f"bad header entry for {key!r}")
        end = max(end, int(entry["data_offsets"][1]))
    if 8 + n + end != size:
        raise ValueError(f"truncated or padded: header promises {8 + n + end} bytes, file has {size}")
    return header, meta


def _check_weights_header(path: Path) -> TransformerConfig:
    header, meta = _read_safetensors_header(path)
    if meta.get("format") != FORMAT or "nst_config" not in meta:
        raise ValueError("safetensors file without nst-style metadata (not written by nst)")
    config = TransformerConfig.from_json(meta["nst_config"])
    expected = config.parameter_shapes()
    if set(header) != set(expected):
        missing = sorted(set(expected) - set(header))[:3]
        extra = sorted(set(header) - set(expected))[:3]
        raise ValueError(f"tensor names do not match the config (missing {missing}, unexpected {extra})")
    for key, shape in expected.items():
        entry = header[key]
        if tuple(entry["shape"]) != shape:
            raise ValueError(f"{key} has shape {tuple(entry['shape'])}, config needs {shape}")
        if entry.get("dtype") not in _SAFETENSORS_DTYPES:
            raise ValueError(f"{key} has unsupported dtype {entry.get('dtype')!r}")
    return config


def _read_meta(path: Path) -> dict[str, Any]:
    meta = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    for key in REQUIRED_KEYS:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise ValueError(f"required key {key!r} missing or not a non-empty string")
    for key in ("artist", "title"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], str):
            raise ValueError(f"{key!r} must be a string")
    return meta


def _style_from_files(name: str, weights: Path) -> StyleInfo | None:
    meta_path = weights.with_name(name + _META_SUFFIX)
    if not meta_path.is_file():
        _warn_once(weights, f"no {meta_path.name} next to it")
        return None
    try:
        meta = _read_meta(meta_path)
    except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _warn_once(meta_path, f"unreadable style metadata ({exc})")
        return None
    try:
        config = _check_weights_header(weights)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        _warn_once(weights, f"unusable weights ({exc})")
        return None
    preview = weights.with_name(name + _PREVIEW_SUFFIX)
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
        if fname.endswith(_WEIGHT_SUFFIX):
            name = fname[: -len(_WEIGHT_SUFFIX)]
            if not NAME_PATTERN.match(name):
                _warn_once(p, "file name is not a valid style name")
                continue
            info = _style_from_files(name, p)
            if info is not None:
                found[name] = info
        elif fname.endswith(_PREVIEW_SUFFIX):
            continue
        elif fname.endswith(_META_SUFFIX):
            if fname[: -len(_META_SUFFIX)] + _WEIGHT_SUFFIX not in names:
                _warn_once(p, f"no {fname[: -len(_META_SUFFIX)]}{_WEIGHT_SUFFIX} next to it")
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
    first by name. Best = lowest sum of structure and style ratio, each divided by its bar (`nst_core.judge`),
    so neither a near-copy of the photo nor a painting that buries the photo wins."""
    from .judge import STRUCTURE_BAR, STYLE_RATIO_BAR

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
    path = info.weights_path.with_suffix(_META_SUFFIX)
    meta = _read_meta(path)
    meta["scores"] = dict(scores)
    text = json.dumps(meta, indent=2, sort_keys=False, default=_json_default, ensure_ascii=False) + "\n"
    _read_meta_text_check(text)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path


def get_style(name: str) -> StyleInfo:
    """The named style, or StyleNotFoundError listing what is installed."""
    broken = False
    if isinstance(name, str) and NAME_PATTERN.match(name):
        for d in weights_dirs():
            weights = d / (name + _WEIGHT_SUFFIX)
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
        if any((folder / (name + suffix)).exists() for suffix in (_WEIGHT_SUFFIX, _META_SUFFIX)):
            raise OptionsError(
                f"a style named {name!r} is already installed in {folder}; choose another --name, or pass "
                "--force to replace it"
            )


def _check_finite(state: Mapping[str, torch.Tensor], what: str) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(
            f"{what} holds values that are not finite numbers (in {bad[0]}): the training that made "
            "it diverged, so it would only paint black"
        )


# -------------------------------------------------------------------------------------------------- loading
def read_style_weights(path: str | os.PathLike) -> tuple[TransformerConfig, dict[str, torch.Tensor]]:
    """Config and float32 CPU state dict of one weights file (validated), e.g. to resume training from it."""
    from safetensors.torch import load_file

    path = Path(path)
    try:
        config = _check_weights_header(path)
        state = load_file(str(path), device="cpu")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"cannot read style weights {path}: {exc}") from exc
    _check_finite(state, f"style weights {path.name}")
    return config, {k: v.float() for k, v in state.items()}


def build_model(config: TransformerConfig, state: Mapping[str, torch.Tensor]) -> TransformerNet:
    """A frozen eval-mode net with `state` loaded strictly (a mismatch is a WeightsError, not a crash)."""
    model = TransformerNet(config)
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"weights do not fit the network: {exc}") from exc
    model.eval().requires_grad_(False)
    return model


_cache: OrderedDict[tuple[Any, ...], nn.Module] = OrderedDict()
_cache_lock = threading.Lock()


def load_style_model(
    name: str,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    *,
    channels_last: bool = False,
) -> TransformerNet:
    """The style's network on `device` (eval, no grad), cached per file version, device, dtype and layout.

    The cached module is shared between threads; forward passes do not mutate it, so that is safe. Do not
    train or modify the returned module in place (copy.deepcopy it first).
    """
    info = get_style(name)
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:  # "cuda" and "cuda:0" must share one cache entry
        dev = torch.device("cuda", torch.cuda.current_device())
    try:
        mtime = info.weights_path.stat().st_mtime_ns
    except OSError as exc:
        raise WeightsError(f"cannot read {info.weights_path}: {exc}") from exc
    key = (str(info.weights_path), mtime, str(dev), dtype, channels_last)
    with _cache_lock:  # held while loading too: two threads asking at once load the file once
        model = _cache.get(key)
        if model is not None:
            _cache.move_to_end(key)
            return model  # type: ignore[return-value]
        config, state = read_style_weights(info.weights_path)
        model = build_model(config, state).to(device=dev, dtype=dtype)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        _cache[key] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return model


def clear_cache() -> None:
    """Forget loaded models (frees device memory once callers drop their references)."""
    with _cache_lock:
        _cache.clear()


# --------------------------------------------------------------------------------------------------- saving
def synthetic_preview_content(size: int = PREVIEW_LONG_SIDE) -> Image.Image:
    """A deterministic built-in scene (sky, hills, sun, house, stripes), so previews need no data files."""
    h = w = int(size)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    sky = yy < 0.55 * h + 0.08 * h * np.sin(xx / w * 6.0)
    t = (yy / h)[..., None]
    img[:] = (1 - t) * np.array([70, 130, 210]) + t * np.array([200, 225, 245])
    ground_t = ((yy - 0.5 * h) / (0.5 * h)).clip(0, 1)[..., None]
    ground = (1 - ground_t) * np.array([90, 160, 70]) + ground_t * np.array([40, 90, 40])
    img = np.where(sky[..., None], img, ground)
    pil = Image.fromarray(img.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    s = w / 256
    draw.ellipse([190 * s, 20 * s, 235 * s, 65 * s], fill=(250, 210, 60))
    draw.rectangle([40 * s, 120 * s, 110 * s, 185 * s], fill=(180, 70, 50))
    draw.polygon([(32 * s, 122 * s), (75 * s, 85 * s), (118 * s, 122 * s)], fill=(110, 40, 40))
    draw.rectangle([65 * s, 150 * s, 85 * s, 185 * s], fill=(60, 40, 30))
    for i in range(6):
        y0 = (200 + 9 * i) * s
        draw.rectangle([140 * s, y0, 240 * s, y0 + 4 * s], fill=(230, 230, 220) if i % 2 else (50, 50, 60))
    draw.ellipse([150 * s, 110 * s, 200 * s, 160 * s], outline=(255, 255, 255), width=max(1, int(3 * s)))
    return pil


@torch.inference_mode()
def render_preview(model: nn.Module, content: Image.Image | None = None) -> Image.Image:
    """Stylise a small image with `model` on CPU-or-wherever-it-lives (fp32, no tiling: it is small)."""
    img = content.convert("RGB") if content is not None else synthetic_preview_content()
    w, h = img.size
    if max(w, h) > PREVIEW_LONG_SIDE:
        scale = PREVIEW_LONG_SIDE / max(w, h)
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    param = next(model.parameters())
    x = pil_to_tensor(img, value_range=255)
    return tensor_to_pil(model(x.to(param.device, param.dtype)).float(), value_range=255)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (Path, torch.dtype, torch.device)):
        return str(obj)
    if isinstance(obj, (np.generic, torch.Tensor)):
        return obj.item() if getattr(obj, "ndim", 0) == 0 else obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return repr(obj)


def save_style(
    model: TransformerNet,
    name: str,
    out_dir: str | os.PathLike,
    meta: Mapping[str, Any] | None = None,
    preview: Image.Image | None = None,
    *,
    preview_content: Image.Image | None = None,
    weights_dtype: torch.dtype = torch.float32,
) -> Path:
    """Write NAME.safetensors, NAME.preview.jpg and NAME.json (each atomically); return the weights path.

    `preview` is an already stylised image; if None, one is rendered with `model` from `preview_content`
    (default: the built-in synthetic scene). `weights_dtype=torch.float16` halves the file size.
    """
    from safetensors.torch import save

    validate_name(name)
    if not isinstance(model, TransformerNet):
        raise TypeError(f"save_style expects a TransformerNet, got {type(model).__name__}")
    if weights_dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise OptionsError(f"weights_dtype must be float32, float16 or bfloat16, got {weights_dtype}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    state = {k: v.detach().to("cpu", weights_dtype).contiguous().clone() for k, v in model.state_dict().items()}
    _check_finite(state, f"the network for style {name!r}")
    if set(state) != set(config.parameter_shapes()):
        raise WeightsError("model state dict does not match its config (unexpected or missing tensors)")

    if preview is None:
        was_training = model.training
        model.eval()
        try:
            preview = render_preview(model, preview_content)
        finally:
            model.train(was_training)
    preview = preview.convert("RGB")
    if max(preview.size) > PREVIEW_LONG_SIDE:
        preview = preview.copy()
        preview.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE), Image.Resampling.LANCZOS)

    record: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "name": name,
        "artist": "",
        "title": "",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    record.update(dict(meta or {}))
    record["display_name"] = record.get("display_name") or name.replace("_", " ").replace("-", " ").title()
    record.update(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "name": name,
            "config": config.to_dict(),
            "parameters": sum(v.numel() for v in state.values()),
            "preview": name + _PREVIEW_SUFFIX,
        }
    )
    text = json.dumps(record, indent=2, sort_keys=False, default=_json_default, ensure_ascii=False) + "\n"
    _read_meta_text_check(text)

    weights = out / (name + _WEIGHT_SUFFIX)
    metadata = {
        "format": FORMAT,
        "version": str(FORMAT_VERSION),
        "name": name,
        "nst_config": config.to_json(),
    }
    atomic_write(out / (name + _PREVIEW_SUFFIX), lambda p: preview.save(p, "JPEG", quality=88))
    data = _canonical_safetensors(save(state, metadata=metadata))
    atomic_write(weights, lambda p: p.write_bytes(data))
    # the JSON goes last: until it exists, the registry does not consider the style installed
    atomic_write(out / (name + _META_SUFFIX), lambda p: p.write_text(text, encoding="utf-8"))
    return weights


def _canonical_safetensors(data: bytes) -> bytes:
    """The same file with its JSON header's keys sorted: safetensors writes metadata in hash-map order, so equal
    weights gave different bytes (and hashes) from run to run. Tensor offsets are relative to the header's end,
    so re-serialising the header (padded to 8 bytes, as the format asks) leaves the data valid."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def _read_meta_text_check(text: str) -> None:
    """Refuse to write metadata that list_styles() would then reject."""
    meta = json.loads(text)
    for key in REQUIRED_KEYS:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise OptionsError(f"style metadata needs a non-empty string {key!r}")


# ------------------------------------------------------------------------------------------------ importing
_DROP_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def _unwrap_checkpoint(obj: Any) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and "conv1.conv2d.weight" not in obj:
                obj = inner
                break
        state = {str(k).removeprefix("module."): v for k, v in obj.items()}
        if state and all(isinstance(v, torch.Tensor) for v in state.values()):
            return state
    raise WeightsError("the checkpoint is not a state dict of tensors (expected a pytorch/examples .pth)")


def import_torch_checkpoint(
    pth_path: str | os.PathLike,
    name: str,
    out_dir: str | os.PathLike,
    meta: Mapping[str, Any] | None = None,
    *,
    preview_content: Image.Image | None = None,
) -> Path:
    """Convert a pytorch/examples fast_neural_style .pth into our format; return the new weights path.

    Loaded with weights_only=True (no code from the file runs). Old InstanceNorm running stats are dropped,
    as pytorch/examples' own stylize does; everything else must fit a TransformerNet exactly.
    """
    validate_name(name)
    path = Path(pth_path)
    obj = torch_load(path, "checkpoint")
    state = {k: v for k, v in _unwrap_checkpoint(obj).items() if not k.endswith(_DROP_SUFFIXES)}
    try:
        config = config_from_state_dict(state)
    except ValueError as exc:
        raise WeightsError(f"{path.name} is not a TransformerNet checkpoint: {exc}") from exc
    model = build_model(config, {k: v.float() for k, v in state.items()})
    record = {"notes": f"imported from {path.name}", "source": path.name}
    record.update(dict(meta or {}))
    return save_style(model, name, out_dir, record, preview_content=preview_content)
