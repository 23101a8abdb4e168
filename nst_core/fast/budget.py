"""The memory budget of one forward pass: how many pixels a TransformerNet may take at once on a device, from its
free memory (or NST_FAST_MEMORY_MB), so larger pictures are tiled instead of running out of memory."""

from __future__ import annotations

import torch

from ..device import DeviceProfile
from ..envvars import env_number
from .tiling import MIN_TILE
from .transformer_net import TransformerNet

__all__ = ["MEMORY_ENV", "budget_pixels", "meminfo_available", "memory_budget_bytes"]

MEMORY_ENV = "NST_FAST_MEMORY_MB"


def _bytes_per_pixel(model: TransformerNet, dtype: torch.dtype | None) -> float:
    """Peak activation memory per input pixel, measured on CPU: ~1 KB/px for the 32-channel reference net
    (scales with the first width). 40*c1 bytes keeps a margin; half precision needs about 60% of that."""
    per_px = 40.0 * model.config.channels[0]
    return per_px * (0.6 if dtype in (torch.float16, torch.bfloat16) else 1.0)


def meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_budget_bytes(device: torch.device) -> int:
    """Memory one forward pass may use: env NST_FAST_MEMORY_MB, else half the free GPU memory, else a
    quarter of available RAM capped at 3 GiB (several jobs may run at once on a CPU server)."""
    mb = env_number(MEMORY_ENV, 0, lo=1e-3, whole=False)
    if mb:
        return max(1, int(mb * 1024 * 1024))
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * 0.5)
    if device.type == "mps":
        return 2 * 1024**3
    avail = meminfo_available()
    cap = 3 * 1024**3
    return min(cap, avail // 4) if avail else cap


def budget_pixels(model: TransformerNet, profile: DeviceProfile) -> int:
    """How many input pixels one untiled forward pass may hold on this device (a batch of frames shares it)."""
    per_px = _bytes_per_pixel(model, profile.dtype)
    return max(MIN_TILE * MIN_TILE, int(memory_budget_bytes(profile.device) / per_px))
