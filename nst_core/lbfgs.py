"""An L-BFGS whose iterations never read the device, for Gatys on a GPU (issue #21).

torch.optim.LBFGS decides on the host: its two-loop recursion passes 0-dim tensors as `alpha=` (a device-to-host
read per stored pair, twice), and its line search and convergence tests compare tensors in Python. On a GPU every
read waits for the queue to drain, so a step costs ~23 ms whatever the picture's size. Here every decision is a
tensor: the history is a ring of fixed-size tensors written in place at a slot the device counts, a pair with no
curvature is stored as zeros (which the direction skips by itself), and the line search is a guarded step: each
iteration evaluates once, and a step that does not lower the objective enough (Armijo) is taken back with
`torch.where` and retried on the next iteration, shorter (quadratic interpolation, as backtracking line searches
do). The number of iterations is fixed.

With `bounds`, every trial point is projected into the box, and the sufficient-decrease test and the backtracking
use the slope along the step actually taken. For Gatys the box is 0-1: every result is handed back as a 0-1
picture, and an unconstrained L-BFGS walks a few percent of the pixels out of range, so the picture delivered is
not the point it optimised (measured: 6-8% higher objective at 192 px once clamped; bench/RESULTS.md). The pairs
stay true secant pairs, since they are taken from the points actually evaluated.

The direction is the compact form of the L-BFGS matrix (Byrd, Nocedal & Schnabel 1994), not the two-loop recursion:
the pairs' inner products are kept as small m x m matrices, updated by one row and column per step, so a step is a
handful of batched matrix products and one triangular solve, whatever the history. The two-loop recursion launches
four small kernels per stored pair (about 200 at the default history of 50, which on a GPU costs as much as the
network), and walks the ring in an order the host must know. Every tensor of the state keeps its storage from step
to step, and no step depends on a host value, so a step can be captured in a CUDA graph and replayed.

Reference: Nocedal & Wright, Numerical Optimization, eq. 7.24 (compact form), algorithm 3.1 (Armijo), 16.7
(projection onto a box).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch

__all__ = ["GRAPHS_ENV", "DeviceLBFGS", "Stepper"]

log = logging.getLogger(__name__)
GRAPHS_ENV = "NST_CUDA_GRAPHS"  # 0: never capture (an operator's way out should a driver misbehave)
WARMUP_STEPS = 3  # eager steps before the capture, as torch's CUDA-graph notes ask (allocator, cuDNN autotune)

_ARMIJO = 1e-4  # sufficient-decrease constant c1
_CURVATURE_EPS = 1e-10


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1)


class DeviceLBFGS:
    """Minimise `closure()` (which sets `x.grad` and returns the loss) over the tensor `x`, one evaluation per
    `step`. Nothing is read back to the host: no `.item()`, `float()` or tensor truthiness.

    With `batched=True`, each row of `x` (its first dimension) is its own problem: the closure returns one loss
    per row, and every scalar of the method (step length, curvature pairs, acceptance) is kept per row, so a
    batch of pictures is optimised as each would be alone. `freeze(rows)` stops some rows where they are."""

    def __init__(
        self,
        x: torch.Tensor,
        history: int = 50,
        lr: float = 1.0,
        *,
        batched: bool = False,
        bounds: tuple[float, float] | None = None,
    ) -> None:
        rows = x.shape[0] if batched else 1
        n, m = x.numel() // rows, history
        self.x, self.rows, self.history, self.lr, self.batched = x, rows, history, lr, batched
        self.bounds = bounds
        zeros = x.new_zeros
        self.s, self.y = zeros(m, rows, n), zeros(m, rows, n)  # the ring of pairs, by slot
        self.sy, self.yy = zeros(rows, m, m), zeros(rows, m, m)  # s_i.y_j and y_i.y_j, by slot
        self.stamp = torch.full((m,), -1, dtype=torch.long, device=x.device)  # when each slot was written
        self.count = torch.zeros((), dtype=torch.long, device=x.device)  # pairs offered so far (rejected too)
        self.gamma = x.new_ones(rows)
        self.active = torch.ones(rows, dtype=torch.bool, device=x.device)
        self.x_prev, self.g_prev, self.d = zeros(rows, n), zeros(rows, n), zeros(rows, n)
        self.f_prev, self.t = zeros(rows), zeros(rows)
        self.started = False

    def freeze(self, rows: torch.Tensor) -> None:
        """Rows (a bool mask) that stop moving from now on: a cancelled request in a batch."""
        self.active.copy_(self.active & ~rows.to(self.active.device))

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g with H the compact L-BFGS matrix of the stored pairs (N&W 7.24), H0 = gamma I; a zero pair (an
        empty slot, a rejected step, no curvature) adds nothing."""
        order = torch.argsort(self.stamp)  # oldest first; never-written slots (-1) first, and zero anyway
        back = torch.argsort(order)
        sy = self.sy.index_select(1, order).index_select(2, order)
        yy = self.yy.index_select(1, order).index_select(2, order)
        diag = sy.diagonal(dim1=1, dim2=2)
        empty = diag == 0
        r = torch.triu(sy) + torch.diag_embed(empty.to(sy.dtype))  # an empty pair's row and column are zero
        gamma = self.gamma[:, None]
        p1 = torch.einsum("hrn,rn->rh", self.s, g).index_select(1, order)
        p2 = gamma * torch.einsum("hrn,rn->rh", self.y, g).index_select(1, order)
        v = torch.linalg.solve_triangular(r, p1[..., None], upper=True)
        w = (torch.diag_embed(diag) + gamma[..., None] * yy) @ v - p2[..., None]
        top = torch.linalg.solve_triangular(r.transpose(1, 2), w, upper=False)
        top, v = top[..., 0].index_select(1, back), v[..., 0].index_select(1, back)
        hg = gamma * g + torch.einsum("hrn,rh->rn", self.s, top) - gamma * torch.einsum("hrn,rh->rn", self.y, v)
        return -hg

    @torch.no_grad()
    def _first(self, f: torch.Tensor, g: torch.Tensor) -> None:
        self.x_prev.copy_(self.x.detach().reshape(self.rows, -1))
        self.g_prev.copy_(g)
        self.f_prev.copy_(f)
        self.d.copy_(-g)
        # Half a Newton step if f were a quadratic with minimum 0 (f / |g|^2): scale-free, unlike torch's
        # min(1, 1/|g|_1), whose first step is too short to matter without its line search extrapolating.
        self.t.copy_((f.abs() / _dot(g, g).clamp_min(1e-30)).clamp(max=1e6) * self.lr)

    @torch.no_grad()
    def _next(self, f: torch.Tensor, g: torch.Tensor) -> None:
        x = self.x.detach().reshape(self.rows, -1)
        s, y = x - self.x_prev, g - self.g_prev
        slope = _dot(self.g_prev, s)  # f'(0) t along the step taken: t d, or its projection into the bounds
        ok = torch.isfinite(f) & (slope < 0) & (f <= self.f_prev + _ARMIJO * slope) & self.active
        ys = _dot(y, s)
        keep = ok & (ys > _CURVATURE_EPS)
        self._store(torch.where(keep[:, None], s, 0.0), torch.where(keep[:, None], y, 0.0))
        self.gamma.copy_(torch.where(keep, ys / _dot(y, y).clamp_min(1e-30), self.gamma))
        self.x_prev.copy_(torch.where(ok[:, None], x, self.x_prev))
        self.g_prev.copy_(torch.where(ok[:, None], g, self.g_prev))
        self.f_prev.copy_(torch.where(ok, f, self.f_prev))
        self.d.copy_(torch.where(ok[:, None], self._direction(self.g_prev), self.d))
        self.t.copy_(torch.where(ok, torch.full_like(self.t, self.lr), self._backtrack(f, slope, ok)))  # no host copy

    def _store(self, s: torch.Tensor, y: torch.Tensor) -> None:
        """The pair at the ring's next slot, and its row and column of the inner products."""
        slot = (self.count % self.history).view(1)
        self.s.index_copy_(0, slot, s[None])
        self.y.index_copy_(0, slot, y[None])
        self.sy.index_copy_(1, slot, torch.einsum("rn,hrn->rh", s, self.y)[:, None])  # s_new . y_j
        self.sy.index_copy_(2, slot, torch.einsum("hrn,rn->rh", self.s, y)[..., None])  # s_i . y_new
        yy = torch.einsum("rn,hrn->rh", y, self.y)
        self.yy.index_copy_(1, slot, yy[:, None])
        self.yy.index_copy_(2, slot, yy[..., None])
        self.stamp.index_copy_(0, slot, self.count.view(1))
        self.count.add_(1)

    def _backtrack(self, f: torch.Tensor, slope: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        """The minimiser of the quadratic through f(0), the slope and f(t) along the rejected step, kept within
        [t/10, t/2] (a non-finite f, or a projected step that does not descend, gives t/10)."""
        t = self.t
        rise = (f - self.f_prev - slope).where(~ok & torch.isfinite(f), 1.0)
        interpolated = torch.where((rise > 0) & (slope < 0), -slope * t / (2 * rise), 0.1 * t)
        return interpolated.clamp(min=0.1 * t, max=0.5 * t)

    def best(self) -> torch.Tensor:
        """The last point whose evaluation was accepted (the candidate after it has not been evaluated)."""
        return self.x_prev.view_as(self.x) if self.started else self.x.detach()

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate at the current point, update the memory, move to the next point; returns the loss there
        (one per row when batched)."""
        f = closure().detach().reshape(self.rows).to(self.s.dtype)
        g = self.x.grad.detach().reshape(self.rows, -1).to(self.s.dtype)
        if self.started:
            self._next(f, g)
        else:
            self._first(f, g)
            self.started = True
        with torch.no_grad():
            t = torch.where(self.active, self.t, 0.0)  # frozen rows stay at their last accepted point
            trial = self.x_prev + t[:, None] * self.d
            if self.bounds is not None:  # projected: the pairs are taken from the points actually evaluated
                trial = trial.clamp(*self.bounds)
            self.x.copy_(trial.view_as(self.x))
        return f


class Stepper:
    """`optim.step(closure)`, once per call. On CUDA the step (the closure's forward and backward, and the
    optimiser's update) is captured in a CUDA graph after WARMUP_STEPS eager steps and then replayed: a step then
    costs the GPU's time, not the host's kernel launches. Elsewhere, or when the capture fails (logged once), every
    call runs eagerly.

    The closure runs in Python only while eager or being captured: what it records (the loss terms) must be the
    tensors a replay rewrites in place, which is what a replay leaves in them."""

    def __init__(self, optim: DeviceLBFGS, closure: Callable[[], torch.Tensor]) -> None:
        self.optim, self.closure, self.calls = optim, closure, 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None
        self.capture = optim.x.is_cuda and os.environ.get(GRAPHS_ENV, "1").strip() != "0"

    def __call__(self) -> torch.Tensor:
        self.calls += 1
        if self.graph is not None:
            self.graph.replay()
            return self.loss
        if self.capture and self.calls > WARMUP_STEPS:
            self._capture()
            if self.graph is not None:
                self.graph.replay()
                return self.loss
        return self._eager()

    def _eager(self) -> torch.Tensor:
        if not self.capture:
            return self.optim.step(self.closure)
        side = torch.cuda.Stream()  # warm-up off the default stream, as a capture requires
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            loss = self.optim.step(self.closure)
        torch.cuda.current_stream().wait_stream(side)
        return loss

    def _capture(self) -> None:
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.loss = self.optim.step(self.closure)
        except RuntimeError as e:  # an operation that cannot be captured: run eagerly from now on
            log.warning("CUDA-graph capture of the L-BFGS step failed; running eagerly: %s", e)
            self.capture = False
            return
        self.graph = graph
