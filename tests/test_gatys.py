"""Gatys engine with the real ImageNet VGG-19 (skipped with a reason when the offline data is absent)."""

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import nst_core
from nst_core import Cancelled, GatysOptions, OptionsError
from nst_core.gatys import plan_scales, run_gatys
from nst_core.images import load_image, pil_to_tensor, resize_long_side
from nst_core.losses import PerceptualLoss
from nst_core.lossnets import load_loss_net
from nst_core.progress import Progress


@pytest.fixture(scope="module")
def pair(content_dir, styles_dir):
    return load_image(content_dir / "tubingen.jpg"), load_image(styles_dir / "starry_night.jpg")


def _opts(vgg19_path, **kw):
    base = dict(size=64, steps=8, device="cpu", loss_net_weights=str(vgg19_path), preview_every=0)
    base.update(kw)
    return GatysOptions(**base)


def _judge(vgg19_path, image, content, style):
    """The paper's objective terms of `image`, measured independently of the run that produced it."""
    net = load_loss_net("vgg19", vgg19_path, layers=["relu4_2", "relu5_1"])
    crit = PerceptualLoss(net, ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"])
    side = max(image.size)
    crit.set_style([pil_to_tensor(resize_long_side(style, side))])
    c = pil_to_tensor(content.resize(image.size, Image.Resampling.LANCZOS))
    with torch.no_grad():
        _, terms = crit(pil_to_tensor(image), crit.content_targets(c))
    return {k: float(v) for k, v in terms.items()}


def test_cli_256px_is_stylised_and_keeps_content(tmp_path, vgg19_path, content_dir, styles_dir):
    out = tmp_path / "tubingen_starry.png"
    cmd = [
        sys.executable,
        "-m",
        "nst_core",
        "stylize",
        str(content_dir / "tubingen.jpg"),
        "--style-image",
        str(styles_dir / "starry_night.jpg"),
        "-o",
        str(out),
        "--size",
        "256",
        "--steps",
        "60",
        "--device",
        "cpu",
        "--vgg-weights",
        str(vgg19_path),
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = load_image(out)
    assert max(result.size) == 256
    content, style = load_image(content_dir / "tubingen.jpg"), load_image(styles_dir / "starry_night.jpg")
    before = _judge(vgg19_path, resize_long_side(content, 256), content, style)
    after = _judge(vgg19_path, result, content, style)
    assert after["style"] <= 0.1 * before["style"], (before, after)  # style loss falls by >= 90%
    style_as_image = style.resize(result.size, Image.Resampling.LANCZOS)
    assert after["content"] < _judge(vgg19_path, style_as_image, content, style)["content"]


def test_progress_reports_every_step_and_previews(vgg19_path, pair):
    seen = []
    run_gatys(pair[0], [pair[1]], _opts(vgg19_path, steps=6, preview_every=3), callback=seen.append)
    assert [p.step for p in seen] == list(range(1, 7)) and all(p.total == 6 for p in seen)
    assert [p.step for p in seen if p.image is not None] == [3, 6]
    assert {"content", "style", "tv", "total"} <= set(seen[-1].losses)


def test_time_left_counts_the_larger_scales_cost():
    from nst_core.gatys import _Reporter

    seen = []
    reporter = _Reporter(seen.append, [(192, 4), (384, 2)], preview_every=0)
    x = torch.zeros(1, 3, 8, 8)
    for scale, steps in ((1, 4), (2, 2)):
        for _ in range(steps):
            reporter.step(x, {}, scale)
    work = [p.work for p in seen]
    assert work == [192**2 * i for i in range(1, 5)] + [192**2 * 4 + 384**2 * i for i in (1, 2)]
    assert seen[-1].work_total == seen[-1].work
    p = seen[1]  # after 2 of 6 steps: 2 small steps done, 2 small + 2 four-times-larger ones left
    assert p.eta == pytest.approx(p.elapsed / 2 * (2 + 2 * 4))
    assert Progress(step=2, total=6, elapsed=1.0).eta == pytest.approx(2.0)  # no work given: by steps


def test_cancel_stops_the_run(vgg19_path, pair):
    stop = threading.Event()

    def cb(p):
        if p.step == 2:
            stop.set()

    with pytest.raises(Cancelled):
        run_gatys(pair[0], [pair[1]], _opts(vgg19_path, steps=50), callback=cb, cancel=stop)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_same_seed_same_output(vgg19_path, pair, optimizer):
    o = _opts(vgg19_path, init="noise", seed=3, optimizer=optimizer, steps=4)
    a, b = run_gatys(pair[0], [pair[1]], o), run_gatys(pair[0], [pair[1]], o)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    c = run_gatys(pair[0], [pair[1]], _opts(vgg19_path, init="noise", seed=4, optimizer=optimizer, steps=4))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_adam_average_is_the_bias_corrected_mean_of_the_iterates(vgg19_path, pair):
    """With decay d the result after two steps is (d(1-d) x1 + (1-d) x2) / (1 - d^2): for d = 0.5, x1/3 + 2 x2/3.
    Without the bias correction it would be 3/4 of that (a darker picture); without averaging, x2."""
    o = {"init": "noise", "seed": 3, "optimizer": "adam", "lr": 0.2}
    x1, x2 = (pil_to_tensor(run_gatys(pair[0], [pair[1]], _opts(vgg19_path, steps=n, **o))) for n in (1, 2))
    averaged = pil_to_tensor(run_gatys(pair[0], [pair[1]], _opts(vgg19_path, steps=2, average=0.5, **o)))
    assert (x2 - x1).abs().mean() > 0.05  # the two iterates differ enough for the check to mean something
    assert torch.allclose(averaged, x1 / 3 + 2 * x2 / 3, atol=1.5 / 255)


def test_average_is_refused_for_l_bfgs():
    with pytest.raises(OptionsError, match="average is for the adam optimizer"):
        GatysOptions(average=0.9).resolved(torch.device("cpu"))


def test_style_blending(vgg19_path, pair, styles_dir):
    content, starry = pair
    wave = load_image(styles_dir / "great_wave.jpg")
    only_first = run_gatys(content, [starry, wave], _opts(vgg19_path, style_blend=(1.0, 0.0)))
    single = run_gatys(content, [starry], _opts(vgg19_path))
    assert np.array_equal(np.asarray(only_first), np.asarray(single))
    mixed = run_gatys(content, [starry, wave], _opts(vgg19_path, style_blend=(0.5, 0.5)))
    assert not np.array_equal(np.asarray(mixed), np.asarray(single))
    with pytest.raises(OptionsError, match="blend"):
        run_gatys(content, [starry, wave], _opts(vgg19_path, style_blend=(1.0,)))


def _chroma(img):
    return np.asarray(img.convert("YCbCr"), dtype=np.float32)[..., 1:]


def test_preserve_colors_keeps_content_chroma(vgg19_path, pair):
    content = resize_long_side(pair[0], 96)
    kept = run_gatys(content, [pair[1]], _opts(vgg19_path, size=96, steps=10, preserve_colors=True))
    plain = run_gatys(content, [pair[1]], _opts(vgg19_path, size=96, steps=10))
    err_kept = np.abs(_chroma(kept) - _chroma(content)).mean()
    err_plain = np.abs(_chroma(plain) - _chroma(content)).mean()
    assert err_kept < 1.5, err_kept  # only rounding/clipping of the YCbCr round trip
    assert err_plain > 3 * err_kept
    y_kept = np.asarray(kept.convert("L"), dtype=np.float32)
    assert np.abs(y_kept - np.asarray(content.convert("L"), dtype=np.float32)).mean() > 2  # luminance did change


def test_multiscale_plan():
    assert plan_scales(1024, True, 100) == [(256, 100), (512, 50), (1024, 50)]
    assert plan_scales(256, True, 100) == [(256, 100)]
    assert plan_scales(1024, False, 100) == [(1024, 100)]


def test_multiscale_run_reaches_full_size(vgg19_path, pair):
    seen = []
    out = run_gatys(pair[0], [pair[1]], _opts(vgg19_path, size=192 * 2, steps=2, multiscale=True), callback=seen.append)
    assert max(out.size) == 384
    assert seen[-1].scales == 2 and {p.scale for p in seen} == {1, 2}
    assert [p.size[0] for p in seen] == [192, 192, 384]
    assert seen[-1].step == seen[-1].total


@pytest.mark.parametrize("w, h", [(2000, 8), (1200, 900)])
def test_a_strip_s_painting_keeps_the_nominal_size(vgg19_path, pair, monkeypatch, w, h):
    """A strip is painted longer than `size` (images.sized_for); its painting stays at `size` (the brush of a
    picture of that size), where it once grew to the strip's length. An ordinary picture's painting is at its
    long side, as before."""
    sides = []
    set_style = PerceptualLoss.set_style
    monkeypatch.setattr(PerceptualLoss, "set_style", lambda self, ims, *a: (sides.append(max(ims[0].shape[-2:])),
                        set_style(self, ims, *a))[1])  # fmt: skip
    photo = pair[0].resize((w, h))
    out = run_gatys(photo, [pair[1]], _opts(vgg19_path, size=96, steps=1, multiscale=False))
    assert max(out.size) == (384 if w > 2 * h else 96)
    assert sides == [96]


@pytest.mark.parametrize(
    "kw,phrase",
    [
        ({"size": 0}, "size"),
        ({"size": 100000}, "size"),
        ({"steps": -1}, "steps"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"init": "magic"}, "init"),
        ({"style_weight": float("nan")}, "^style_weight= must be a number"),
        ({"style_scale": 50}, "^style_scale= must be a number from 0.1 to 4"),
        ({"content_layers": ("relu9_9",)}, "no layer"),
        ({"loss_net": "alexnet"}, "loss network"),
        ({"loss_net_weights": "/nonexistent.pth"}, "not found"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_absurd_options_are_refused(kw, phrase):
    with pytest.raises(OptionsError, match=phrase):
        GatysOptions(**kw).resolved(torch.device("cpu")) if "device" not in kw else nst_core.stylize(
            Image.new("RGB", (8, 8)), style_images=[Image.new("RGB", (8, 8))], **kw
        )


def test_api_rejects_unknown_and_mismatched_options():
    img = Image.new("RGB", (16, 16))
    with pytest.raises(OptionsError, match="unknown option"):
        nst_core.stylize(img, style_images=[img], stepz=3)
    with pytest.raises(OptionsError, match="style"):
        nst_core.stylize(img)
    with pytest.raises(OptionsError, match="method"):
        nst_core.stylize(img, method="magic")
