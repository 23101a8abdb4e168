"""Importers: checkpoints from elsewhere turned into styles. pytorch/examples fast_neural_style .pth files are read
with weights_only=True (no code from the file runs) and saved in the registry's own format."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..errors import WeightsError
from ..fast.transformer_net import config_from_state_dict
from ..safeload import torch_load
from .loader import build_model
from .registry import validate_name
from .writer import save_style

__all__ = ["import_torch_checkpoint"]

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
