"""VGG-19 (to relu5_1) forward + backward on the CPU: fp32 against bf16 autocast, contiguous against channels_last.

The training and Gatys cost is dominated by this pass, so it says whether `precision="auto"` should pick bf16 on a
given CPU (AMX, AVX-512 BF16 without AMX, or neither). Best of `--repeat` after one warm-up, one thread by default.

    OMP_NUM_THREADS=1 python bench/bench_lossnet_precision.py \
        --weights ../shared/data/pretrained/vgg19_caffe_imagenet_conv.pth
"""

from __future__ import annotations

import argparse
import time

import torch

from nst_core.device import cpu_model, cpu_native_bf16
from nst_core.lossnets import load_loss_net


def seconds_per_pass(net: torch.nn.Module, size: int, bf16: bool, channels_last: bool, repeat: int) -> float:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    x = torch.rand(1, 3, size, size).contiguous(memory_format=fmt).requires_grad_(True)
    best = float("inf")
    for i in range(repeat + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x, ["relu5_1"])["relu5_1"]
        out.float().pow(2).mean().backward()
        if i:  # the first pass warms up the kernels
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="VGG-19 weights file (default: the usual lookup, hub cache or download)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    net = load_loss_net("vgg19", a.weights, layers=["relu5_1"])
    print(f"{cpu_model()} (native bf16: {cpu_native_bf16()}), {a.threads} thread(s), {a.size}x{a.size}")
    base = None
    for bf16, cl in ((False, False), (False, True), (True, False), (True, True)):
        s = seconds_per_pass(net, a.size, bf16, cl, a.repeat)
        base = base or s
        print(f"{'bf16' if bf16 else 'fp32'} {'channels_last' if cl else 'contiguous':<14} {s:.3f} s  {base / s:.2f}x")


if __name__ == "__main__":
    main()
