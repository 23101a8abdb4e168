"""The device profile, and the CUDA configuration's code paths (channels_last, bf16 autocast) run on a CPU.

Every combination a GPU run uses is forced here on the CPU: if L-BFGS, Adam, fast inference or training break
under channels_last or bf16, these fail without a GPU in sight.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nst_core
from nst_core import OptionsError, device
from nst_core.device import make_profile
from nst_core.gatys import GatysOptions, run_gatys
from nst_core.images import load_image, resize_long_side

REPO = Path(__file__).resolve().parents[1]
DEVICE = os.environ.get("NST_TEST_DEVICE", "cpu")  # bench/gpu_check.py runs this file with "cuda" on a GPU
PRECISIONS = ("fp32", "bf16", "fp16") if DEVICE == "cuda" else ("fp32", "bf16")
CPU_COMBINATIONS = [(p, m) for p in PRECISIONS for m in ("contiguous", "channels_last")]


def test_auto_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(device, "cpu_native_bf16", lambda: True)
    prof = make_profile("cpu")
    assert (prof.precision, prof.channels_last, prof.dtype) == ("bf16", True, torch.bfloat16)
    monkeypatch.setattr(device, "cpu_native_bf16", lambda: False)
    prof = make_profile("cpu")
    assert (prof.precision, prof.channels_last, prof.dtype) == ("fp32", False, None)


def test_explicit_choices_win_and_fp16_on_cpu_is_refused():
    prof = make_profile("cpu", "bf16", "contiguous")
    assert (prof.precision, prof.memory_format) == ("bf16", torch.contiguous_format)
    prof = make_profile("cpu", "float32", "channels-last")  # aliases
    assert (prof.precision, prof.memory_format) == ("fp32", torch.channels_last)
    with pytest.raises(OptionsError, match="fp16 is for GPUs"):
        make_profile("cpu", "fp16")
    with pytest.raises(OptionsError, match="unknown precision 'fp8'"):
        make_profile("cpu", "fp8")
    with pytest.raises(OptionsError, match="unknown memory format"):
        make_profile("cpu", "auto", "nhwc")


def test_autocast_is_the_profiles():
    x = torch.rand(1, 3, 8, 8)
    conv = torch.nn.Conv2d(3, 4, 3)
    with make_profile("cpu", "bf16").autocast():
        assert conv(x).dtype == torch.bfloat16
    with make_profile("cpu", "fp32").autocast():
        assert conv(x).dtype == torch.float32


def test_cpu_flag_detection_reads_proc_cpuinfo():
    device.cpu_native_bf16.cache_clear()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo here")
    expected = "amx_bf16" in flags or "avx512_bf16" in flags
    assert device.cpu_native_bf16() is expected


@pytest.fixture(scope="module")
def pair(content_dir, styles_dir):
    return (
        resize_long_side(load_image(content_dir / "tubingen.jpg"), 64),
        resize_long_side(load_image(styles_dir / "starry_night.jpg"), 64),
    )


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
@pytest.mark.parametrize(("precision", "memory_format"), CPU_COMBINATIONS)
def test_gatys_runs_in_every_cpu_profile(vgg19_path, pair, optimizer, precision, memory_format):
    """channels_last + L-BFGS crashed ("view size is not compatible") before the pixels were kept contiguous."""
    content, style = pair
    opts = GatysOptions(
        size=64,
        steps=6,
        device=DEVICE,
        optimizer=optimizer,
        precision=precision,
        lr=0.05,
        memory_format=memory_format,
        loss_net_weights=str(vgg19_path),
        preview_every=0,
    )
    seen = []
    out = run_gatys(content, [style], opts, callback=lambda p: seen.append(p.losses["total"]))
    assert out.size == content.size and len(seen) == 6
    assert all(np.isfinite(seen)) and seen[-1] < seen[0], seen


def test_gatys_bf16_stays_close_to_fp32(vgg19_path, pair):
    """Same steps, same start: the bf16 run's final objective is within 3% of float32's (Grams stay fp32)."""
    content, style = pair
    finals = {}
    for precision in ("fp32", "bf16"):
        seen = []
        opts = GatysOptions(
            size=64,
            steps=20,
            device=DEVICE,
            precision=precision,
            loss_net_weights=str(vgg19_path),
            preview_every=0,
            multiscale=False,
        )
        run_gatys(content, [style], opts, callback=lambda p, s=seen: s.append(p.losses["total"]))
        finals[precision] = seen[-1]
    assert abs(finals["bf16"] - finals["fp32"]) <= 0.03 * finals["fp32"], finals


def test_cli_takes_precision_and_memory_format(tmp_path, vgg19_path, content_dir, styles_dir):
    out = tmp_path / "o.png"
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
        "48",
        "--steps",
        "3",
        "--device",
        "cpu",
        "--vgg-weights",
        str(vgg19_path),
        "--quiet",
        "--precision",
        "bf16",
        "--memory-format",
        "channels_last",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert max(load_image(out).size) == 48
    bad = subprocess.run([*cmd[:-4], "--precision", "fp16"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: fp16 is for GPUs; on a CPU use precision bf16 or fp32"
    ], bad.stderr


@pytest.mark.parametrize(("precision", "memory_format"), CPU_COMBINATIONS)
def test_fast_style_runs_in_every_cpu_profile(precision, memory_format):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8))
    ref = np.asarray(
        nst_core.stylize(img, style="starry_night", precision="fp32", memory_format="contiguous", device=DEVICE),
        dtype=np.float32,
    )
    out = np.asarray(
        nst_core.stylize(img, style="starry_night", precision=precision, memory_format=memory_format, device=DEVICE),
        dtype=np.float32,
    )
    assert out.shape == ref.shape
    assert np.abs(out - ref).mean() < (1e-3 if precision == "fp32" and DEVICE == "cpu" else 6.0)


def test_fast_tiled_in_bf16_channels_last_matches_untiled():
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8))
    kw = dict(style="starry_night", precision="bf16", memory_format="channels_last", device=DEVICE)
    full = np.asarray(nst_core.stylize(img, **kw), dtype=np.float32)
    tiled = np.asarray(nst_core.stylize(img, tile_size=160, **kw), dtype=np.float32)
    assert np.abs(full - tiled).mean() < 3.0


def test_gpu_check_runs_quick_on_cpu(tmp_path, vgg19_path):
    """The one-shot GPU script, at tiny sizes on the CPU: every step runs and the JSON says what it measured."""
    cmd = [
        sys.executable,
        "bench/gpu_check.py",
        "--device",
        "cpu",
        "--quick",
        "--out",
        str(tmp_path),
        "--vgg-weights",
        str(vgg19_path),
    ]
    done = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["quick"] and result["device"] and result["profile"]
    assert [r["size"] for r in result["gatys"]] == ["48x36", "64x48"]
    for row in result["gatys"]:
        assert row["plain_fp32"]["steps"] == 8 and row["tuned"]["s_per_step"] > 0
    assert {r["arch"] for r in result["fast"]} == {"light", "reference"}
    assert all(r["tuned_ms"] > 0 and r["plain_fp32_ms"] > 0 for r in result["fast"])
    assert [r["precision"] for r in result["train"]] == ["fp32", "auto"]
    assert all(r["images_per_s"] > 0 for r in result["train"])
    assert result["gatys_batch"]["batch"] == 8 and result["gatys_batch"]["requests_per_s"] > 0
    assert [r["size"] for r in result["arbitrary"]] == [[64, 48]] and result["arbitrary"][0]["end_to_end_ms"] > 0
    assert (tmp_path / "gpu_check.log").read_text().count("\n") >= 6


def test_gpu_check_without_a_vgg_says_what_to_pass_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NST_VGG19_WEIGHTS"}
    env.update(OMP_NUM_THREADS="1", TORCH_HOME=str(tmp_path / "hub"))  # an empty hub cache, and no network
    cmd = [sys.executable, "bench/gpu_check.py", "--device", "cpu", "--quick", "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2
    said = (done.stdout + done.stderr).strip()  # nothing else either: no download attempted, none of its progress
    assert "Traceback" not in said and said.count("\n") == 0, said
    assert "--vgg-weights" in said and "NST_VGG19_WEIGHTS" in said and not (tmp_path / "out").exists()
    wrong = subprocess.run([*cmd, "--vgg-weights", str(tmp_path / "nope.pth")], cwd=REPO, capture_output=True,
                           text=True, timeout=120, env=env)  # fmt: skip
    assert wrong.returncode == 2 and (wrong.stdout + wrong.stderr).strip() == said  # a mistyped file: the same line


def test_demo_and_bots_take_the_profile_from_their_settings():
    from bots.config import CommonConfig, ConfigError
    from demo.config import load_config

    cfg = load_config({"NST_DEMO_PRECISION": "fp32", "NST_DEMO_MEMORY_FORMAT": "channels_last"}, device="cpu")
    assert (cfg.precision, cfg.memory_format) == ("fp32", "channels_last")
    with pytest.raises(OptionsError, match="fp16 is for GPUs"):
        load_config({"NST_DEMO_PRECISION": "fp16"}, device="cpu")
    bot = CommonConfig.from_env({"NST_BOT_PRECISION": "bf16"})
    assert (bot.precision, bot.memory_format) == ("bf16", "auto")
    with pytest.raises(ConfigError, match="NST_BOT_PRECISION"):
        CommonConfig.from_env({"NST_BOT_PRECISION": "fp8"})
    from bots.options import JobSpec

    kwargs = JobSpec(style="x", label="X").stylize_kwargs((64, 64), bot)
    assert (kwargs["precision"], kwargs["memory_format"]) == ("bf16", "auto")


def test_training_runs_in_bf16_channels_last_on_cpu(tmp_path):
    """The CUDA training configuration's code path, forced on the CPU from the command line."""
    from nst_core.train import main as train_main

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / "style.png")
    args = [
        "--style-image",
        str(tmp_path / "style.png"),
        "--dataset",
        str(photos),
        "--name",
        "cl",
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--image-size",
        "32",
        "--loss-net",
        "squeezenet",
        "--loss-net-weights",
        "random",
        "--device",
        DEVICE,
        "--out",
        str(tmp_path / "w"),
        "--run-dir",
        str(tmp_path / "run"),
        "--val-count",
        "1",
        "--precision",
        "bf16",
        "--memory-format",
        "channels_last",
        "--preview-image",
        "builtin",
    ]
    assert train_main(args) == 0
    meta = json.loads((tmp_path / "w" / "cl.json").read_text())
    assert meta["training"]["precision"] == "bf16" and meta["training"]["memory_format"] == "channels_last"
    assert meta["steps"] == 3 and np.isfinite(meta["final_losses"]["total"])


