"""TransformerNet: pytorch/examples compatibility (against an independent functional forward), any input size,
config round trips, and the staged forward used by tiled inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from nst_core.fast.transformer_net import (
    LIGHT,
    REFERENCE,
    NormStats,
    TransformerConfig,
    TransformerNet,
    config_from_state_dict,
    normalize,
)


# ------------------------------------------------------------------ independent re-implementation of the reference
def _conv(sd: dict, name: str, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    w, b = sd[f"{name}.conv2d.weight"], sd[f"{name}.conv2d.bias"]
    p = w.shape[-1] // 2
    return F.conv2d(F.pad(x, (p, p, p, p), mode="reflect"), w, b, stride=stride)


def _in(sd: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    return F.instance_norm(x, weight=sd[f"{name}.weight"], bias=sd[f"{name}.bias"], eps=1e-5)


def _up_conv(sd: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    return _conv(sd, name, F.interpolate(x, scale_factor=2, mode="nearest"))


def reference_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """pytorch/examples fast_neural_style TransformerNet.forward, written from its published structure."""
    y = F.relu(_in(sd, "in1", _conv(sd, "conv1", x)))
    y = F.relu(_in(sd, "in2", _conv(sd, "conv2", y, 2)))
    y = F.relu(_in(sd, "in3", _conv(sd, "conv3", y, 2)))
    i = 1
    while f"res{i}.conv1.conv2d.weight" in sd:
        r = y
        y = F.relu(_in(sd, f"res{i}.in1", _conv(sd, f"res{i}.conv1", y)))
        y = _in(sd, f"res{i}.in2", _conv(sd, f"res{i}.conv2", y)) + r
        i += 1
    y = F.relu(_in(sd, "in4", _up_conv(sd, "deconv1", y)))
    y = F.relu(_in(sd, "in5", _up_conv(sd, "deconv2", y)))
    return _conv(sd, "deconv3", y)


def _randomised(config: TransformerConfig = REFERENCE, seed: int = 0) -> TransformerNet:
    """Random init with non-trivial instance-norm affine parameters (defaults are 1/0, which hide bugs)."""
    torch.manual_seed(seed)
    net = TransformerNet(config).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.split(".")[-2].startswith("in"):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
    return net


# ------------------------------------------------------------------------------------------------------- keys
def test_state_dict_keys_match_pytorch_examples():
    sd = TransformerNet().state_dict()
    assert len(sd) == 62
    expected = {"conv1.conv2d.weight", "in1.weight", "in3.bias", "res1.conv1.conv2d.weight", "res5.in2.bias"}
    expected |= {"deconv1.conv2d.bias", "in4.weight", "in5.bias", "deconv3.conv2d.weight"}
    assert expected <= set(sd)
    assert not any("running" in k for k in sd)
    assert sum(v.numel() for v in sd.values()) == 1_679_235  # the published model's parameter count


@pytest.mark.parametrize(
    "config", [REFERENCE, LIGHT, TransformerConfig((4, 8, 12), 2), TransformerConfig((8, 8, 8), 0)]
)
def test_config_shapes_roundtrip(config):
    net = TransformerNet(config)
    sd = net.state_dict()
    assert {k: tuple(v.shape) for k, v in sd.items()} == config.parameter_shapes()
    assert config_from_state_dict(sd) == config
    assert TransformerConfig.from_json(config.to_json()) == config
    assert TransformerConfig.from_dict(config.to_dict()) == config


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        TransformerConfig((32, 64), 5)
    with pytest.raises(ValueError):
        TransformerConfig((32, 64, 128), -1)
    with pytest.raises(ValueError):
        TransformerConfig.from_dict({"arch": "resnet"})
    with pytest.raises(ValueError, match="missing"):
        config_from_state_dict({"foo": torch.zeros(1)})


def test_light_variant_is_much_smaller():
    assert TransformerNet(LIGHT).num_parameters * 3 < TransformerNet(REFERENCE).num_parameters


# ------------------------------------------------------------------------------------------------ equivalence
@pytest.mark.parametrize("hw", [(64, 64), (68, 52), (40, 96)])
def test_matches_functional_reference_random_init(hw):
    net = _randomised()
    x = torch.rand(1, 3, *hw) * 255
    with torch.inference_mode():
        ours = net(x)
        ref = reference_forward(net.state_dict(), x)
    assert ours.shape == ref.shape == x.shape
    assert (ours - ref).abs().max().item() < 1e-3


def test_matches_functional_reference_on_candy(candy_path, content_dir):
    sd = torch.load(candy_path, map_location="cpu", weights_only=True)
    net = TransformerNet(config_from_state_dict(sd))
    net.load_state_dict(sd, strict=True)
    net.eval()
    img = Image.open(content_dir / "chicago.jpg").convert("RGB").resize((96, 64), Image.LANCZOS)
    x = torch.from_numpy(np.array(img, dtype=np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        ours = net(x)
        ref = reference_forward(sd, x)
    assert (ours - ref).abs().max().item() < 1e-3
    assert ours.std().item() > 20  # a real style, not a flat image


@pytest.mark.parametrize("hw", [(37, 53), (17, 16), (1 + 4 * 5, 2 + 4 * 3), (33, 33)])
def test_any_size_returns_input_size(hw):
    net = _randomised(TransformerConfig((4, 8, 8), 1))
    x = torch.rand(2, 3, *hw) * 255
    with torch.inference_mode():
        assert net(x).shape == x.shape


# ------------------------------------------------------------------------------------- staged / replayed norms
def test_recorded_norm_stats_replay_exactly():
    net = _randomised(TransformerConfig((8, 16, 16), 2))
    x = torch.rand(1, 3, 48, 40) * 255
    with torch.inference_mode():
        plain = net(x)
        rec = NormStats()
        recorded = net(x, rec)
        replayed = net(x, rec.replay())
    assert len(rec.stats) == 3 + 2 * 2 + 2
    assert (recorded - plain).abs().max().item() < 1e-3
    assert (replayed - plain).abs().max().item() < 1e-3


def test_stages_equal_forward():
    net = _randomised(TransformerConfig((8, 16, 16), 2))
    x = torch.rand(1, 3, 45, 38) * 255
    with torch.inference_mode():
        rec = NormStats()
        plain = net(x, rec)
        stages, final = net.stages()
        state = {"x": x}
        for stage, (mean, var) in zip(stages, rec.stats, strict=True):
            stage.post(state, normalize(stage.norm, stage.pre(state), mean, var))
        staged = final(state)
    assert staged.shape == x.shape
    assert (staged - plain).abs().max().item() < 1e-3
