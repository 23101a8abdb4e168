"""Writing a style into a weights folder: NAME.safetensors, NAME.preview.jpg and NAME.json, each atomically, the
JSON last (until it exists, the registry does not consider the style installed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..atomic import atomic_write
from ..errors import OptionsError, WeightsError
from ..fast.transformer_net import TransformerNet
from .fileformat import (
    FORMAT,
    FORMAT_VERSION,
    META_SUFFIX,
    PREVIEW_SUFFIX,
    WEIGHT_SUFFIX,
    canonical_safetensors,
    meta_text,
)
from .loader import check_finite
from .previews import PREVIEW_LONG_SIDE, render_preview
from .registry import validate_name

__all__ = ["save_style"]


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
    check_finite(state, f"the network for style {name!r}")
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
            "preview": name + PREVIEW_SUFFIX,
        }
    )
    text = meta_text(record)

    weights = out / (name + WEIGHT_SUFFIX)
    metadata = {
        "format": FORMAT,
        "version": str(FORMAT_VERSION),
        "name": name,
        "nst_config": config.to_json(),
    }
    atomic_write(out / (name + PREVIEW_SUFFIX), lambda p: preview.save(p, "JPEG", quality=88))
    data = canonical_safetensors(save(state, metadata=metadata))
    atomic_write(weights, lambda p: p.write_bytes(data))
    # the JSON goes last: until it exists, the registry does not consider the style installed
    atomic_write(out / (name + META_SUFFIX), lambda p: p.write_text(text, encoding="utf-8"))
    return weights
