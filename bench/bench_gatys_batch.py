"""Batched Gatys through the batcher (nst_core.batching): requests/s when N requests of one size arrive at once and
run in batches of 1 (each alone, the normal path: what NST_GATYS_BATCH=1 gives), 2 or 4.

Why: batching pays where a step is bound by the host (a GPU); on a CPU a step's cost grows with the pixels, so
batches should give nothing there, which is why NST_GATYS_BATCH defaults to 1 on a CPU. This measures that claim.

    python bench/bench_gatys_batch.py --size 64 --steps 20 --requests 4 --batches 1,2,4 --threads 1 \\
        --json bench/gatys_batch_cpu.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from bench_fast import _cpu_name  # noqa: E402

from nst_core.batching import GatysBatcher  # noqa: E402
from nst_core.device import resolve_device  # noqa: E402
from nst_core.gatys import GatysOptions  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def scene(w: int, h: int, seed: int) -> Image.Image:
    """Smooth colour fields with noise: photo-like content without any data files."""
    rng = np.random.default_rng(seed)
    low = Image.fromarray(rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8), "RGB").resize((w, h), Image.BICUBIC)
    arr = np.asarray(low, dtype=float) + rng.normal(0, 10, (h, w, 3))
    return Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")


def paint_batched(photos: Sequence[Image.Image], paintings: Sequence[Sequence[Image.Image]], opts: GatysOptions,
                  batch: int) -> tuple[float, float]:  # fmt: skip
    """(wall, CPU) seconds to paint every photo when all arrive at once and the batcher takes `batch` a batch.
    The CPU time is the process's, every thread's: on a shared machine it is the fairer figure."""
    batcher = GatysBatcher(batch, window_s=5.0)  # a batch starts as soon as it is full; the last may wait
    try:
        if opts.device.startswith("cuda"):
            torch.cuda.synchronize()
        start, cpu = time.perf_counter(), time.process_time()
        futures = [batcher.submit(p, s, opts) for p, s in zip(photos, paintings, strict=True)]
        for f in futures:
            f.result()
        if opts.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        batcher.close()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--requests", type=int, default=4, help="requests arriving at once (a multiple of each batch)")
    ap.add_argument("--batches", default="1,2,4")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=2, help="runs per batch size; the best is kept")
    ap.add_argument("--vgg-weights", default=str(DATA / "pretrained" / "vgg19_caffe_imagenet_conv.pth"))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = resolve_device(a.device)
    w, h = a.size, a.size * 3 // 4
    photos = [scene(w, h, i) for i in range(a.requests)]
    paintings = [[scene(a.size, a.size, 100 + i)] for i in range(a.requests)]
    opts = GatysOptions(size=a.size, steps=a.steps, multiscale=False, device=str(dev), precision=a.precision,
                        loss_net_weights=a.vgg_weights, preview_every=0)  # fmt: skip
    paint_batched(photos[:1], paintings[:1], opts, 1)  # warm-up: the loss network loaded, kernels chosen
    batches = [int(b) for b in a.batches.split(",")]
    best = {b: (float("inf"), float("inf")) for b in batches}
    for _ in range(a.repeat):  # interleaved, so a neighbour's load falls on every batch size alike
        for batch in batches:
            wall, cpu = paint_batched(photos, paintings, opts, batch)
            best[batch] = (min(best[batch][0], wall), min(best[batch][1], cpu))
    rows = []
    for batch, (wall, cpu) in best.items():
        n = a.requests
        rows.append({"batch": batch, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                     "requests_per_s": round(n / wall, 3), "requests_per_cpu_s": round(n / cpu, 3)})  # fmt: skip
        print(f"batch {batch}: {n} requests of {w}x{h}, {a.steps} steps: {wall:.2f} s wall ({n / wall:.3f} "
              f"requests/s), {cpu:.2f} CPU-s ({n / cpu:.3f} requests/CPU-s)", flush=True)  # fmt: skip
    result = {"device": str(dev), "cpu": _cpu_name(), "threads": a.threads,
              "size": f"{w}x{h}", "steps": a.steps, "requests": a.requests, "precision": a.precision,
              "rows": rows}  # fmt: skip
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