def test_cli_fast_takes_precision_and_memory_format(tmp_path):
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(src)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_core",
            "stylize",
            str(src),
            "--style",
            "starry_night",
            "-o",
            str(out),
            "--precision",
            "bf16",
            "--memory-format",
            "channels_last",
            "--device",
            DEVICE,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (56, 40)


def test_style_targets_are_float32_under_bf16_autocast(vgg19_path):
    from nst_core.losses import PerceptualLoss
    from nst_core.lossnets import load_loss_net

    net = load_loss_net("vgg19", vgg19_path, layers=["relu4_2", "relu5_1"])
    crit = PerceptualLoss(net, ["relu4_2"], ["relu1_1", "relu3_1", "relu5_1"])
    with make_profile("cpu", "bf16").autocast():
        crit.set_style([torch.rand(1, 3, 48, 48)])
    assert all(t.dtype == torch.float32 for t in crit.style_targets.values())
    assert all(t.dtype == torch.float32 for t in crit.style_scales.values())


def test_auto_never_picks_fp16_and_fp16_scales_the_loss():
    assert make_profile("cpu", "bf16").loss_scale == 1.0 and make_profile("cpu", "fp32").loss_scale == 1.0
    from nst_core.device import DeviceProfile

    assert DeviceProfile(torch.device("cpu"), "fp16", True).loss_scale > 1
