"""The arbitrary-style method: any painting in one pass, with the bundled network (no VGG-19 needed).

Engine behaviour (sizes, strength, blends, tiles, bad input) is checked with the bundled network, which every
fresh clone has; the transform's maths by hand; the weights file's failure modes on files made here.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import nst_core
from nst_core.arbitrary import BUNDLED, WEIGHTS_ENV, ArbitraryNet, ArbitraryOptions, arbitrary_status
from nst_core.arbitrary.model_file import save_network
from nst_core.arbitrary.transform import affine_map, apply_map, feature_stats
from nst_core.errors import ImageError, OptionsError, WeightsError


def _scene(w: int = 96, h: int = 64, seed: int = 0) -> Image.Image:
    """A photo-like picture: smooth gradients, a disc and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    img = np.stack([x, y, 1 - x], -1) * 200 + 20
    img[(x - 0.5) ** 2 + (y - 0.3) ** 2 < 0.03] = (240, 200, 40)
    img += rng.normal(0, 6, img.shape)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


def _stripes(w: int = 128, h: int = 128, period: int = 8) -> Image.Image:
    """A 'painting' with a strong texture and palette of its own: red/blue diagonal stripes."""
    y, x = np.mgrid[0:h, 0:w]
    band = ((x + y) // period) % 2
    img = np.where(band[..., None] == 1, [200, 30, 40], [30, 40, 180])
    return Image.fromarray(img.astype(np.uint8))


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)


def run(photo, paintings, **kw):
    return nst_core.stylize(photo, method="arbitrary", style_images=paintings, **kw)


def test_the_network_ships_and_loads_without_any_loss_network():
    assert BUNDLED.is_file(), "weights/arbitrary/wct_student.safetensors is part of the repository"
    assert BUNDLED.stat().st_size < 15 * 1024 * 1024
    assert arbitrary_status() == (True, "")


@pytest.mark.parametrize("size", [(1, 1), (5, 300), (300, 7), (17, 13)])
def test_tiny_and_thin_pictures_come_back_at_their_size(size):
    out = run(_scene(*size), [_stripes()])
    assert out.size == size and out.mode == "RGB"


def test_strength_zero_is_the_photo_and_a_little_strength_stays_close():
    photo = _scene(128, 96)
    assert np.array_equal(_arr(run(photo, [_stripes()], strength=0.0)), _arr(photo))
    slight = np.abs(_arr(run(photo, [_stripes()], strength=0.05)) - _arr(photo)).mean()
    full = np.abs(_arr(run(photo, [_stripes()], strength=1.0)) - _arr(photo)).mean()
    assert slight < 0.6 * full, (slight, full)  # the cascade's own reconstruction is not lossless


def test_the_painting_changes_the_result_and_strength_orders_it():
    photo, painting = _scene(128, 96), _stripes()
    palette = np.array([[200, 30, 40], [30, 40, 180]], np.float32)

    def to_palette(img):  # each pixel's distance to the nearer of the painting's two colours
        return np.abs(_arr(img)[..., None, :] - palette).sum(-1).min(-1).mean()

    dists = [to_palette(run(photo, [painting], strength=s)) for s in (0.25, 0.6, 1.0)]
    assert dists[0] > dists[1] > dists[2], dists  # more strength: closer to the painting's palette


def test_blend_weights_pick_and_mix_paintings():
    photo = _scene(96, 64)
    a, b = _stripes(), Image.new("RGB", (96, 96), (30, 160, 60)).copy()
    b = Image.fromarray((_arr(b) + np.random.default_rng(1).normal(0, 25, (96, 96, 3))).clip(0, 255).astype(np.uint8))
    only_a = _arr(run(photo, [a]))
    assert np.abs(_arr(run(photo, [a, b], style_blend=[1, 0])) - only_a).max() <= 1
    mixed = _arr(run(photo, [a, b], style_blend=[1, 1]))
    only_b = _arr(run(photo, [b]))
    assert np.abs(mixed - only_a).mean() > 0 and np.abs(mixed - only_b).mean() > 0
    green = mixed[..., 1].mean()
    assert only_a[..., 1].mean() < green < only_b[..., 1].mean()


