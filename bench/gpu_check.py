"""One-shot GPU check: the device-profile tests on the device, then Gatys, fast inference and training timed
plain (fp32, contiguous, eager) against the tuned profile. Writes OUT/gpu_check.json and OUT/gpu_check.log.

    python bench/gpu_check.py --out /tmp/gpu --vgg-weights .device/vgg19_caffe_to_relu5_1_fp16.pth    # H200
    python bench/gpu_check.py --device cpu --quick --out /tmp/gpu                                      # tests
    make gpu-check                                                                                    # the first

Targets on one H200 (issue #11, #21): Gatys 1024x768 reaches the loss of 500 single-scale fp32 steps of torch's
L-BFGS in under 5 s (issue #21: under 2 s, with the device-resident L-BFGS, row "tuned"); fast 1024x1024 in
under 3 ms; the tuned profile at least 5x plain fp32 eager on both. `--quick` runs every step at tiny sizes (the
test suite runs it on a CPU), so the script itself cannot rot between GPU sessions. The arbitrary method (any
painting in one pass) is timed end to end at 512 and 1024 px.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from bench_gatys import _run  # noqa: E402

from nst_core import train  # noqa: E402
from nst_core.device import device_label, make_profile, resolve_device  # noqa: E402
from nst_core.fast.inference import stylize_tensor  # noqa: E402
from nst_core.fast.transformer_net import LIGHT, REFERENCE, TransformerNet  # noqa: E402
from nst_core.gatys import GatysOptions  # noqa: E402
from nst_core.lbfgs import GRAPHS_ENV  # noqa: E402
from nst_core.lossnets import loss_net_status  # noqa: E402

# Only files on this machine are tried (no torchvision download: a GPU lease has no internet, and a download that
# hangs or prints progress is not the one line this is meant to be).
NO_VGG19 = (
    "gpu_check needs VGG-19 weights it can read here: pass --vgg-weights FILE or set NST_VGG19_WEIGHTS "
    "(on a GPU lease: .device/vgg19_caffe_to_relu5_1_fp16.pth); it does not download torchvision's copy"
)

SIZES = {
    "full": {
        "gatys": [512, 1024],
        "ref_steps": 500,
        "fast": 1024,
        "arbitrary": [512, 1024],
        "train": 256,
        "train_steps": 30,
    },
    "quick": {
        "gatys": [48, 64],
        "ref_steps": 8,
        "fast": 96,
        "arbitrary": [64],
        "train": 32,
        "train_steps": 3,
        "batch": 48,
        "batch_steps": 3,
    },
}


def _scene(w: int, h: int, seed: int) -> Image.Image:
    """A deterministic synthetic photo/painting pair when no real images are given (timings only)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.interpolate(
        torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=g), size=(h, w), mode="bicubic"
    ).clamp(0, 1)
    return Image.fromarray((x[0].permute(1, 2, 0) * 255).byte().numpy())


def _time_to(trace: list, target: float) -> float | None:
    """Seconds until the full-size objective first reaches `target` (the last scale's records only)."""
    last = trace[-1][3]
    return next((t for t, _, loss, scale in trace if scale == last and loss <= target), None)


def check_gatys(dev: torch.device, sizes: dict, weights: str | None, log: Callable[[str], None]) -> list[dict]:
    rows = []
    for side in sizes["gatys"]:
        w, h = side, side * 3 // 4
        content, style = _scene(w, h, 0), _scene(w, h, 1)
        base = dict(size=side, device=str(dev), loss_net_weights=weights, preview_every=0)
        plain = _run(
            content,
            style,
            GatysOptions(
                steps=sizes["ref_steps"],
                multiscale=False,
                precision="fp32",
                memory_format="contiguous",
                optimizer="lbfgs_torch",
                **base,
            ),
            dev,
        )
        target = plain["final_loss"] * 1.0001
        row: dict[str, Any] = {"size": f"{w}x{h}", "plain_fp32": _summary(plain), "target_loss": plain["final_loss"]}
        # tuned_eager: the device L-BFGS with its CUDA graph off (NST_CUDA_GRAPHS=0), beside tuned (graph on)
        for label, multiscale, optimizer, graphs in (
            ("tuned_torch_lbfgs", False, "lbfgs_torch", "1"), ("tuned_eager", False, "lbfgs", "0"),
            ("tuned", False, "lbfgs", "1"), ("tuned_multiscale", True, "lbfgs", "1"),
        ):  # fmt: skip
            opts = GatysOptions(steps=sizes["ref_steps"], multiscale=multiscale, optimizer=optimizer, **base)
            os.environ[GRAPHS_ENV] = graphs
            run = _run(content, style, opts, dev)
            os.environ.pop(GRAPHS_ENV)
            reached = _time_to(run["trace"], target)
            row[label] = {**_summary(run), "seconds_to_target": None if reached is None else round(reached, 3)}
        row["speedup_per_step"] = round(row["plain_fp32"]["s_per_step"] / row["tuned"]["s_per_step"], 2)
        log(
            f"gatys {w}x{h}: plain {row['plain_fp32']['s_per_step'] * 1e3:.1f} ms/step, tuned torch L-BFGS "
            f"{row['tuned_torch_lbfgs']['s_per_step'] * 1e3:.1f} ms/step, tuned device L-BFGS eager "
            f"{row['tuned_eager']['s_per_step'] * 1e3:.1f} ms/step, CUDA graph "
            f"{row['tuned']['s_per_step'] * 1e3:.1f} ms/step ({row['speedup_per_step']}x); to the {sizes['ref_steps']}"
            f"-step loss: plain {plain['seconds']:.2f} s, tuned {row['tuned']['seconds_to_target']}, multiscale "
            f"{row['tuned_multiscale']['seconds_to_target']}"
        )
        rows.append(row)
    return rows


