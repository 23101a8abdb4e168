"""Loading a style's network: weights file -> checked state dict -> frozen TransformerNet, cached per file version,
device, dtype and memory layout (timm's builder: the registry says where, this builds)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..device import resolve_device
from ..errors import WeightsError
from ..fast.transformer_net import TransformerConfig, TransformerNet
from .fileformat import check_weights_header
from .registry import get_style

__all__ = ["build_model", "check_finite", "clear_cache", "load_style_model", "read_style_weights"]

_CACHE_SIZE = 8


def check_finite(state: Mapping[str, torch.Tensor], what: str) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise WeightsError(
            f"{what} holds values that are not finite numbers (in {bad[0]}): the training that made "
            "it diverged, so it would only paint black"
        )


def read_style_weights(path: str | os.PathLike) -> tuple[TransformerConfig, dict[str, torch.Tensor]]:
    """Config and float32 CPU state dict of one weights file (validated), e.g. to resume training from it."""
    from safetensors.torch import load_file

    path = Path(path)
    try:
        config = check_weights_header(path)
        state = load_file(str(path), device="cpu")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"cannot read style weights {path}: {exc}") from exc
    check_finite(state, f"style weights {path.name}")
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