def test_tiles_give_the_whole_picture_result():
    photo = _scene(320, 200, seed=3)
    whole, tiled = _arr(run(photo, [_stripes()])), _arr(run(photo, [_stripes()], tile_size=128))
    assert np.abs(whole - tiled).mean() < 4.0, np.abs(whole - tiled).mean()


def test_progress_and_cancel():
    seen = []
    run(_scene(), [_stripes()], callback=seen.append)
    assert seen and seen[-1].step == seen[-1].total
    import threading

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(nst_core.Cancelled):
        run(_scene(), [_stripes()], cancel=cancel)


def test_preserve_colors_keeps_the_photo_s_chroma():
    photo = _scene(96, 64)
    out = run(photo, [_stripes()], preserve_colors=True)
    chroma = lambda im: np.asarray(im.convert("YCbCr"), np.float32)[..., 1:]  # noqa: E731
    assert np.abs(chroma(out) - chroma(photo)).mean() < 3.0


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"not an image at all", "not an image"), (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "")],
)
def test_a_bad_painting_is_refused_in_one_sentence(data, words):
    with pytest.raises(ImageError) as e:
        run(_scene(), [data])
    msg = str(e.value)
    assert "\n" not in msg and "Traceback" not in msg and words in msg.lower()


@pytest.mark.parametrize(
    ("kw", "words"),
    [({"strength": 2}, "strength"), ({"style_blend": [1, 2]}, "one blend weight"),
     ({"style_blend": [-1]}, "non-negative"), ({"steps": 10}, "unknown option"), ({"size": 10**6}, "size")],
)  # fmt: skip
def test_absurd_options_are_refused_with_the_option_named(kw, words):
    with pytest.raises(OptionsError, match=words):
        run(_scene(), [_stripes()], **kw)


def test_a_missing_or_broken_network_is_one_sentence_without_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "gone.safetensors"))
    ok, why = arbitrary_status()
    assert not ok and "missing" in why and str(tmp_path) not in why
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(WeightsError, match="cannot read") as e:
        run(_scene(), [_stripes()], arbitrary_weights=str(bad))
    assert str(tmp_path) not in str(e.value)


def test_a_network_of_nan_is_refused(tmp_path):
    net = ArbitraryNet()
    with torch.no_grad():
        next(net.parameters()).fill_(float("nan"))
    path = tmp_path / "nan.safetensors"
    save_network(net, path)
    with pytest.raises(WeightsError, match="not finite"):
        run(_scene(), [_stripes()], arbitrary_weights=str(path))


def test_the_transform_whitens_and_colours_by_hand():
    torch.manual_seed(0)
    c = torch.randn(1, 4, 16, 16) * torch.tensor([1.0, 3.0, 0.5, 2.0]).view(1, 4, 1, 1) + 5
    mix = torch.tensor([[1.0, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0], [0.2, 0, 0, 1]])
    s = torch.einsum("ij,bjhw->bihw", mix, torch.randn(1, 4, 20, 20)) - 2
    a, b = affine_map(feature_stats(c), [feature_stats(s)], [1.0], 1.0)
    out = feature_stats(apply_map(c.double(), a, b))
    target = feature_stats(s)
    assert torch.allclose(out.mean, target.mean, atol=1e-6)
    assert torch.allclose(out.cov, target.cov, atol=1e-6)
    eye_a, zero_b = affine_map(feature_stats(c), [feature_stats(s)], [1.0], 0.0)
    assert torch.allclose(eye_a, torch.eye(4, dtype=torch.float64)) and not zero_b.any()


def test_options_are_declared_once_and_validated():
    assert ArbitraryOptions().validate().strength == nst_core.options.field_default(ArbitraryOptions, "strength")
    with pytest.raises(OptionsError):
        ArbitraryOptions(preserve_colors="yes").validate()