def _summary(run: dict) -> dict:
    return {
        "seconds": round(run["seconds"], 3),
        "steps": run["steps"],
        "final_loss": round(run["final_loss"], 5),
        "s_per_step": run["seconds"] / max(run["steps"], 1),
        "peak_mb": round(run["peak_mb"], 1),
    }


def _latency(fn: Callable[[], Any], dev: torch.device, repeat: int) -> float:
    fn()
    fn()  # warm-up: cudnn autotune, compile
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / repeat


def _fast_row(arch: str, net: TransformerNet, dev: torch.device, side: int, quick: bool) -> dict:
    tuned = make_profile(dev)
    x = torch.rand(1, 3, side, side, device=dev) * 255
    net_t = TransformerNet(net.config).eval().to(dev, memory_format=tuned.memory_format)
    net_t.load_state_dict(net.state_dict())
    xt = tuned.format(x)
    compiled = torch.compile(net_t, mode="max-autotune") if dev.type == "cuda" and not quick else net_t

    @torch.inference_mode()
    def plain() -> Any:
        return net(x)

    @torch.inference_mode()
    def fast() -> Any:
        with tuned.autocast():
            return compiled(xt)

    repeat = 3 if quick else 50
    p, t = _latency(plain, dev, repeat), _latency(fast, dev, repeat)
    end_to_end = _latency(lambda: stylize_tensor(net_t, x.cpu(), profile=tuned), dev, 3 if quick else 10)
    return {
        "arch": arch,
        "size": side,
        "plain_fp32_ms": round(p * 1e3, 3),
        "tuned_ms": round(t * 1e3, 3),
        "speedup": round(p / t, 2),
        "tuned": tuned.describe() + (" + compile" if compiled is not net_t else ""),
        "end_to_end_ms_with_host_copies": round(end_to_end * 1e3, 2),
    }


def check_fast(dev: torch.device, side: int, quick: bool, log: Callable[[str], None]) -> list[dict]:
    """Network-only latency (input already on the device), fp32 eager against the tuned profile (+ compile on
    CUDA): what the GPU can do per frame, without the host copies a one-off request adds."""
    rows = []
    for arch, cfg in (("light", LIGHT), ("reference", REFERENCE)):
        r = _fast_row(arch, TransformerNet(cfg).eval().to(dev), dev, side, quick)
        rows.append(r)
        log(
            f"fast {arch} {side}x{side}: plain {r['plain_fp32_ms']:.2f} ms, tuned {r['tuned_ms']:.2f} ms "
            f"({r['speedup']}x); end to end with host copies {r['end_to_end_ms_with_host_copies']:.1f} ms"
        )
    return rows


