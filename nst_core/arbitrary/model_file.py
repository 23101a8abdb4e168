"""The arbitrary-style network's weights file: safetensors with the architecture in its metadata."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import WeightsError
from .network import ArbitraryConfig, ArbitraryNet

FORMAT = "nst-arbitrary-1"


def save_network(net: ArbitraryNet, path: str | os.PathLike) -> None:
    """float16 weights (half the size; inference runs them in float32 or bf16) and the config as metadata."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "config": net.config.to_json()}
    atomic_write(Path(path), lambda tmp: save_file(state, str(tmp), metadata=meta))


def load_network(path: str | os.PathLike) -> ArbitraryNet:
    """A frozen float32 network from `path`; any problem with the file is one WeightsError sentence."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"not an arbitrary-style network (format {meta.get('format')!r})")
        net = ArbitraryNet(ArbitraryConfig.from_json(meta["config"]))
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        net.load_state_dict(state, strict=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise WeightsError(f"cannot read the arbitrary-style network {path.name}: {exc}") from None
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise WeightsError(f"the arbitrary-style network {path.name} holds values that are not finite numbers")
    return net.eval().requires_grad_(False)
