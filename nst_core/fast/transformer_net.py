"""Johnson et al. (2016) image transformation network, key-compatible with pytorch/examples fast_neural_style.

Why key-compatible: the pytorch/examples checkpoints (and anything trained with that script) load here with
`strict=True`, so existing styles can be imported without conversion code. The architecture is configurable
(`TransformerConfig`) so a lighter net exists for CPU-only users; the config travels with the weights as
metadata so the registry can rebuild the right shape.

The layers are listed once, as data, in `nst_core.fast.architecture.layer_plan`; the modules, `forward` and `stages`
below are all read from that list.

Differences from pytorch/examples that do not change outputs on sizes divisible by 4:
- the decoder upsamples to the saved encoder sizes instead of by a fixed factor 2, so any H, W (odd too)
  comes back at exactly the input size;
- nothing else: same layers, same order, reflection padding, InstanceNorm2d(affine=True), 0..255 in and out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import LIGHT, REFERENCE, Layer, TransformerConfig, config_from_state_dict, layer_plan

__all__ = [
    "LIGHT",
    "REFERENCE",
    "ConvLayer",
    "NormStats",
    "ResidualBlock",
    "Stage",
    "TransformerConfig",
    "TransformerNet",
    "UpsampleConvLayer",
    "config_from_state_dict",
    "normalize",
]


@dataclass(frozen=True)
class Stage:
    """The computation up to one instance norm (`pre`), the norm, and what follows it (`post`)."""

    pre: Callable[[dict[str, Any]], torch.Tensor]
    norm: nn.InstanceNorm2d
    post: Callable[[dict[str, Any], torch.Tensor], None]
    scale: int = 1  # how many times smaller than the input the tensor `pre` returns is (1, 2, 4, ...)


class ConvLayer(nn.Module):
    """Reflection-padded conv; attribute name `conv2d` matches pytorch/examples keys."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour resize then conv: avoids the checkerboard artefacts of transposed convs.

    Resizes to an explicit `size` (the matching encoder size) rather than by x2, so odd inputs round-trip.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.pad = kernel_size // 2
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, 1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = F.interpolate(x, size=size, mode="nearest")
        return self.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"))


