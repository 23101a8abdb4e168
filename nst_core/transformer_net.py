"""Johnson et al. (2016) image transformation network, key-compatible with pytorch/examples fast_neural_style.

Why key-compatible: the pytorch/examples checkpoints (and anything trained with that script) load here with
`strict=True`, so existing styles can be imported without conversion code. The architecture is configurable
(`TransformerConfig`) so a lighter net exists for CPU-only users; the config travels with the weights as
metadata so the registry can rebuild the right shape.

Differences from pytorch/examples that do not change outputs on sizes divisible by 4:
- the decoder upsamples to the saved encoder sizes instead of by a fixed factor 2, so any H, W (odd too)
  comes back at exactly the input size;
- nothing else: same layers, same order, reflection padding, InstanceNorm2d(affine=True), 0..255 in and out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

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
class TransformerConfig:
    """Shape of a TransformerNet; stored as JSON in the weights file so the net can be rebuilt."""

    channels: tuple[int, int, int] = (32, 64, 128)
    n_residual: int = 5

    def __post_init__(self) -> None:
        chans = tuple(int(c) for c in self.channels)
        if len(chans) != 3 or any(c < 1 for c in chans):
            raise ValueError(f"channels must be three positive ints, got {self.channels!r}")
        if int(self.n_residual) < 0:
            raise ValueError(f"n_residual must be >= 0, got {self.n_residual!r}")
        object.__setattr__(self, "channels", chans)
        object.__setattr__(self, "n_residual", int(self.n_residual))

    def to_dict(self) -> dict[str, Any]:
        return {"arch": "transformer_net", **asdict(self), "channels": list(self.channels)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransformerConfig:
        arch = d.get("arch", "transformer_net")
        if arch != "transformer_net":
            raise ValueError(f"unknown architecture {arch!r}")
        return cls(channels=tuple(d.get("channels", (32, 64, 128))), n_residual=d.get("n_residual", 5))

    @classmethod
    def from_json(cls, s: str) -> TransformerConfig:
        return cls.from_dict(json.loads(s))

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Expected state-dict shapes: lets the registry validate a file without building the net."""
        c1, c2, c3 = self.channels
        shapes: dict[str, tuple[int, ...]] = {}

        def conv(name: str, cin: int, cout: int, k: int) -> None:
            shapes[f"{name}.conv2d.weight"] = (cout, cin, k, k)
            shapes[f"{name}.conv2d.bias"] = (cout,)

        def norm(name: str, c: int) -> None:
            shapes[f"{name}.weight"] = (c,)
            shapes[f"{name}.bias"] = (c,)

        conv("conv1", 3, c1, 9)
        norm("in1", c1)
        conv("conv2", c1, c2, 3)
        norm("in2", c2)
        conv("conv3", c2, c3, 3)
        norm("in3", c3)
        for i in range(1, self.n_residual + 1):
            conv(f"res{i}.conv1", c3, c3, 3)
            norm(f"res{i}.in1", c3)
            conv(f"res{i}.conv2", c3, c3, 3)
            norm(f"res{i}.in2", c3)
        conv("deconv1", c3, c2, 3)
        norm("in4", c2)
        conv("deconv2", c2, c1, 3)
        norm("in5", c1)
        conv("deconv3", c1, 3, 9)
        return shapes


REFERENCE = TransformerConfig((32, 64, 128), 5)
"""pytorch/examples' network (1.68 M parameters)."""

LIGHT = TransformerConfig((16, 32, 64), 5)
"""CPU variant: 4x fewer FLOPs and parameters (0.42 M). Measured at 512x512 on a quiet 2-core EPYC (fp32):
0.11 s vs 0.44 s for REFERENCE; (24, 48, 96) took 0.27 s, too close to the 0.35 s target once the machine
is shared. See bench/bench_fast.py."""


@dataclass(frozen=True)
class Stage:
    """The computation up to one instance norm (`pre`), the norm, and what follows it (`post`)."""

    pre: Callable[[dict[str, Any]], torch.Tensor]
    norm: nn.InstanceNorm2d
    post: Callable[[dict[str, Any], torch.Tensor], None]


