"""The arbitrary-style network: a small VGG-shaped encoder and one mirror decoder per level (no VGG-19 needed).

Universal style transfer (Li et al. 2017) paints with any picture because it needs no painting at training time:
an encoder whose features describe texture (VGG-19 there), decoders that only learn to turn features back into
pixels, and a whitening-colouring transform between them (`transform`). Here the encoder is a student with a
quarter of VGG-19's channels, distilled from VGG-19's relu1_1..relu4_1 through 1x1 "embedding" heads (Wang et
al. 2020, Collaborative Distillation), so the shipped weights are a network of our own, 16x cheaper than VGG-19
and a few MB in size. The heads are used only in training and are not shipped.

Level l of the encoder ends where VGG-19's relu{l}_1 does; decoder l mirrors the encoder up to level l (nearest
upsampling + convolution, which leaves no checkerboard). Convolutions pad by reflection, so borders carry no
seam when a picture is painted in tiles.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LEVELS",
    "VGG_CHANNELS",
    "VGG_LAYERS",
    "ArbitraryConfig",
    "ArbitraryNet",
    "Decoder",
    "EmbeddingHeads",
    "Encoder",
]

LEVELS = (1, 2, 3, 4)
VGG_LAYERS = {1: "relu1_1", 2: "relu2_1", 3: "relu3_1", 4: "relu4_1"}  # what each encoder level imitates
VGG_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512}
# The convolutions that lead from level l-1 to level l in VGG-19 (conv1_1; conv1_2, pool, conv2_1; ...):
# (number of same-width convs at the previous width, then whether a 2x2 max-pool comes before the level's conv).
_STAGES = {1: (0, False), 2: (1, True), 3: (1, True), 4: (3, True)}


@dataclass(frozen=True)
class ArbitraryConfig:
    """Widths of the encoder's four levels (VGG-19 has 64, 128, 256, 512), and the levels painting runs through,
    coarse to fine (the trainer's measurement decides: a level whose decoder does not reconstruct well enough is
    left out); stored in the weights file."""

    channels: tuple[int, int, int, int] = (16, 32, 64, 128)
    cascade: tuple[int, ...] = (4, 3, 2, 1)

    def __post_init__(self) -> None:
        chans = tuple(int(c) for c in self.channels)
        if len(chans) != 4 or any(c < 1 for c in chans):
            raise ValueError(f"channels must be four positive ints, got {self.channels!r}")
        cascade = tuple(int(lv) for lv in self.cascade)
        if not cascade or any(lv not in LEVELS for lv in cascade) or list(cascade) != sorted(set(cascade))[::-1]:
            raise ValueError(f"cascade must be distinct levels from 4 down to 1, got {self.cascade!r}")
        object.__setattr__(self, "channels", chans)
        object.__setattr__(self, "cascade", cascade)

    def width(self, level: int) -> int:
        return 3 if level == 0 else self.channels[level - 1]

    def to_json(self) -> str:
        d = {"arch": "wct_student", **asdict(self), "channels": list(self.channels), "cascade": list(self.cascade)}
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ArbitraryConfig:
        d: dict[str, Any] = json.loads(text)
        if d.get("arch") != "wct_student":
            raise ValueError(f"unknown arbitrary-style architecture {d.get('arch')!r}")
        return cls(channels=tuple(d["channels"]), cascade=tuple(d.get("cascade", (4, 3, 2, 1))))


def centred_kaiming_(conv: nn.Conv2d) -> None:
    """He-normal weights with each filter's mean removed (then rescaled to He's spread), and zero bias.

    Why: a ReLU channel that is zero on every input gets no gradient and never comes back. Its inputs are
    ReLU outputs, all >= 0, so a filter whose weights sum below zero is negative almost everywhere; with PyTorch's
    default init (small weights, biases as large as the signal by level 4) about half the channels of levels 3
    and 4 are dead before the first step (measured on photos; bench/RESULTS.md). A zero-mean filter answers
    contrast, which every picture has, so every channel starts alive."""
    nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
    with torch.no_grad():
        w = conv.weight
        spread = w.std()
        w.sub_(w.mean(dim=(1, 2, 3), keepdim=True))
        w.mul_(spread / w.std().clamp_min(1e-12))
        conv.bias.zero_()


class Conv(nn.Module):
    """3x3 convolution with reflection padding, optionally followed by ReLU."""

    def __init__(self, cin: int, cout: int, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)
        self.relu = relu
        if relu:
            centred_kaiming_(self.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        return F.relu(x) if self.relu else x


class Encoder(nn.Module):
    """The student: `forward(x, upto)` returns the features of levels 1..upto of an RGB 0-1 batch."""

    def __init__(self, config: ArbitraryConfig) -> None:
        super().__init__()
        self.stages = nn.ModuleList()
        for level in LEVELS:
            prev, width = config.width(level - 1), config.width(level)
            repeats, pool = _STAGES[level]
            layers: list[nn.Module] = [Conv(prev, prev) for _ in range(repeats)]
            layers += [nn.MaxPool2d(2)] if pool else []
            layers.append(Conv(prev, width))
            self.stages.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor, upto: int = 4) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages[:upto]:
            x = stage(x)
            feats.append(x)
        return feats

    def encode(self, x: torch.Tensor, level: int) -> torch.Tensor:
        return self(x, level)[-1]


class Decoder(nn.Module):
    """Level-l features back to RGB: the encoder's stages in reverse, nearest-upsampling where it pooled."""

    def __init__(self, config: ArbitraryConfig, level: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for lv in range(level, 0, -1):
            width, prev = config.width(lv), config.width(lv - 1)
            repeats, pool = _STAGES[lv]
            if lv == 1:
                layers.append(Conv(width, 3, relu=False))
                break
            layers.append(Conv(width, prev))
            layers += [nn.Upsample(scale_factor=2, mode="nearest")] if pool else []
            layers += [Conv(prev, prev) for _ in range(repeats)]
        self.body = nn.Sequential(*layers)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.body(f)


class ArbitraryNet(nn.Module):
    """Encoder + one decoder per level: everything inference needs, and all that ships."""

    def __init__(self, config: ArbitraryConfig | None = None) -> None:
        super().__init__()
        self.config = config or ArbitraryConfig()
        self.encoder = Encoder(self.config)
        self.decoders = nn.ModuleDict({str(lv): Decoder(self.config, lv) for lv in LEVELS})

    def decode(self, f: torch.Tensor, level: int) -> torch.Tensor:
        return self.decoders[str(level)](f)


class EmbeddingHeads(nn.Module):
    """1x1 convolutions from the student's levels to VGG-19's widths: the distillation target, training only."""

    def __init__(self, config: ArbitraryConfig) -> None:
        super().__init__()
        self.heads = nn.ModuleList(nn.Conv2d(config.width(lv), VGG_CHANNELS[lv], 1) for lv in LEVELS)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [head(f) for head, f in zip(self.heads, feats, strict=False)]