def test_frames_of_a_clip_take_any_painting():
    stylizer = nst_core.FrameStylizer(style_images=[_stripes()], stabilize=False)
    frame = np.asarray(_scene(64, 48))
    out = stylizer(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8 and np.abs(out.astype(float) - frame).mean() > 5


def test_an_animation_with_a_painting_round_trips(tmp_path):
    frames = [_scene(64, 48, seed=i) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    out = tmp_path / "out.gif"
    r = nst_core.stylize_video(buf.getvalue(), out, style_images=[_stripes()])
    assert r.frames == 3 and Image.open(out).n_frames == 3


def test_training_runs_resumes_and_writes_a_network_with_its_record(tmp_path):
    from nst_core.train.arbitrary import main

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        _scene(80, 60, seed=i).save(photos / f"p{i}.jpg")
    _stripes(64, 64).save(tmp_path / "art.png")
    out = tmp_path / "net.safetensors"
    common = ["--dataset", str(photos), "--paintings", str(tmp_path / "art.png"), "--vgg-weights", "random",
              "--image-size", "32", "--batch-size", "2", "--run-dir", str(tmp_path / "run"), "--out", str(out),
              "--sheet-every", "0", "--threads", "1"]  # fmt: skip
    threads = torch.get_num_threads()
    assert main([*common, "--distill-steps", "2", "--decoder-steps", "1"]) == 0
    assert torch.get_num_threads() == threads, "--threads must not outlive the run (it did: later tests ran on 1)"
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["steps_done"] == 3 and record["paintings"][0]["file"] == "art.png" and record["train_seconds"] > 0
    assert main([*common, "--distill-steps", "2", "--decoder-steps", "1"]) != 0  # a checkpoint is there: refused
    assert main([*common, "--distill-steps", "2", "--decoder-steps", "3", "--resume", "--cascade", "3,2,1"]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["steps_done"] == 5 and record["command"].startswith("python -m nst_core.train arbitrary")
    net = nst_core.arbitrary.load_arbitrary(out)
    assert net.config.cascade == (3, 2, 1)
    assert run(_scene(), [_stripes()], arbitrary_weights=str(out)).size == (96, 64)
    assert main([*common, "--cascade", "2,3", "--overwrite"]) == 2  # a mistake is one line, exit 2


def test_a_fresh_network_starts_with_every_channel_alive():
    """PyTorch's default init leaves about half of levels 3-4 zero on every photo before training starts (a dead
    ReLU gets no gradient, so the distilled student lost 67 of its 128 level-4 channels); the centred init does not."""
    from pathlib import Path

    from nst_core.arbitrary.network import ArbitraryConfig
    from nst_core.train.arbitrary.loop import dead_channels

    photos = sorted(Path(__file__).resolve().parents[1].glob("demo/assets/photos/*.jpg"))
    assert photos, "the demo's bundled photos are part of every clone"
    x = torch.stack([torch.from_numpy(_arr(Image.open(p).convert("RGB").resize((128, 128))) / 255).permute(2, 0, 1)
                     for p in photos])  # fmt: skip
    for seed in range(3):
        torch.manual_seed(seed)
        with torch.no_grad():
            feats = ArbitraryNet(ArbitraryConfig()).encoder(x, 4)
        assert {k: float(v) for k, v in dead_channels(feats).items()} == {f"dead{lv}": 0.0 for lv in (1, 2, 3, 4)}


def test_each_training_phase_warms_up_then_decays():
    from nst_core.train.arbitrary.config import ArbitraryTrainConfig
    from nst_core.train.arbitrary.loop import _lr

    cfg = ArbitraryTrainConfig(dataset="x", distill_steps=1000, decoder_steps=500, warmup_steps=100, lr=1e-3)
    for start, length in ((0, 1000), (1000, 500)):
        rise = [_lr(cfg, start + i) for i in range(100)]
        assert rise == sorted(rise) and rise[0] == pytest.approx(1e-3 / 100, rel=0.05)
        cosine = 1e-3 * (0.1 + 0.45 * (1 + math.cos(math.pi * 99 / length)))
        assert _lr(cfg, start + 99) == pytest.approx(cosine)  # warm: from here on, the cosine alone
        assert _lr(cfg, start + length - 1) == pytest.approx(1e-4, rel=0.02)
    assert _lr(ArbitraryTrainConfig(dataset="x", warmup_steps=0), 0) == pytest.approx(1e-3)
