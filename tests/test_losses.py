"""PerceptualLoss, the objective Gatys optimises and training minimises, against hand computations; the Gram, TV
and weighted-sum helpers it is built from; gradients with gradcheck."""

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from nst_core.losses import LOSS_SETTINGS, PerceptualLoss, gram_matrix, normalized_gram, total_loss, tv_loss
from nst_core.lossnets import get_spec


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class Identity(nn.Module):
    """A stand-in loss network whose layer "a" is the image itself and "b" the image doubled, so every term can
    be worked out by hand."""

    def forward(self, images: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        return {name: images * (2.0 if name == "b" else 1.0) for name in layers}


def test_perceptual_loss_by_hand():
    generated = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # 1x1x2x2
    photo = torch.ones(1, 1, 2, 2)
    painting = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    loss = PerceptualLoss(Identity(), ["a", "b"], ["a"], content_weight=1.0, style_weight=0.01, tv_weight=0.1)
    loss.set_style([painting])
    total, terms = loss(generated, loss.content_targets(photo))
    # content, per layer: mean((F - T)^2) / mean(T^2). Layer a: mean(0, 1, 4, 9) / 1 = 3.5; layer b (all doubled):
    # 14 / 4 = 3.5, the same, as the normalisation intends; averaged over the two layers: 3.5
    assert terms["content"].item() == pytest.approx(3.5)
    # style: Gram / (C*H*W): generated (1 + 4 + 9 + 16) / 4 = 7.5, painting (0 + 1 + 1 + 0) / 4 = 0.5;
    # (7.5 - 0.5)^2 / 0.5^2 = 196
    assert terms["style"].item() == pytest.approx(196.0)
    # TV: vertical differences (2, 2) -> mean square 4; horizontal (1, 1) -> 1
    assert terms["tv"].item() == pytest.approx(5.0)
    assert total.item() == pytest.approx(1.0 * 3.5 + 0.01 * 196.0 + 0.1 * 5.0)


def test_perceptual_loss_blends_styles_and_weighs_layers():
    """Two paintings blended 3:1 give the blended Gram as the target; per-layer weights scale their terms."""
    g = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    p1, p2 = torch.full((1, 1, 2, 2), 2.0), torch.zeros(1, 1, 2, 2)
    loss = PerceptualLoss(Identity(), [], ["a", "b"], style_layer_weights=[0.25, 0.75], style_weight=1.0)
    loss.set_style([p1, p2], blend=[3, 1])
    # target Gram for a: 0.75 * 4 + 0.25 * 0 = 3; for b (doubled): 12. Generated: 7.5 and 30.
    assert loss.style_targets["a"].item() == pytest.approx(3.0)
    _, terms = loss(g, {})
    expected = 0.25 * (7.5 - 3) ** 2 / 3**2 + 0.75 * (30 - 12) ** 2 / 12**2
    assert terms["style"].item() == pytest.approx(expected) and terms["content"].item() == 0.0


class SpecNet(Identity):
    """The stand-in with a loss network's spec, as `load_loss_net` gives: what `from_spec` reads its defaults from."""

    spec = replace(get_spec("vgg19"), content_layers=("a",), style_layers=("a", "b"), style_layer_weights=(0.3, 0.7))


def test_from_spec_takes_the_networks_settings_unless_given():
    own = PerceptualLoss.from_spec(SpecNet(), tv_weight=None)  # None keeps the network's
    weights = SpecNet.spec.default_weights
    assert (own.content_layers, own.style_layers, own.style_layer_weights) == (["a"], ["a", "b"], [0.3, 0.7])
    assert (own.content_weight, own.style_weight, own.tv_weight) == (
        weights["content_weight"], weights["style_weight"], weights["tv_weight"]
    )  # fmt: skip
    other = PerceptualLoss.from_spec(SpecNet(), style_layers=["b"], style_weight=5.0)
    assert other.style_layers == ["b"] and other.style_layer_weights == [1.0]  # the network's weights were for a, b
    assert other.style_weight == 5.0 and other.content_layers == ["a"]
    with pytest.raises(TypeError, match="style_wieght"):
        PerceptualLoss.from_spec(SpecNet(), style_wieght=5.0)


def test_from_options_reads_the_settings_by_name():
    opts = SimpleNamespace(**{**dict.fromkeys(LOSS_SETTINGS), "content_layers": ["b"], "tv_weight": 0.5})
    loss = PerceptualLoss.from_options(SpecNet(), opts)
    assert loss.content_layers == ["b"] and loss.tv_weight == 0.5 and loss.style_layers == ["a", "b"]


def test_every_loss_network_gives_every_default_weight():
    with pytest.raises(ValueError, match="tv_weight"):
        replace(get_spec("vgg19"), default_weights={"content_weight": 1.0, "style_weight": 30.0})


def test_gram_matrix_by_hand():
    # two channels over three positions: a = [1, 2, 3], b = [0, 1, -1]
    f = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]], dtype=torch.float64)
    assert gram_matrix(f)[0].tolist() == [[14.0, -1.0], [-1.0, 2.0]]
    assert normalized_gram(f)[0].flatten().tolist() == pytest.approx([14 / 6, -1 / 6, -1 / 6, 2 / 6])


def test_tv_loss_by_hand():
    img = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]], dtype=torch.float64)  # 1x1x2x2
    # vertical diffs: (2-0), (4-1) -> mean(4, 9) = 6.5 ; horizontal: (1-0), (4-2) -> mean(1, 4) = 2.5
    assert tv_loss(img).item() == pytest.approx(9.0)


def test_total_is_weighted_sum():
    j = total_loss(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(5.0), 1.5, 10.0, 0.1)
    assert j.item() == pytest.approx(1.5 * 2 + 10 * 3 + 0.1 * 5)


def test_gradients_with_gradcheck():
    g = _rand(1, 3, 3, 3, seed=7).requires_grad_(True)
    assert torch.autograd.gradcheck(tv_loss, (g,))
    assert torch.autograd.gradcheck(gram_matrix, (g,))
    loss = PerceptualLoss(Identity(), ["a"], ["a"], style_weight=0.1, tv_weight=0.01)
    loss.set_style([_rand(1, 3, 4, 4, seed=9).float()])
    loss.style_targets = {k: v.double() for k, v in loss.style_targets.items()}
    loss.style_scales = {k: v.double() for k, v in loss.style_scales.items()}
    targets = {"a": _rand(1, 3, 3, 3, seed=8)}
    assert torch.autograd.gradcheck(lambda x: loss._terms(x, {"a": x}, targets)[0], (g,))