class NormStats:
    """Records, or replays, every instance-norm's per-channel mean/var in call order.

    Why: instance norm is global over the image, so a tile normalised with its own statistics looks different
    from its neighbours (seams, patchy colours). Tiled inference records statistics once over the whole image
    (or a thumbnail of it) and replays them in every tile. One object per forward call: thread-safe by design.
    """

    def __init__(self, stats: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
        self.recording = stats is None
        self.stats: list[tuple[torch.Tensor, torch.Tensor]] = [] if stats is None else stats
        self.index = 0

    def replay(self) -> NormStats:
        """A fresh replaying context over the recorded statistics (use one per tile)."""
        return NormStats(self.stats)

    def __call__(self, norm: nn.InstanceNorm2d, x: torch.Tensor) -> torch.Tensor:
        if self.recording:
            var, mean = torch.var_mean(x.float(), dim=(2, 3), keepdim=True, correction=0)
            self.stats.append((mean, var))
        else:
            if self.index >= len(self.stats):
                raise RuntimeError("NormStats replayed on a different network (more norms than recorded)")
            mean, var = self.stats[self.index]
            self.index += 1
        return normalize(norm, x, mean, var)


def normalize(norm: nn.InstanceNorm2d, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Instance norm with given (N,C,1,1) statistics; computed in float32, returned in x's dtype."""
    y = (x.float() - mean) * torch.rsqrt(var + norm.eps)
    if norm.affine:
        y = y * norm.weight.float().view(1, -1, 1, 1) + norm.bias.float().view(1, -1, 1, 1)
    return y.to(x.dtype)


def _norm(module: nn.InstanceNorm2d, x: torch.Tensor, stats: NormStats | None) -> torch.Tensor:
    return module(x) if stats is None else stats(module, x)


class ResidualBlock(nn.Module):
    """Holds one residual block's layers (conv1, in1, conv2, in2), so their keys read `res1.conv1.conv2d.weight`
    as in pytorch/examples; what the block computes is in the layer plan (`nst_core.fast.architecture`)."""


class TransformerNet(nn.Module):
    """Feed-forward stylisation network. Input and output: RGB float (N,3,H,W) in 0..255, any H, W.

    The output is not clamped (pytorch/examples clamps at save time); callers clamp to [0, 255].
    """

    def __init__(self, config: TransformerConfig | None = None) -> None:
        super().__init__()
        self.config = config or REFERENCE
        self._steps: list[tuple[Layer, nn.Module, nn.InstanceNorm2d | None]] = []
        for layer in layer_plan(self.config):  # created in plan order: a seeded init draws the same numbers
            if layer.upsample:
                conv: nn.Module = UpsampleConvLayer(layer.cin, layer.cout, layer.kernel)
            else:
                conv = ConvLayer(layer.cin, layer.cout, layer.kernel, layer.stride)
            self._add(layer.conv, conv)
            norm = nn.InstanceNorm2d(layer.cout, affine=True) if layer.norm else None
            if norm is not None:
                self._add(layer.norm, norm)
            self._steps.append((layer, conv, norm))

    def _add(self, path: str, module: nn.Module) -> None:
        """Register `module` at a dotted path ("res1.conv1"), creating the residual block that holds it."""
        parent: nn.Module = self
        *blocks, name = path.split(".")
        for block in blocks:
            if not hasattr(parent, block):
                parent.add_module(block, ResidualBlock())
            parent = getattr(parent, block)
        parent.add_module(name, module)

    def forward(self, x: torch.Tensor, stats: NormStats | None = None) -> torch.Tensor:
        """`stats` (tiled inference only) records or replays the instance-norm statistics."""
        state: dict[str, Any] = {"x": x}
        *normed, last = self._steps
        for step in normed:
            _post(step, state, _norm(step[2], _pre(step, state), stats))
        return _pre(last, state)

    def stages(self) -> tuple[list[Stage], Callable[[dict[str, Any]], torch.Tensor]]:
        """The forward pass cut at every instance norm, for tiled inference with exact global statistics.

        Running, for each stage, ``t = stage.pre(state)``, ``stage.post(state, normalize(stage.norm, t, ...))``
        and finally ``final(state)`` on ``state = {"x": x}`` equals ``forward(x)``. Tensors in `state` are never
        modified in place, so a shallow copy of a state can be continued independently.
        """
        *normed, last = self._steps
        stages, scale = [], 1
        for step in normed:
            layer = step[0]
            scale = scale * layer.stride // (2 if layer.upsample else 1)
            stages.append(Stage(partial(_pre, step), step[2], partial(_post, step), scale))
        return stages, partial(_pre, last)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _pre(step: tuple[Layer, nn.Module, Any], s: dict[str, Any]) -> torch.Tensor:
    """One layer's conv on the state's activation (the input `x` the first time). The state keeps `sizes`, the
    input sizes of the strided layers, for the upsampling layers to return to, and `skip`, a residual input."""
    layer, conv, _ = step
    x = s.pop("x") if "x" in s else s["y"]
    if layer.skip == "open":
        s["skip"] = x
    sizes = s.get("sizes", ())
    if layer.upsample:
        s["sizes"] = sizes[:-1]
        return conv(x, sizes[-1])
    if layer.stride > 1:
        s["sizes"] = (*sizes, (x.shape[-2], x.shape[-1]))
    return conv(x)


def _post(step: tuple[Layer, nn.Module, Any], s: dict[str, Any], n: torch.Tensor) -> None:
    """What follows a layer's instance norm `n`: the residual sum, then the ReLU."""
    layer = step[0]
    if layer.skip == "close":
        n = n + s.pop("skip")
    s["y"] = F.relu(n) if layer.relu else n