def check_gatys_batch(dev: torch.device, sizes: dict, weights: str | None, log: Callable[[str], None]) -> dict:
    """Batched Gatys as the front ends get it, through the batcher (nst_core.batching): B requests of one size
    arriving at once, in one batch, against one request alone (the normal path), at the same steps;
    requests/s = B / the batch's wall time."""
    from bench_gatys_batch import paint_batched

    side, steps, b = sizes["batch"], sizes["batch_steps"], 8
    photos = [_scene(side, side * 3 // 4, 10 + i) for i in range(b)]
    paintings = [[_scene(side, side, 30 + i)] for i in range(b)]
    opts = GatysOptions(size=side, steps=steps, multiscale=False, device=str(dev), loss_net_weights=weights)
    times = {}
    for n in (1, b):
        paint_batched(photos[:n], paintings[:n], opts, n)  # warm-up
        times[n] = paint_batched(photos[:n], paintings[:n], opts, n)[0]
    row = {"size": f"{side}x{side * 3 // 4}", "steps": steps, "batch": b, "one_s": round(times[1], 3),
           "batch_s": round(times[b], 3), "requests_per_s": round(b / times[b], 2),
           "speedup_over_one_at_a_time": round(b * times[1] / times[b], 2)}  # fmt: skip
    log(f"gatys batch of {b} at {row['size']}, {steps} steps: {row['batch_s']} s ({row['requests_per_s']} "
        f"requests/s; one alone {row['one_s']} s)")  # fmt: skip
    return row


def check_arbitrary(dev: torch.device, side: int, quick: bool, log: Callable[[str], None]) -> dict:
    """The arbitrary method end to end through `stylize` (the paintings' statistics, the four-level cascade,
    host copies) on a side x 3/4 side photo: what one request of "any painting" costs on this device."""
    from nst_core import stylize

    photo, painting = _scene(side, side * 3 // 4, 5), _scene(side, side, 6)

    def run() -> Any:
        return stylize(photo, method="arbitrary", style_images=[painting], device=str(dev))

    ms = _latency(run, dev, 2 if quick else 10) * 1e3
    log(f"arbitrary {side}x{side * 3 // 4}: {ms:.1f} ms end to end")
    return {"size": [side, side * 3 // 4], "end_to_end_ms": round(ms, 2), "profile": make_profile(dev).describe()}


def check_train(
    dev: torch.device, sizes: dict, weights: str | None, data: Path | None, out: Path, log: Callable[[str], None]
) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    if data is None:  # a few synthetic photos: throughput does not depend on what they show
        data = out / "train_photos"
        data.mkdir(parents=True, exist_ok=True)
        for i in range(12):
            _scene(sizes["train"] + 40, sizes["train"] + 24, 10 + i).save(data / f"p{i}.png")
    style = out / "style.png"
    _scene(sizes["train"] * 2, sizes["train"] * 2, 99).save(style)
    rows = []
    for precision, fmt in (("fp32", "contiguous"), ("auto", "auto")):
        cfg = train.TrainConfig(
            style_image=str(style),
            dataset=str(data),
            name=f"gpu_check_{precision}",
            out=str(out / "styles"),
            run_dir=str(out / "runs" / precision),
            overwrite=True,
            steps=sizes["train_steps"],
            batch_size=8 if dev.type == "cuda" else 2,
            image_size=sizes["train"],
            device=str(dev),
            precision=precision,
            memory_format=fmt,
            loss_net_weights=weights or train.RANDOM_WEIGHTS,
            val_count=0,
            preview_every=0,
            checkpoint_every=0,
            preview_image="builtin",
            arch="reference",
        )
        summary = train.train(cfg)
        rows.append({"precision": precision, "memory_format": fmt, "images_per_s": round(summary["images_per_s"], 2)})
        log(f"train reference net {sizes['train']} px, {precision}/{fmt}: {summary['images_per_s']:.1f} images/s")
    return rows


def run_tests(dev: torch.device, log: Callable[[str], None]) -> dict:
    env = {**os.environ, "NST_TEST_DEVICE": dev.type}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_device.py"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    tail = done.stdout.strip().splitlines()[-1:] or [done.stderr.strip()[-300:]]
    log(f"tests on {dev.type}: {tail[0]}")
    return {"command": " ".join(cmd[2:]), "returncode": done.returncode, "summary": tail[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for gpu_check.json and gpu_check.log")
    ap.add_argument("--device", default="auto", help="auto | cuda | cpu")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and few steps (a smoke test, no figures)")
    ap.add_argument("--vgg-weights", default=os.environ.get("NST_VGG19_WEIGHTS"), help="VGG-19 weights file")
    ap.add_argument("--dataset", type=Path, help="training photos (default: synthetic)")
    ap.add_argument("--skip-tests", action="store_true", help="do not run the device-profile tests")
    a = ap.parse_args(argv)
    if not loss_net_status("vgg19", a.vgg_weights).available:  # Gatys needs it: one line before anything runs
        print(NO_VGG19, file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(a.device)
    sizes = SIZES["quick" if a.quick else "full"]
    logfile = (a.out / "gpu_check.log").open("w", encoding="utf-8")

    def log(msg: str) -> None:
        print(msg, flush=True)
        logfile.write(msg + "\n")
        logfile.flush()

    log(f"device {device_label(dev)}; torch {torch.__version__}; profile {make_profile(dev).describe()}")
    started = time.perf_counter()
    result: dict[str, Any] = {
        "device": device_label(dev),
        "torch": torch.__version__,
        "quick": a.quick,
        "profile": make_profile(dev).describe(),
    }
    result["tests"] = None if a.quick or a.skip_tests else run_tests(dev, log)
    result["gatys"] = check_gatys(dev, sizes, a.vgg_weights, log)
    result["gatys_batch"] = check_gatys_batch(dev, sizes, a.vgg_weights, log)
    result["fast"] = check_fast(dev, sizes["fast"], a.quick, log)
    result["arbitrary"] = [check_arbitrary(dev, side, a.quick, log) for side in sizes["arbitrary"]]
    result["train"] = check_train(dev, sizes, a.vgg_weights, a.dataset, a.out / "work", log)
    result["seconds"] = round(time.perf_counter() - started, 1)
    (a.out / "gpu_check.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    log(f"wrote {a.out / 'gpu_check.json'} in {result['seconds']} s")
    logfile.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
