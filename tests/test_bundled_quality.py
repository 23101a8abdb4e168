"""Every style shipped in weights/ really carries its own painting and keeps the photo, judged by the real VGG-19.

A regression guard for the bundled weights (a swapped, corrupted or undertrained file fails here): on a held-out
photo (content/ is never trained on) each stylised image must be far closer to its painting's style than the photo
is, closer to its own painting than to any other bundled one, and keep far more of the photo's content than the
painting has. bench/quality_fast.py measures the same against Gatys; figures in bench/RESULTS.md.
"""

from __future__ import annotations

import pytest
from PIL import Image

import nst_core
from nst_core.images import load_image, resize_long_side
from nst_core.judge import objective
from nst_core.styles import REPO_WEIGHTS_DIR, WEIGHTS_ENV

BUNDLED = sorted(p.stem for p in REPO_WEIGHTS_DIR.glob("*.safetensors"))
SIZE = 192  # small: the whole file takes seconds on a CPU


@pytest.fixture(scope="module")
def judged(content_dir, styles_dir, vgg19_path) -> dict[str, dict[str, dict[str, float]]]:
    """For each bundled style: its output, the photo and its painting, each judged against every painting."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(WEIGHTS_ENV, raising=False)  # the repo's own files, not a developer's styles of the same name
        infos = {name: nst_core.get_style(name) for name in BUNDLED}
        paintings = {}
        for name, info in infos.items():
            path = styles_dir / info.meta["style_image"]
            assert path.is_file(), f"{name}: its painting {path.name} is not in the shared styles"
            paintings[name] = load_image(path)
        photo = resize_long_side(load_image(content_dir / "tubingen.jpg"), SIZE)
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name in BUNDLED:
            out = nst_core.stylize(photo, style=name, device="cpu")
            assert out.size == photo.size
            own = paintings[name]
            results[name] = {
                "photo": objective(photo, photo, own, weights=vgg19_path),
                "painting": objective(own.resize(photo.size, Image.Resampling.LANCZOS), photo, own, weights=vgg19_path),
                **{f"vs:{other}": objective(out, photo, p, weights=vgg19_path) for other, p in paintings.items()},
            }
        return results


def test_some_styles_are_bundled():
    assert len(BUNDLED) >= 4


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_style_carries_its_painting_and_keeps_the_photo(judged, name):
    r = judged[name]
    styled = r[f"vs:{name}"]
    assert styled["style"] < 0.3 * r["photo"]["style"], (name, styled, r["photo"])  # the photo, unstyled
    assert styled["content"] < 0.8 * r["painting"]["content"], (name, styled, r["painting"])  # none of the photo


def test_each_style_is_closest_to_its_own_painting(judged):
    for name, r in judged.items():
        by_painting = {other: r[f"vs:{other}"]["style"] for other in BUNDLED}
        assert min(by_painting, key=by_painting.get) == name, (name, by_painting)
