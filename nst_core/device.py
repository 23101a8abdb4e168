"""Pick the compute device and the per-device speed switches in one place."""

from __future__ import annotations

import torch

from .errors import OptionsError

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """`auto` prefers CUDA, then Apple MPS, then CPU; an explicit device that is absent is a user error."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base = name.split(":")[0]
    if base not in DEVICES:
        raise OptionsError(f"Unknown device {device!r}: choose one of {', '.join(DEVICES)}.")
    if base == "cuda" and not torch.cuda.is_available():
        raise OptionsError("CUDA was requested but no CUDA GPU is available here; use --device cpu or auto.")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionsError("MPS was requested but is not available here; use --device cpu or auto.")
    return torch.device(name)


def enable_fast_math(device: torch.device) -> None:
    """TF32 matmuls/convolutions on CUDA: ~free speed, no visible change for style transfer."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
