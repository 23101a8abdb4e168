"""Regions (issue #22): a mask says where each style goes, for every method; outside it the photo is kept exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import nst_core
from nst_core.errors import ImageError, OptionsError
from nst_core.losses import guided_gram, normalized_gram
from nst_core.masks import load_regions
from nst_core.regions import FEATHER

W, H = 96, 64


def _photo() -> Image.Image:
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 2.5, y * 3.5, 255 - x * 2], -1) + np.random.default_rng(0).normal(0, 8, (H, W, 3))
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


def _stripes(colour_a, colour_b, period=6) -> Image.Image:
    y, x = np.mgrid[0:96, 0:96]
    return Image.fromarray(np.where((((x + y) // period) % 2)[..., None] == 1, colour_a, colour_b).astype(np.uint8))


RED, GREEN = _stripes((220, 20, 30), (90, 0, 10)), _stripes((20, 200, 40), (0, 60, 10), period=10)


def _half(value_left=255, value_right=0) -> Image.Image:
    m = np.full((H, W), value_right, np.uint8)
    m[:, : W // 2] = value_left
    return Image.fromarray(m)


def _arr(img):
    return np.asarray(img, np.float32)


METHODS = {
    "fast": {"style": "udnie"},
    "arbitrary": {"method": "arbitrary", "style_images": [RED]},
    "gatys": {"method": "gatys", "style_images": [RED], "size": W, "steps": 6, "multiscale": False},
}


@pytest.fixture
def run(vgg19_path):
    def go(photo, kind, **kw):
        extra = {"loss_net_weights": str(vgg19_path)} if kind == "gatys" else {}
        return nst_core.stylize(photo, **METHODS[kind], **extra, **kw)

    return go


@pytest.mark.parametrize("kind", list(METHODS))
def test_an_empty_mask_gives_back_the_photo_exactly(run, kind):
    photo = _photo()
    out = run(photo, kind, mask=Image.new("L", (W, H), 0))
    assert np.array_equal(_arr(out), _arr(photo))


@pytest.mark.parametrize("kind", list(METHODS))
def test_a_full_mask_is_the_unmasked_result(run, kind):
    photo = _photo()
    whole, masked = _arr(run(photo, kind)), _arr(run(photo, kind, mask=Image.new("L", (W, H), 255)))
    assert np.abs(whole - masked).max() <= 1, np.abs(whole - masked).max()


@pytest.mark.parametrize("kind", list(METHODS))
def test_a_half_mask_changes_only_its_half(run, kind):
    photo = _photo()
    out = _arr(run(photo, kind, mask=_half()))
    band = int(np.ceil(3 * FEATHER * W)) + 1  # the feathered edge
    right = slice(W // 2 + band, None)
    assert np.array_equal(out[:, right], _arr(photo)[:, right])
    assert np.abs(out[:, : W // 2 - band] - _arr(photo)[:, : W // 2 - band]).mean() > 3
    inverted = _arr(run(photo, kind, mask=_half(), invert_mask=True))
    assert np.array_equal(inverted[:, : W // 2 - band], _arr(photo)[:, : W // 2 - band])


def _style_term(img: Image.Image, painting: Image.Image, box, vgg19_path) -> float:
    from nst_core.judge import objective

    crop = img.crop(box)
    return objective(crop, crop, painting, weights=vgg19_path)["style"]


@pytest.mark.parametrize("kind", ["arbitrary", "gatys"])
def test_two_regions_each_match_their_own_painting(run, kind, vgg19_path):
    colours = np.zeros((H, W, 3), np.uint8)
    colours[:, : W // 2 + 8] = (255, 0, 0)  # the larger region is region 1
    colours[:, W // 2 + 8 :] = (0, 0, 255)
    opts = {**METHODS[kind], "style_images": [RED, GREEN]}
    if kind == "gatys":
        opts.update(steps=25, loss_net_weights=str(vgg19_path))
    out = nst_core.stylize(_photo(), mask=Image.fromarray(colours), **opts)
    left, right = (0, 0, W // 2 + 4, H), (W // 2 + 12, 0, W, H)
    assert _style_term(out, RED, left, vgg19_path) < _style_term(out, GREEN, left, vgg19_path)
    assert _style_term(out, GREEN, right, vgg19_path) < _style_term(out, RED, right, vgg19_path)


def test_two_fast_styles_by_colour():
    colours = np.zeros((H, W, 3), np.uint8)
    colours[: H // 2] = (0, 255, 0)
    colours[H // 2 :] = (255, 255, 0)
    photo = _photo()
    out = _arr(nst_core.stylize(photo, style=["udnie", "starry_night"], mask=Image.fromarray(colours)))
    top = _arr(nst_core.stylize(photo, style="udnie"))
    bottom = _arr(nst_core.stylize(photo, style="starry_night"))
    assert np.abs(out[: H // 2 - 2] - top[: H // 2 - 2]).max() <= 1
    assert np.abs(out[H // 2 + 2 :] - bottom[H // 2 + 2 :]).max() <= 1


def test_guided_gram_by_hand():
    torch.manual_seed(0)
    f = torch.randn(1, 3, 4, 4)
    m = torch.zeros(1, 1, 4, 4)
    m[..., :2] = 1.0
    m[..., 2] = 0.5
    g = guided_gram(f, m)[0].numpy()
    fn, mn = f[0].numpy(), m[0, 0].numpy()
    want = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            want[i, j] = sum(fn[i, y, x] * mn[y, x] * fn[j, y, x] * mn[y, x] for y in range(4) for x in range(4))
    np.testing.assert_allclose(g, want / (3 * mn.sum()), rtol=1e-5)
    assert torch.allclose(guided_gram(f, torch.ones(1, 1, 4, 4)), normalized_gram(f))
    # a guide of another size is resized to the features' (area): a 8x8 guide of ones is the same as 4x4
    assert torch.allclose(guided_gram(f, torch.ones(1, 1, 8, 8)), normalized_gram(f))


def test_mask_kinds_and_mistakes(tmp_path):
    soft = Image.fromarray(np.tile(np.linspace(0, 255, W, dtype=np.uint8), (H, 1)))
    r = load_regions(soft, (W, H))
    assert len(r.weights) == 1 and 0.4 < r.weights[0].mean() < 0.6 and r.weights[0][0, 1] < 0.05  # soft kept
    rgba = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 10, 10))
    assert abs(load_regions(rgba, (W, H)).weights[0].sum() - 100) < 1  # a brush on a transparent layer
    small = _half().resize((24, 16))
    assert load_regions(small, (W, H)).size == (W, H)  # resized to the picture
    many = Image.fromarray(np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8))
    with pytest.raises(OptionsError, match="at most"):
        load_regions(many, (W, H))
    with pytest.raises(ImageError):
        load_regions(b"not a picture", (W, H))
    colours = np.zeros((H, W, 3), np.uint8)
    colours[:, :10] = (255, 0, 0)
    colours[:, 10:40] = (0, 0, 255)
    r = load_regions(Image.fromarray(colours), (W, H))
    assert len(r.weights) == 2 and r.weights[0][:, 10:40].all()  # largest region first
    with pytest.raises(OptionsError, match="one style per region"):
        nst_core.stylize(_photo(), style=["udnie", "udnie", "udnie"], mask=Image.fromarray(colours))
    with pytest.raises(OptionsError, match="greyscale"):
        nst_core.stylize(_photo(), style="udnie", mask=Image.fromarray(colours), invert_mask=True)
