"""Time fast (feed-forward) stylisation: reference-size vs light TransformerNet, at several sizes.

Random weights (the compute is the same as a trained style's), square RGB inputs, through the same
`stylize_tensor` path run_fast uses. Prints a table and optionally writes JSON.

    python bench/bench_fast.py --device cpu --sizes 256,512,1024 --repeat 5 --json bench/fast_cpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nst_core.device import enable_fast_math, make_profile, resolve_device
from nst_core.fast.inference import stylize_tensor
from nst_core.fast.transformer_net import LIGHT, REFERENCE, TransformerNet

NETS = {"reference": REFERENCE, "light": LIGHT}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"{_cpu_name()} ({torch.get_num_threads()} threads)"
    return device.type


def bench_one(net: TransformerNet, size: int, device: torch.device, precision: str, repeat: int) -> dict:
    x = torch.rand(1, 3, size, size) * 255
    profile = make_profile(device, precision)
    stylize_tensor(net, x, profile=profile)  # warm-up (allocator, cuDNN autotune)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        stylize_tensor(net, x, profile=profile)
        times.append(time.perf_counter() - t)
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", help="auto|cpu|cuda|mps (default auto)")
    ap.add_argument("--sizes", default="256,512,1024", help="comma-separated square sizes in px")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per cell (median reported)")
    ap.add_argument("--precisions", default="auto", help="comma-separated: auto,fp32,bf16,fp16")
    ap.add_argument("--nets", default="reference,light", help=f"comma-separated from {','.join(NETS)}")
    ap.add_argument("--json", type=Path, default=None, help="write results here")
    args = ap.parse_args(argv)

    device = resolve_device(args.device)
    enable_fast_math(device)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    rows = []
    print(f"device: {_device_name(device)}   torch {torch.__version__}   repeat {args.repeat} (median)")
    print(f"{'net':<10} {'channels':<14} {'params':>9} {'precision':<9} " + " ".join(f"{s:>8}px" for s in sizes))
    for name in nets:
        config = NETS[name]
        torch.manual_seed(0)
        net = TransformerNet(config).eval().requires_grad_(False).to(device)
        if device.type == "cuda":
            net = net.to(memory_format=torch.channels_last)
        for precision in precisions:
            dtype = make_profile(device, precision).dtype
            cells = []
            for size in sizes:
                r = bench_one(net, size, device, precision, args.repeat)
                rows.append(
                    {
                        "net": name,
                        "channels": list(config.channels),
                        "n_residual": config.n_residual,
                        "parameters": net.num_parameters,
                        "precision": precision,
                        "compute_dtype": str(dtype or torch.float32).replace("torch.", ""),
                        "size": size,
                        **r,
                    }
                )
                cells.append(f"{r['median_s']:>8.3f}s ")
            label = f"{precision}({str(dtype or torch.float32).replace('torch.', '')})"
            print(f"{name:<10} {config.channels!s:<14} {net.num_parameters:>9} {label:<9} " + " ".join(cells))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "device": _device_name(device),
            "torch": torch.__version__,
            "repeat": args.repeat,
            "results": rows,
        }
        args.json.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
