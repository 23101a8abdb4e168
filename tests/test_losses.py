"""Loss terms against hand computations in float64, and their gradients with gradcheck."""

import pytest
import torch

from nst_core.losses import content_loss, gram_matrix, layer_style_loss, style_loss, total_loss, tv_loss


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_content_loss_matches_formula():
    a_c, a_g = _rand(1, 3, 2, 4, seed=1), _rand(1, 3, 2, 4, seed=2)
    n_h, n_w, n_c = 2, 4, 3
    expected = sum(
        (a_c[0, c, y, x] - a_g[0, c, y, x]) ** 2 for c in range(n_c) for y in range(n_h) for x in range(n_w)
    ) / (n_h * n_w * n_c)
    assert content_loss(a_g, a_c).item() == pytest.approx(expected.item(), rel=1e-12)


def test_content_loss_tiny_example_by_hand():
    g = torch.tensor([[[[1.0, 2.0]]]], dtype=torch.float64)  # 1x1x1x2
    c = torch.tensor([[[[0.0, 0.0]]]], dtype=torch.float64)
    assert content_loss(g, c).item() == pytest.approx((1 + 4) / 2)


def test_gram_matrix_by_hand():
    # two channels over three positions: a = [1, 2, 3], b = [0, 1, -1]
    f = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]], dtype=torch.float64)
    g = gram_matrix(f)[0]
    assert g.tolist() == [[14.0, -1.0], [-1.0, 2.0]]


def test_style_loss_matches_formula():
    g1, s1 = _rand(1, 4, 3, 5, seed=3), _rand(1, 4, 3, 5, seed=4)
    g2, s2 = _rand(1, 2, 2, 2, seed=5), _rand(1, 2, 2, 2, seed=6)
    weights = [0.3, 0.7]

    def by_hand(a_g, a_s):
        _, n_c, n_h, n_w = a_g.shape
        fg, fs = a_g[0].reshape(n_c, -1), a_s[0].reshape(n_c, -1)
        total = 0.0
        for c in range(n_c):
            for c2 in range(n_c):
                gg = sum(fg[c, k] * fg[c2, k] for k in range(n_h * n_w))
                gs = sum(fs[c, k] * fs[c2, k] for k in range(n_h * n_w))
                total += (gs - gg) ** 2
        return total / (2 * n_h * n_w * n_c) ** 2

    expected = weights[0] * by_hand(g1, s1) + weights[1] * by_hand(g2, s2)
    got = style_loss([g1, g2], [gram_matrix(s1), gram_matrix(s2)], weights)
    assert got.item() == pytest.approx(float(expected), rel=1e-10)


def test_tv_loss_by_hand():
    img = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]], dtype=torch.float64)  # 1x1x2x2
    # vertical diffs: (2-0), (4-1) -> mean(4, 9) = 6.5 ; horizontal: (1-0), (4-2) -> mean(1, 4) = 2.5
    assert tv_loss(img).item() == pytest.approx(9.0)


def test_total_is_weighted_sum():
    j = total_loss(torch.tensor(2.0), torch.tensor(3.0), torch.tensor(5.0), 1.5, 10.0, 0.1)
    assert j.item() == pytest.approx(1.5 * 2 + 10 * 3 + 0.1 * 5)


def test_gradients_with_gradcheck():
    g = _rand(1, 3, 3, 3, seed=7).requires_grad_(True)
    c = _rand(1, 3, 3, 3, seed=8)
    target = gram_matrix(_rand(1, 3, 3, 3, seed=9))
    assert torch.autograd.gradcheck(lambda x: content_loss(x, c), (g,))
    assert torch.autograd.gradcheck(lambda x: layer_style_loss(x, target), (g,))
    assert torch.autograd.gradcheck(tv_loss, (g,))
    assert torch.autograd.gradcheck(gram_matrix, (g,))
