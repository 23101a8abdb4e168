"""The judge's structure score on hand-made cases, and its maths on hand-computed ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from nst_core.images import load_image, resize_long_side
from nst_core.judge import objective, objectives, self_similarity, structure, structure_distance, style_terms


def test_self_similarity_rows_are_distributions_peaked_on_themselves():
    feats = torch.rand(1, 8, 64, 64)
    log_p = self_similarity(feats)
    assert log_p.shape == (1024, 1024)
    assert torch.allclose(log_p.exp().sum(1), torch.ones(1024), atol=1e-5)
    assert torch.equal(log_p.argmax(1), torch.arange(1024))  # cosine 1 with itself, the largest


def test_structure_distance_by_hand():
    """A: left half of the grid one feature vector, right half an orthogonal one; B: one vector everywhere.
    Each row of A puts e^10 (cosine 1 / T=0.1) on its 512 own-half positions and e^0 on the other 512; B's rows
    are uniform. So KL = 512 p_hi log(1024 p_hi) + 512 p_lo log(1024 p_lo) for every row."""
    a = torch.zeros(1, 2, 32, 32)
    a[0, 0, :, :16], a[0, 1, :, 16:] = 1.0, 1.0
    b = torch.zeros(1, 2, 32, 32)
    b[0, 0] = 1.0
    z = 512 * (math.exp(10) + 1)
    p_hi, p_lo = math.exp(10) / z, 1 / z
    expected = 512 * p_hi * math.log(1024 * p_hi) + 512 * p_lo * math.log(1024 * p_lo)
    assert structure_distance(a, b) == pytest.approx(expected, rel=1e-5)
    assert structure_distance(a, a) == pytest.approx(0.0, abs=1e-6)


@pytest.fixture(scope="module")
def photo(content_dir):
    return resize_long_side(load_image(content_dir / "tubingen.jpg"), 320)


def test_identical_images_score_zero(vgg19_path, photo):
    assert structure(photo, photo, weights=vgg19_path) == pytest.approx(0.0, abs=1e-6)


def test_a_copy_at_another_size_scores_near_zero(vgg19_path, photo):
    assert structure(resize_long_side(photo, 640), photo, weights=vgg19_path) < 0.1


def test_the_painting_in_place_of_the_photo_scores_high(vgg19_path, photo, styles_dir):
    painting = load_image(styles_dir / "starry_night.jpg")
    pasted = structure(painting, photo, weights=vgg19_path)
    assert pasted > 1.0, pasted  # the issue measured 1.33 over the 12 photos
    recoloured = Image.fromarray(255 - np.asarray(photo))  # colours inverted, layout kept
    assert structure(recoloured, photo, weights=vgg19_path) < 0.5 * pasted


def test_hatching_over_the_photo_scores_worse_than_the_photo(vgg19_path, photo):
    arr = np.asarray(photo, dtype=np.float32)
    yy, xx = np.mgrid[: arr.shape[0], : arr.shape[1]]
    hatch = ((xx + yy) % 6 < 3)[..., None] * 90.0
    hatched = Image.fromarray(np.clip(arr * 0.6 + hatch, 0, 255).astype(np.uint8))
    blurred = photo.resize((photo.width // 4, photo.height // 4)).resize(photo.size)
    s_hatched, s_blurred = structure(hatched, photo, weights=vgg19_path), structure(blurred, photo, weights=vgg19_path)
    assert math.isfinite(s_hatched) and s_hatched > s_blurred, (s_hatched, s_blurred)


def test_shared_targets_give_what_one_judgement_per_pair_gives(vgg19_path, photo, styles_dir):
    """`objectives` and `style_terms` compute the painting's and the photo's targets once; each number must be the
    one a separate `objective` gives for that pair (no state carried from one picture or painting to the next)."""
    small = resize_long_side(photo, 64)
    paintings = [load_image(styles_dir / name) for name in ("udnie.jpg", "the_scream.jpg")]
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (small.height, small.width, 3), np.uint8))
    alone = [objective(im, small, paintings[0], weights=vgg19_path) for im in (noisy, small)]
    shared = objectives([noisy, small], small, paintings[0], weights=vgg19_path)
    for a, b in zip(alone, shared, strict=True):
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k], rel=1e-5) for k in a)
    table = style_terms([noisy, small], paintings, weights=vgg19_path)
    for row, image in zip(table, (noisy, small), strict=True):
        expected = [objective(image, small, p, weights=vgg19_path)["style"] for p in paintings]
        assert row == pytest.approx(expected, rel=1e-5)
    assert table[0][0] > table[1][0]  # noise is further from Udnie than the photo is
    with pytest.raises(ValueError, match="one size"):
        objectives([small, photo], small, paintings[0], weights=vgg19_path)
