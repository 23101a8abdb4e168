"""The device L-BFGS's direction: the two-loop recursion it used until f4d978d against the compact form it uses
now (issue #21), side by side in one run: milliseconds per optimiser step and aten operations per step (each a
kernel launch on a GPU, where launches bound a small step), with the ring of 50 pairs full.

The closure is a cheap quadratic, so the figures are the optimiser's own. The old code is read from git.

    OMP_NUM_THREADS=1 python bench/bench_lbfgs_direction.py --threads 1
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from nst_core.device import cpu_model  # noqa: E402
from nst_core.lbfgs import DeviceLBFGS  # noqa: E402


def old_class(commit: str) -> type:
    source = subprocess.run(["git", "show", f"{commit}:nst_core/lbfgs.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "two_loop_lbfgs.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("two_loop_lbfgs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DeviceLBFGS


def measure(cls: type, side: int, history: int) -> tuple[float, int]:
    target = torch.rand(1, 3, side * 3 // 4, side, generator=torch.Generator().manual_seed(0))
    x = torch.zeros_like(target).requires_grad_(True)
    opt = cls(x, history=history)

    def closure() -> torch.Tensor:
        x.grad = None
        f = ((x - target) ** 2).sum() + 0.1 * ((x[..., 1:] - x[..., :-1]) ** 2).sum()
        f.backward()
        return f

    for _ in range(history + 5):  # the ring full
        opt.step(closure)
    start = time.perf_counter()
    for _ in range(10):
        opt.step(closure)
    seconds = (time.perf_counter() - start) / 10
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        opt.step(closure)
    return seconds, sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--old", default="f4d978d", help="the commit whose nst_core/lbfgs.py is the two-loop one")
    parser.add_argument("--history", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{cpu_model()}, {args.threads} thread(s), history {args.history}")
    print("| size | two-loop ms/step | compact ms/step | two-loop aten ops/step | compact aten ops/step |")
    print("|---|---|---|---|---|")
    old = old_class(args.old)
    for side in (64, 256, 512):
        (t_old, n_old), (t_new, n_new) = measure(old, side, args.history), measure(DeviceLBFGS, side, args.history)
        print(f"| {side}x{side * 3 // 4} | {t_old * 1e3:.1f} | {t_new * 1e3:.1f} | {n_old} | {n_new} |")


if __name__ == "__main__":
    main()
