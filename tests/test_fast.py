"""Fast stylisation: options validation, sizes, strength, colour preservation, progress/cancel, and tiled
inference (same result as untiled, no seams). Tiny random networks; the real candy model when available."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

import nst_core
from nst_core import styles
from nst_core.errors import Cancelled, OptionsError, StyleNotFoundError
from nst_core.fast import FastOptions, apply_model, budget, run_fast, stylize_tensor, tiling
from nst_core.fast.transformer_net import TransformerConfig, TransformerNet, config_from_state_dict
from nst_core.progress import Progress

SMALL = TransformerConfig((8, 16, 16), 2)


def _structured_net(config: TransformerConfig = SMALL, seed: int = 0) -> TransformerNet:
    """Random weights with strong instance-norm gains, so outputs vary a lot across the image (a near-flat
    output would make tiled-vs-untiled comparisons meaningless)."""
    torch.manual_seed(seed)
    net = TransformerNet(config).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.split(".")[-2].startswith("in"):
                p.copy_(torch.randn_like(p) * (1.0 if name.endswith("weight") else 0.3) + 0.5)
        net.deconv3.conv2d.weight.mul_(40.0)
        net.deconv3.conv2d.bias.fill_(128.0)
    return net


@pytest.fixture
def style(tmp_path, monkeypatch):
    """A tiny installed style named 'tiny' (in a temporary NST_WEIGHTS_DIR)."""
    monkeypatch.setenv(styles.WEIGHTS_ENV, str(tmp_path / "w"))
    monkeypatch.setattr(styles.registry, "REPO_WEIGHTS_DIR", tmp_path / "none")
    styles.clear_cache()
    preview = Image.new("RGB", (8, 8))  # skip rendering one: this machine's CPU is shared
    styles.save_style(_structured_net(), "tiny", tmp_path / "w", {"display_name": "Tiny"}, preview)
    yield "tiny"
    styles.clear_cache()


def _photo(w: int = 96, h: int = 72) -> Image.Image:
    return styles.synthetic_preview_content(max(w, h)).resize((w, h), Image.LANCZOS)


def _arr(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)


# ----------------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strength": 1.5}, "^strength= must be a number from 0 to 1, not 1.5"),
        ({"strength": -0.1}, "strength"),
        ({"strength": float("nan")}, "strength"),
        ({"strength": True}, "strength"),
        ({"strength": "1"}, "strength"),
        ({"size": 8}, "^size= must be a whole number from 16 to 8192, not 8"),
        ({"size": 9000}, "size"),
        ({"size": 256.0}, "size"),
        ({"precision": "fp8"}, "^precision= must be one of auto, fp32, bf16, fp16, not 'fp8'"),
        ({"device": "tpu"}, "^device= must be one of auto, cpu, cuda, mps"),
        ({"tile_size": 50}, "^tile_size= must be"),
        ({"tile_overlap": -1}, "tile_overlap"),
        ({"preserve_colors": "yes"}, "preserve_colors"),
        ({"style": ""}, "^style= must be the name"),
    ],
)
def test_options_validation_messages(kwargs, message):
    opts = FastOptions(**{"style": "candy", **kwargs})
    with pytest.raises(OptionsError, match=message):
        opts.validate()


def test_valid_options_pass():
    assert FastOptions("candy", strength=0, size=16, precision="bf16", tile_size=128).validate()
    assert FastOptions("candy", strength=1, size=8192, precision="float32", device="cpu").validate()


def test_unknown_style(style):
    with pytest.raises(StyleNotFoundError, match="tiny"):
        run_fast(_photo(), FastOptions("missing"))


# ------------------------------------------------------------------------------------------------------ basics
@pytest.mark.parametrize("size", [(37, 29), (16, 16), (101, 17)])
def test_output_has_the_input_size(style, size):
    img = _photo(*size)
    out = run_fast(img, FastOptions(style, device="cpu"))
    assert out.size == size and out.mode == "RGB"


def test_size_option_resizes_long_side(style):
    out = run_fast(_photo(120, 80), FastOptions(style, size=60))
    assert out.size == (60, 40)


def test_strength_blends_toward_content(style):
    img = _photo()
    assert np.array_equal(_arr(run_fast(img, FastOptions(style, strength=0.0))), _arr(img))
    full = _arr(run_fast(img, FastOptions(style)))
    half = _arr(run_fast(img, FastOptions(style, strength=0.5)))
    assert np.abs(full - _arr(img)).mean() > 10
    assert np.abs(half - (full + _arr(img)) / 2).max() <= 1.0


def test_preserve_colors_keeps_content_chroma(style):
    img = _photo()
    out = run_fast(img, FastOptions(style, preserve_colors=True))
    ycc_out = np.asarray(out.convert("YCbCr"), dtype=np.float32)
    ycc_in = np.asarray(img.convert("YCbCr"), dtype=np.float32)
    plain = np.asarray(run_fast(img, FastOptions(style)).convert("YCbCr"), dtype=np.float32)
    assert np.abs(ycc_out[..., 1:] - ycc_in[..., 1:]).mean() < 2.0
    assert np.abs(ycc_out[..., 0] - plain[..., 0]).mean() < 2.0


def test_non_rgb_input(style):
    out = run_fast(_photo().convert("L"), FastOptions(style))
    assert out.mode == "RGB"


def test_transparent_photo_keeps_its_alpha(style, tmp_path):
    photo = _photo().convert("RGBA")
    alpha = np.zeros((72, 96), np.uint8)
    alpha[10:60, 20:70] = 255
    photo.putalpha(Image.fromarray(alpha))
    out = nst_core.stylize(photo, style, size=48)
    assert out.mode == "RGBA" and out.size == (48, 36)
    assert np.abs(_arr(out.getchannel("A")) - _arr(Image.fromarray(alpha).resize((48, 36), Image.LANCZOS))).max() <= 1
    nst_core.save_image(out, tmp_path / "out.png")
    assert Image.open(tmp_path / "out.png").mode == "RGBA"
    nst_core.save_image(out, tmp_path / "out.jpg")  # JPEG has no alpha: put on white, no error
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"


def test_a_panorama_is_painted_with_a_two_to_one_pictures_pixels(style):
    out = nst_core.stylize(_photo(1200, 100), style, size=128)
    assert out.size == (314, 26)  # not a 128x11 strip


def test_bf16_on_cpu_is_close_to_fp32(style):
    img = _photo()
    a = _arr(run_fast(img, FastOptions(style, precision="fp32")))
    b = _arr(run_fast(img, FastOptions(style, precision="bf16")))
    assert np.abs(a - b).mean() < 3.0


def test_progress_and_cancel(style):
    img = _photo(300, 140)
    seen: list[Progress] = []
    run_fast(img, FastOptions(style, tile_size=128, tile_overlap=32), callback=seen.append)
    assert seen[0].step == 0 and seen[-1].step == seen[-1].total > 1
    assert all(p.size == (300, 140) for p in seen)
    assert [p.step for p in seen] == sorted(p.step for p in seen)

    cancel = threading.Event()

    def stop_after_first(p: Progress) -> None:
        if p.step >= 1:
            cancel.set()

    with pytest.raises(Cancelled):
        run_fast(img, FastOptions(style, tile_size=128), callback=stop_after_first, cancel=cancel)
    cancel.set()
    with pytest.raises(Cancelled):
        run_fast(img, FastOptions(style), cancel=cancel)


# ------------------------------------------------------------------------------------------------------ tiling
def _tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(_arr(img)).permute(2, 0, 1)[None]


def _seam_ratio(y: torch.Tensor, cuts_x: list[int], cuts_y: list[int]) -> float:
    """Largest mean absolute jump across a tile-blend column/row, relative to the 95th percentile of all."""
    img = y[0].clamp(0, 255)
    col = (img[:, :, 1:] - img[:, :, :-1]).abs().mean(dim=(0, 1))
    row = (img[:, 1:, :] - img[:, :-1, :]).abs().mean(dim=(0, 2))
    worst = max([col[c - 2 : c + 2].max().item() for c in cuts_x] + [row[r - 2 : r + 2].max().item() for r in cuts_y])
    typical = max(torch.quantile(col, 0.95).item(), torch.quantile(row, 0.95).item())
    return worst / typical


def _blend_cuts(length: int, tile: int, overlap: int) -> list[int]:
    spans = tiling._positions(length, tile, overlap)
    return [(spans[i][1] + spans[i + 1][0]) // 2 for i in range(len(spans) - 1)]


def test_tile_plan_covers_the_image_on_aligned_starts():
    plan = tiling.plan_tiles(301, 517, 128, 32)
    cover = torch.zeros(301, 517)
    owned = torch.zeros(301, 517)
    for t in plan.tiles:
        assert t.span_y[0] % 4 == 0 and t.span_x[0] % 4 == 0
        cover[t.span_y[0] : t.span_y[1], t.span_x[0] : t.span_x[1]] += 1
        owned[t.core_y[0] : t.core_y[1], t.core_x[0] : t.core_x[1]] += 1
    assert cover.min() >= 1 and torch.equal(owned, torch.ones_like(owned))
    weights = sum(
        torch.nn.functional.pad(t.weights(plan.ramp), (t.span_x[0], 517 - t.span_x[1], t.span_y[0], 301 - t.span_y[1]))
        for t in plan.tiles
    )
    assert torch.allclose(weights, torch.ones_like(weights), atol=1e-5)  # a partition of unity


def test_tiled_matches_untiled_random_net():
    net = _structured_net()
    x = _tensor(_photo(300, 236))
    with torch.inference_mode():
        full = net(x)
    tiled = stylize_tensor(net, x, tile_size=128, tile_overlap=64)
    assert tiled.shape == full.shape
    assert full.std().item() > 20
    assert (tiled.clamp(0, 255) - full.clamp(0, 255)).abs().mean().item() < 1.0
    assert _seam_ratio(tiled, _blend_cuts(300, 128, 64), _blend_cuts(236, 128, 64)) < 1.5


def test_auto_tiling_from_memory_budget(monkeypatch):
    net = _structured_net()
    x = _tensor(_photo(200, 160))
    full = stylize_tensor(net, x)
    monkeypatch.setenv(budget.MEMORY_ENV, "1")  # 1 MB: forces the smallest tiles
    steps: list[tuple[int, int]] = []
    tiled = stylize_tensor(net, x, callback=lambda d, t: steps.append((d, t)))
    assert steps[-1][1] > 1
    assert (tiled.clamp(0, 255) - full.clamp(0, 255)).abs().mean().item() < 1.0


def test_thumbnail_fallback_has_no_seams(monkeypatch):
    """When tile states would not fit in host memory, statistics come from a thumbnail: still seamless."""
    monkeypatch.setattr(budget, "meminfo_available", lambda: 1)
    monkeypatch.setenv(budget.MEMORY_ENV, "1")
    net = _structured_net()
    x = _tensor(_photo(236, 200))
    tiled = stylize_tensor(net, x, tile_size=128, tile_overlap=64)
    assert tiled.shape == x.shape
    assert _seam_ratio(tiled, _blend_cuts(236, 128, 64), _blend_cuts(200, 128, 64)) < 1.5


def test_tiled_matches_untiled_on_candy(candy_path, content_dir):
    sd = torch.load(candy_path, map_location="cpu", weights_only=True)
    net = TransformerNet(config_from_state_dict(sd))
    net.load_state_dict(sd)
    net.eval()
    img = Image.open(content_dir / "tubingen.jpg").convert("RGB").resize((288, 216), Image.LANCZOS)
    full = apply_model(net, img)
    tiled = apply_model(net, img, tile_size=192, tile_overlap=96)  # 2 x 2 tiles
    diff = np.abs(_arr(full) - _arr(tiled))
    assert diff.mean() < 3.0  # out of 255
    cuts_x, cuts_y = _blend_cuts(288, 192, 96), _blend_cuts(216, 192, 96)
    assert cuts_x and cuts_y
    band = diff[:, cuts_x[0] - 8 : cuts_x[0] + 8].mean()
    assert band < 3.0  # no seam: the blend region is as close to the untiled result as the rest
    assert _seam_ratio(_tensor(tiled), cuts_x, cuts_y) < 1.5


# ------------------------------------------------------------------------------------------------ stroke size
def test_auto_stroke_scale_keeps_the_512px_look_up_to_twice():
    from nst_core.fast.strokes import resolve_stroke_scale

    assert resolve_stroke_scale(None, 300) == 1.0 and resolve_stroke_scale(None, 512) == 1.0
    assert resolve_stroke_scale(None, 768) == 1.5 and resolve_stroke_scale(None, 4000) == 2.0
    assert resolve_stroke_scale(3, 100) == 3.0


@pytest.mark.parametrize("bad", [0.5, 4.5, float("nan"), "big", True])
def test_stroke_scale_is_validated(bad):
    with pytest.raises(OptionsError, match="stroke_scale"):
        FastOptions("x", stroke_scale=bad).validate()


def test_larger_strokes_come_from_a_smaller_working_copy_with_the_photos_detail(style):
    """stroke_scale 2: the network paints a half-size copy (strokes twice as large relative to the picture),
    and the photo's fine detail is put back, so the result is neither the plain upscale nor the 1x result."""
    from nst_core.fast.strokes import restore_detail

    img = _photo(240, 160)
    big = _arr(run_fast(img, FastOptions(style, stroke_scale=2, precision="fp32")))
    half = run_fast(img.resize((120, 80), Image.Resampling.LANCZOS), FastOptions(style, precision="fp32"))
    assert big.shape == (160, 240, 3)
    assert np.abs(big - _arr(restore_detail(half, img))).max() <= 1.0  # exactly that recipe
    upscaled = _arr(half.resize((240, 160), Image.Resampling.BICUBIC))
    gray = _arr(img.convert("L"))
    photo_detail = gray - _arr(
        img.convert("L").resize((120, 80), Image.Resampling.LANCZOS).resize((240, 160), Image.Resampling.BICUBIC)
    )
    added = (big - upscaled).mean(axis=2)
    assert np.corrcoef(added.ravel(), photo_detail.ravel())[0, 1] > 0.9  # what was added is the photo's detail
    assert np.abs(big - _arr(run_fast(img, FastOptions(style, stroke_scale=1, precision="fp32")))).mean() > 2
