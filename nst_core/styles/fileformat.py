"""The style file format, read and written without torch: what a style's files are called, the safetensors
header (checked against the architecture without loading a tensor), the JSON metadata, and byte-stable output.

A style is three files side by side in a weights folder:

- ``NAME.safetensors``: the TransformerNet weights; its metadata holds the architecture (``nst_config``), so
  the right network is rebuilt without trusting pickles;
- ``NAME.json``: what people see and what was done (display_name, artist, title, style_image, training
  settings, date, losses reached, notes);
- ``NAME.preview.jpg``: a small image stylised by this very model (optional).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OptionsError
from ..fast.architecture import TransformerConfig

FORMAT = "nst-style"
FORMAT_VERSION = 1
REQUIRED_KEYS = ("display_name",)
WEIGHT_SUFFIX = ".safetensors"
META_SUFFIX = ".json"
PREVIEW_SUFFIX = ".preview.jpg"
WEIGHT_DTYPES = ("F32", "F16", "BF16")  # safetensors' names for float32, float16, bfloat16
_MAX_HEADER = 16 * 1024 * 1024


def read_safetensors_header(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
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


def check_weights_header(path: Path) -> TransformerConfig:
    """The architecture a weights file says it holds, once every tensor name, shape and dtype fits it."""
    header, meta = read_safetensors_header(path)
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
        if entry.get("dtype") not in WEIGHT_DTYPES:
            raise ValueError(f"{key} has unsupported dtype {entry.get('dtype')!r}")
    return config


def read_meta(path: Path) -> dict[str, Any]:
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


def meta_text(meta: dict[str, Any]) -> str:
    """The style's JSON as written (UTF-8, indented, keys in the given order), refused now if `read_meta` would
    then reject it."""
    text = json.dumps(meta, indent=2, sort_keys=False, default=_json_default, ensure_ascii=False) + "\n"
    _check_meta_text(text)
    return text


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path) or _is_torch(obj, "dtype", "device"):
        return str(obj)
    if isinstance(obj, np.generic) or _is_torch(obj, "Tensor"):
        return obj.item() if getattr(obj, "ndim", 0) == 0 else obj.tolist()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    return repr(obj)


def _is_torch(obj: Any, *names: str) -> bool:
    """Whether `obj` is one of torch's `names` types, told without importing torch."""
    return type(obj).__module__.startswith("torch") and any(c.__name__ in names for c in type(obj).__mro__)


def canonical_safetensors(data: bytes) -> bytes:
    """The same file with its JSON header's keys sorted: safetensors writes metadata in hash-map order, so equal
    weights gave different bytes (and hashes) from run to run. Tensor offsets are relative to the header's end,
    so re-serialising the header (padded to 8 bytes, as the format asks) leaves the data valid."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data[8 + n :]


def _check_meta_text(text: str) -> None:
    """Refuse to write metadata that list_styles() would then reject."""
    meta = json.loads(text)
    for key in REQUIRED_KEYS:
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise OptionsError(f"style metadata needs a non-empty string {key!r}")
