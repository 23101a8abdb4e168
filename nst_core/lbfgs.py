"""An L-BFGS whose iterations never read the device, for Gatys on a GPU (issue #21).

torch.optim.LBFGS decides on the host: its two-loop recursion passes 0-dim tensors as `alpha=` (a device-to-host
read per stored pair, twice), and its line search and convergence tests compare tensors in Python. On a GPU every
read waits for the queue to drain, so a step costs ~23 ms whatever the picture's size. Here every decision is a
tensor: the history is a ring of fixed-size tensors indexed by the host's own iteration count, a pair with no
curvature is stored as zeros (which the recursion skips by itself), and the line search is a guarded step: each
iteration evaluates once, and a step that does not lower the objective enough (Armijo) is taken back with
`torch.where` and retried on the next iteration, shorter (quadratic interpolation, as backtracking line searches
do). The number of iterations is fixed.

Reference: Nocedal & Wright, Numerical Optimization, algorithm 7.4 (two-loop recursion) and 3.1 (Armijo).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["DeviceLBFGS"]

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

    def __init__(self, x: torch.Tensor, history: int = 50, lr: float = 1.0, *, batched: bool = False) -> None:
        self.rows = x.shape[0] if batched else 1
        n = x.numel() // self.rows
        self.x, self.history, self.lr, self.batched = x, history, lr, batched
        self.s, self.y = x.new_zeros(history, self.rows, n), x.new_zeros(history, self.rows, n)
        self.rho = x.new_zeros(history, self.rows)
        self.gamma = x.new_ones(self.rows)
        self.active = torch.ones(self.rows, dtype=torch.bool, device=x.device)
        self.pairs = 0  # host-side count of iterations that offered a pair (the ring's write position)
        self.x_prev: torch.Tensor | None = None
        self.g_prev = self.d = self.f_prev = self.t = None

    def freeze(self, rows: torch.Tensor) -> None:
        """Rows (a bool mask) that stop moving from now on: a cancelled request in a batch."""
        self.active = self.active & ~rows.to(self.active.device)

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion over the stored pairs, newest first (zero pairs add nothing)."""
        used = min(self.pairs, self.history)
        order = [(self.pairs - 1 - i) % self.history for i in range(used)]
        q, alphas = g.clone(), []
        for j in order:
            a = self.rho[j] * _dot(self.s[j], q)
            q -= a[:, None] * self.y[j]
            alphas.append(a)
        r = self.gamma[:, None] * q
        for j, a in zip(reversed(order), reversed(alphas), strict=True):
            b = self.rho[j] * _dot(self.y[j], r)
            r += (a - b)[:, None] * self.s[j]
        return -r

    @torch.no_grad()
    def _first(self, f: torch.Tensor, g: torch.Tensor) -> None:
        self.x_prev, self.g_prev, self.f_prev = self.x.detach().reshape(self.rows, -1).clone(), g.clone(), f
        self.d = -g
        # Half a Newton step if f were a quadratic with minimum 0 (f / |g|^2): scale-free, unlike torch's
        # min(1, 1/|g|_1), whose first step is too short to matter without its line search extrapolating.
        self.t = (f.abs() / _dot(g, g).clamp_min(1e-30)).clamp(max=1e6) * self.lr

    @torch.no_grad()
    def _next(self, f: torch.Tensor, g: torch.Tensor) -> None:
        x = self.x.detach().reshape(self.rows, -1)
        ok = torch.isfinite(f) & (f <= self.f_prev + _ARMIJO * self.t * _dot(self.g_prev, self.d)) & self.active
        s, y = x - self.x_prev, g - self.g_prev
        ys = _dot(y, s)
        keep = ok & (ys > _CURVATURE_EPS)
        slot = self.pairs % self.history
        self.s[slot] = torch.where(keep[:, None], s, 0.0)
        self.y[slot] = torch.where(keep[:, None], y, 0.0)
        self.rho[slot] = torch.where(keep, 1.0 / ys.where(keep, 1.0), 0.0)
        self.gamma = torch.where(keep, ys / _dot(y, y).clamp_min(1e-30), self.gamma)
        self.pairs += 1
        self.x_prev = torch.where(ok[:, None], x, self.x_prev)
        self.g_prev = torch.where(ok[:, None], g, self.g_prev)
        self.f_prev = torch.where(ok, f, self.f_prev)
        self.d = torch.where(ok[:, None], self._direction(self.g_prev), self.d)
        self.t = torch.where(ok, self.t.new_tensor(self.lr), self._backtrack(f, ok))

    def _backtrack(self, f: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        """The minimiser of the quadratic through f(0), f'(0) and f(t) along the rejected step, kept within
        [t/10, t/2] (a non-finite f gives t/10)."""
        gd = _dot(self.g_prev, self.d)  # f'(0) < 0 along a descent direction
        t = self.t
        rise = (f - self.f_prev - gd * t).where(~ok & torch.isfinite(f), 1.0)
        interpolated = torch.where(rise > 0, -gd * t * t / (2 * rise), 0.1 * t)
        return interpolated.clamp(min=0.1 * t, max=0.5 * t)

    def best(self) -> torch.Tensor:
        """The last point whose evaluation was accepted (the candidate after it has not been evaluated)."""
        return self.x.detach() if self.x_prev is None else self.x_prev.view_as(self.x)

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate at the current point, update the memory, move to the next point; returns the loss there
        (one per row when batched)."""
        f = closure().detach().reshape(self.rows).to(self.s.dtype)
        g = self.x.grad.detach().reshape(self.rows, -1).to(self.s.dtype)
        if self.x_prev is None:
            self._first(f, g)
        else:
            self._next(f, g)
        with torch.no_grad():
            t = torch.where(self.active, self.t, 0.0)  # frozen rows stay at their last accepted point
            self.x.copy_((self.x_prev + t[:, None] * self.d).view_as(self.x))
        return f
