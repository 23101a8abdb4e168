"""Every style shipped in weights/ clears the quality bar of issue #10 under the real VGG-19 judge, on held-out
photos (content/ is never trained on). A swapped, corrupted, undertrained or photo-burying file fails here.

- structure (nst_core.judge.structure, 512 px, the 12 content photos): at most STRUCTURE_BAR per style,
  STRUCTURE_MEAN_BAR on average
- style term at 256 px: at most STYLE_RATIO_BAR x the unstylised photo's own, and closest to its own painting
- the bundled Udnie beats pytorch/examples' published udnie.pth on style, content and structure (all 12 photos)

bench/quality_styles.py measures the same on all 12 photos; figures in bench/RESULTS.md.
"""

from __future__ import annotations

import statistics

import pytest

import nst_core
from nst_core.bars import STRUCTURE_BAR, STRUCTURE_MEAN_BAR, STYLE_RATIO_BAR
from nst_core.images import load_image, resize_long_side
from nst_core.judge import fast_style_scores, style_terms
from nst_core.styles import REPO_WEIGHTS_DIR, WEIGHTS_ENV, import_torch_checkpoint

BUNDLED = sorted(p.stem for p in REPO_WEIGHTS_DIR.glob("*.safetensors"))
# The first test to ask for `scores` judges every style on the 12 photos (about 25 s a style on 2 quiet cores):
# more than the suite's 300 s per-test default once there are 11 styles on a busy machine.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def repo_styles():
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(WEIGHTS_ENV, raising=False)  # the repo's own files, not a developer's styles of the same name
        yield {name: nst_core.get_style(name) for name in BUNDLED}


@pytest.fixture(scope="module")
def paintings(repo_styles, styles_dir):
    found = {}
    for name, info in repo_styles.items():
        path = styles_dir / info.meta["style_image"]
        assert path.is_file(), f"{name}: its painting {path.name} is not in the shared styles"
        found[name] = load_image(path)
    return found


@pytest.fixture(scope="module")
def scores(repo_styles, paintings, content_dir, vgg19_path):
    # all 12 photos, as the acceptance bar is defined: a 6-photo subset drifts up to 0.07 from the 12-photo mean
    paths = sorted(content_dir.glob("*.jpg"))
    assert len(paths) == 12, f"the bar is defined on the 12 shared content photos, found {len(paths)}"
    photos = [load_image(p) for p in paths]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(WEIGHTS_ENV, raising=False)
        return {name: fast_style_scores(name, photos, paintings[name], weights=vgg19_path) for name in BUNDLED}


def test_at_least_ten_styles_are_bundled_with_their_records():
    assert len(BUNDLED) >= 10, BUNDLED
    for name in BUNDLED:
        info = nst_core.get_style(name)
        assert info.artist and info.meta.get("command", "").startswith("python -m nst_core.train"), name
        assert info.meta["device"] and info.meta["train_seconds"] > 0, name  # what it was trained on, how long
        assert {"structure", "style_ratio"} <= set(info.meta.get("scores", {})), name


@pytest.mark.parametrize("name", BUNDLED)
def test_each_style_keeps_the_photo_and_brings_its_painting(scores, name):
    rows = scores[name]
    structure = statistics.fmean(r["structure"] for r in rows)
    style_ratio = statistics.fmean(r["style"] / r["photo_style"] for r in rows)
    assert structure <= STRUCTURE_BAR, (name, structure)
    assert style_ratio <= STYLE_RATIO_BAR, (name, style_ratio)


def test_the_collection_keeps_the_photo_on_average(scores):
    mean = statistics.fmean(statistics.fmean(r["structure"] for r in rows) for rows in scores.values())
    assert mean <= STRUCTURE_MEAN_BAR, mean


def test_each_style_is_closest_to_its_own_painting(repo_styles, paintings, content_dir, vgg19_path):
    photo = resize_long_side(load_image(content_dir / "tubingen.jpg"), 192)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(WEIGHTS_ENV, raising=False)
        outputs = [nst_core.stylize(photo, style=name) for name in BUNDLED]
    names = list(paintings)
    table = style_terms(outputs, [paintings[n] for n in names], weights=vgg19_path)
    for name, row in zip(BUNDLED, table, strict=True):
        by_painting = dict(zip(names, row, strict=True))
        assert min(by_painting, key=by_painting.get) == name, (name, by_painting)


def test_udnie_beats_the_published_network(tmp_path, content_dir, styles_dir, shared_data, vgg19_path, monkeypatch):
    """On all 12 photos: lower style term and relu4_2 content term (256 px) and lower structure (512 px) than
    pytorch/examples' udnie.pth, both judged against the same painting."""
    published = shared_data / "reference_models" / "udnie.pth"
    if not published.is_file():
        pytest.skip(f"published udnie.pth absent: {published} not found")
    if "udnie" not in BUNDLED:
        pytest.fail("udnie is not bundled")
    import_torch_checkpoint(published, "published_udnie", tmp_path, {"display_name": "Published Udnie"})
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))  # searched first; the repo's udnie stays reachable by its name
    painting = load_image(styles_dir / "udnie.jpg")
    photos = sorted(content_dir.glob("*.jpg"))
    mean = {}
    for name in ("udnie", "published_udnie"):
        rows = fast_style_scores(name, [load_image(p) for p in photos], painting, weights=vgg19_path)
        mean[name] = {k: statistics.fmean(r[k] for r in rows) for k in ("style", "content", "structure")}
    ours, theirs = mean["udnie"], mean["published_udnie"]
    assert all(ours[k] < theirs[k] for k in ours), mean


def test_default_style_is_chosen_by_score_not_by_name(repo_styles):
    def badness(name: str) -> float:
        sc = repo_styles[name].meta["scores"]
        return sc["structure"] / STRUCTURE_BAR + sc["style_ratio"] / STYLE_RATIO_BAR

    assert nst_core.default_style(list(repo_styles.values())).name == min(BUNDLED, key=badness)


def test_the_arbitrary_network_paints_a_held_out_painting(content_dir, styles_dir, vgg19_path):
    """Issue #19's bar on one painting the network never saw in training (its JSON lists what it saw), over the
    12 photos at 512 px: mean structure <= 0.72 and mean style ratio <= 0.5 (bench/quality_arbitrary.py runs
    all four held-out paintings: Starry Night alone misses the style bar, 0.67; the four together meet both)."""
    import json

    from nst_core.arbitrary import BUNDLED
    from nst_core.bars import ARBITRARY_STRUCTURE_BAR, ARBITRARY_STYLE_RATIO_BAR
    from nst_core.judge import arbitrary_scores

    seen = {p["file"] for p in json.loads(BUNDLED.with_suffix(".json").read_text())["paintings"]}
    assert "the_scream.jpg" not in seen, "the judged painting must be held out of training"
    painting = load_image(styles_dir / "the_scream.jpg")
    rows = arbitrary_scores([load_image(p) for p in sorted(content_dir.glob("*.jpg"))], painting, weights=vgg19_path)
    assert len(rows) == 12
    structure = statistics.fmean(r["structure"] for r in rows)
    style_ratio = statistics.fmean(r["style"] / r["photo_style"] for r in rows)
    assert structure <= ARBITRARY_STRUCTURE_BAR, structure
    assert style_ratio <= ARBITRARY_STYLE_RATIO_BAR, style_ratio