def config_from_state_dict(state: dict[str, torch.Tensor]) -> TransformerConfig:
    """Infer the config from tensor shapes, for checkpoints that carry no metadata (pytorch/examples .pth)."""
    try:
        c1 = state["conv1.conv2d.weight"].shape[0]
        c2 = state["conv2.conv2d.weight"].shape[0]
        c3 = state["conv3.conv2d.weight"].shape[0]
    except KeyError as exc:
        raise ValueError(f"not a TransformerNet state dict (missing {exc.args[0]})") from None
    n_res = 0
    while f"res{n_res + 1}.conv1.conv2d.weight" in state:
        n_res += 1
    return TransformerConfig((c1, c2, c3), n_res)


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
    """conv-IN-ReLU-conv-IN plus identity (no ReLU after the sum, as in pytorch/examples)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor, stats: NormStats | None = None) -> torch.Tensor:
        y = F.relu(_norm(self.in1, self.conv1(x), stats))
        return _norm(self.in2, self.conv2(y), stats) + x


class TransformerNet(nn.Module):
    """Feed-forward stylisation network. Input and output: RGB float (N,3,H,W) in 0..255, any H, W.

    The output is not clamped (pytorch/examples clamps at save time); callers clamp to [0, 255].
    """

    def __init__(self, config: TransformerConfig | None = None) -> None:
        super().__init__()
        self.config = config or REFERENCE
        c1, c2, c3 = self.config.channels
        self.conv1 = ConvLayer(3, c1, 9, 1)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, 3, 2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, 3, 2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        # res1..resN as attributes (not a Sequential) so the keys are `res1.conv1.conv2d.weight` etc.
        for i in range(1, self.config.n_residual + 1):
            self.add_module(f"res{i}", ResidualBlock(c3))
        self.deconv1 = UpsampleConvLayer(c3, c2, 3)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, 3)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, 9, 1)

    def forward(self, x: torch.Tensor, stats: NormStats | None = None) -> torch.Tensor:
        """`stats` (tiled inference only) records or replays the instance-norm statistics."""
        size0 = (x.shape[-2], x.shape[-1])
        y = F.relu(_norm(self.in1, self.conv1(x), stats))
        y = F.relu(_norm(self.in2, self.conv2(y), stats))
        size2 = (y.shape[-2], y.shape[-1])
        y = F.relu(_norm(self.in3, self.conv3(y), stats))
        for i in range(1, self.config.n_residual + 1):
            y = getattr(self, f"res{i}")(y, stats)
        y = F.relu(_norm(self.in4, self.deconv1(y, size2), stats))
        y = F.relu(_norm(self.in5, self.deconv2(y, size0), stats))
        return self.deconv3(y)

    def stages(self) -> tuple[list[Stage], Callable[[dict[str, Any]], torch.Tensor]]:
        """The forward pass cut at every instance norm, for tiled inference with exact global statistics.

        Running, for each stage, ``t = stage.pre(state)``, ``stage.post(state, normalize(stage.norm, t, ...))``
        and finally ``final(state)`` on ``state = {"x": x}`` equals ``forward(x)``. Tensors in `state` are never
        modified in place, so a shallow copy of a state can be continued independently.
        """
        relu = F.relu

        def set_y(s: dict[str, Any], n: torch.Tensor) -> None:
            s["y"] = relu(n)

        def pre_conv1(s: dict[str, Any]) -> torch.Tensor:
            s["size0"] = (s["x"].shape[-2], s["x"].shape[-1])
            return self.conv1(s.pop("x"))

        def post_conv2(s: dict[str, Any], n: torch.Tensor) -> None:
            s["y"] = relu(n)
            s["size2"] = (n.shape[-2], n.shape[-1])

        stages = [
            Stage(pre_conv1, self.in1, set_y),
            Stage(lambda s: self.conv2(s["y"]), self.in2, post_conv2),
            Stage(lambda s: self.conv3(s["y"]), self.in3, set_y),
        ]
        for i in range(1, self.config.n_residual + 1):
            block: ResidualBlock = getattr(self, f"res{i}")

            def pre_res1(s: dict[str, Any], block: ResidualBlock = block) -> torch.Tensor:
                s["skip"] = s["y"]
                return block.conv1(s["y"])

            def post_res2(s: dict[str, Any], n: torch.Tensor) -> None:
                s["y"] = n + s.pop("skip")

            stages.append(Stage(pre_res1, block.in1, set_y))
            stages.append(Stage(lambda s, block=block: block.conv2(s["y"]), block.in2, post_res2))
        stages.append(Stage(lambda s: self.deconv1(s["y"], s["size2"]), self.in4, set_y))
        stages.append(Stage(lambda s: self.deconv2(s["y"], s["size0"]), self.in5, set_y))
        return stages, lambda s: self.deconv3(s["y"])

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
