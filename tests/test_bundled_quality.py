"""Every style shipped in weights/ really carries its painting and keeps the photo, judged by the real VGG-19.

A regression guard for the bundled weights (a swapped, corrupted or undertrained file fails here): on a held-out
photo (content/ is never trained on) the stylised image must be far closer to the painting's style than the photo
is, and keep far more of the photo's content than the painting has. bench/quality_fast.py measures the same
against Gatys; figures in bench/RESULTS.md.
"""

from __future__ import annotations

import pytest
from PIL import Image

import nst_core
from nst_core.images import load_image, resize_long_side
from nst_core.judge import objective
from nst_core.styles import REPO_WEIGHTS_DIR

BUNDLED = [s for s in nst_core.list_styles() if s.weights_path.parent.resolve() == REPO_WEIGHTS_DIR.resolve()]
SIZE = 192  # small: the whole file takes seconds on a CPU


def test_some_styles_are_bundled():
    assert len(BUNDLED) >= 4


@pytest.mark.parametrize("info", BUNDLED, ids=lambda s: s.name)
def test_bundled_style_carries_its_painting_and_keeps_the_photo(info, content_dir, styles_dir, vgg19_path):
    painting_path = styles_dir / info.meta["style_image"]
    assert painting_path.is_file(), f"{info.name}: its painting {painting_path.name} is not in the shared styles"
    painting = load_image(painting_path)
    photo = resize_long_side(load_image(content_dir / "tubingen.jpg"), SIZE)
    out = nst_core.stylize(photo, style=info.name, device="cpu")
    assert out.size == photo.size

    def judge(image: Image.Image) -> dict[str, float]:
        return objective(image, photo, painting, weights=vgg19_path)

    styled, unstyled = judge(out), judge(photo)
    unrelated = judge(painting.resize(photo.size, Image.Resampling.LANCZOS))  # none of the photo's content
    assert styled["style"] < 0.3 * unstyled["style"], (info.name, styled, unstyled)
    assert styled["content"] < 0.8 * unrelated["content"], (info.name, styled, unrelated)
