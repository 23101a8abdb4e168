"""The TransformerNet architecture as data, written once (no torch here).

`TransformerConfig` is the network's shape; `layer_plan(config)` lists its layers in order, each a conv with what
follows it. Everything else is derived from that list: the modules `TransformerNet` builds (and so the state-dict
keys, pytorch/examples' own), its forward pass, the stages tiled inference runs one by one, and the tensor shapes
a weights file must hold (`TransformerConfig.parameter_shapes`), which the style registry checks without torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["LIGHT", "REFERENCE", "Layer", "TransformerConfig", "config_from_state_dict", "layer_plan"]


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
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in layer_plan(self):
            shapes[f"{layer.conv}.conv2d.weight"] = (layer.cout, layer.cin, layer.kernel, layer.kernel)
            shapes[f"{layer.conv}.conv2d.bias"] = (layer.cout,)
            if layer.norm:
                shapes[f"{layer.norm}.weight"] = shapes[f"{layer.norm}.bias"] = (layer.cout,)
        return shapes


REFERENCE = TransformerConfig((32, 64, 128), 5)
"""pytorch/examples' network (1.68 M parameters)."""

LIGHT = TransformerConfig((16, 32, 64), 5)
"""CPU variant: 4x fewer FLOPs and parameters (0.42 M). Measured at 512x512 on a quiet 2-core EPYC (fp32):
0.11 s vs 0.44 s for REFERENCE; (24, 48, 96) took 0.27 s, too close to the 0.35 s target once the machine
is shared. See bench/bench_fast.py."""


@dataclass(frozen=True)
class Layer:
    """One reflection-padded conv of the network and what follows it: instance norm, residual sum, ReLU."""

    conv: str  # module path of the conv ("conv1", "res2.conv1", "deconv1"): pytorch/examples' key names
    norm: str | None  # module path of its instance norm; None for the output conv
    cin: int
    cout: int
    kernel: int
    stride: int = 1  # 2 halves the size; the input's size is kept for the matching upsampling layer
    upsample: bool = False  # nearest-resize to the size the matching strided layer kept, then conv
    relu: bool = True
    skip: str = ""  # "open": keep the input for a residual sum; "close": add it after the norm


def layer_plan(config: TransformerConfig) -> tuple[Layer, ...]:
    """Johnson et al.'s network: three encoder convs (the last two strided), `n_residual` blocks of two convs
    (conv-IN-ReLU-conv-IN plus identity, no ReLU after the sum), two upsampling convs, the output conv."""
    c1, c2, c3 = config.channels
    plan = [
        Layer("conv1", "in1", 3, c1, 9),
        Layer("conv2", "in2", c1, c2, 3, stride=2),
        Layer("conv3", "in3", c2, c3, 3, stride=2),
    ]
    for i in range(1, config.n_residual + 1):
        plan.append(Layer(f"res{i}.conv1", f"res{i}.in1", c3, c3, 3, skip="open"))
        plan.append(Layer(f"res{i}.conv2", f"res{i}.in2", c3, c3, 3, relu=False, skip="close"))
    plan += [
        Layer("deconv1", "in4", c3, c2, 3, upsample=True),
        Layer("deconv2", "in5", c2, c1, 3, upsample=True),
        Layer("deconv3", None, c1, 3, 9, relu=False),
    ]
    return tuple(plan)


def config_from_state_dict(state: Mapping[str, Any]) -> TransformerConfig:
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
