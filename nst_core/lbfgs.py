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


class DeviceLBFGS:
    """Minimise `closure()` (which sets `x.grad` and returns the loss) over the tensor `x`, one evaluation per
    `step`. Nothing is read back to the host: no `.item()`, `float()` or tensor truthiness."""

    def __init__(self, x: torch.Tensor, history: int = 50, lr: float = 1.0) -> None:
        n = x.numel()
        self.x, self.history, self.lr = x, history, lr
        z = torch.zeros((), dtype=x.dtype, device=x.device)
        self.s, self.y = x.new_zeros(history, n), x.new_zeros(history, n)
        self.rho = x.new_zeros(history)
        self.gamma = z + 1.0
        self.pairs = 0  # host-side count of iterations that offered a pair (the ring's write position)
        self.x_prev: torch.Tensor | None = None
        self.g_prev = self.d = self.f_prev = self.t = None

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion over the stored pairs, newest first (zero pairs add nothing)."""
        used = min(self.pairs, self.history)
        order = [(self.pairs - 1 - i) % self.history for i in range(used)]
        q, alphas = g.clone(), []
        for j in order:
            a = self.rho[j] * torch.dot(self.s[j], q)
            q -= a * self.y[j]
            alphas.append(a)
        r = self.gamma * q
        for j, a in zip(reversed(order), reversed(alphas), strict=True):
            b = self.rho[j] * torch.dot(self.y[j], r)
            r += (a - b) * self.s[j]
        return -r

    @torch.no_grad()
    def _first(self, f: torch.Tensor, g: torch.Tensor) -> None:
        self.x_prev, self.g_prev, self.f_prev = self.x.detach().flatten().clone(), g.clone(), f
        self.d = -g
        # Half a Newton step if f were a quadratic with minimum 0 (f / |g|^2): scale-free, unlike torch's
        # min(1, 1/|g|_1), whose first step is too short to matter without its line search extrapolating.
        self.t = (f.abs() / torch.dot(g, g).clamp_min(1e-30)).clamp(max=1e6) * self.lr

    @torch.no_grad()
    def _next(self, f: torch.Tensor, g: torch.Tensor) -> None:
        x = self.x.detach().flatten()
        ok = torch.isfinite(f) & (f <= self.f_prev + _ARMIJO * self.t * torch.dot(self.g_prev, self.d))
        s, y = x - self.x_prev, g - self.g_prev
        ys = torch.dot(y, s)
        keep = ok & (ys > _CURVATURE_EPS)
        slot = self.pairs % self.history
        self.s[slot] = torch.where(keep, s, 0.0)
        self.y[slot] = torch.where(keep, y, 0.0)
        self.rho[slot] = torch.where(keep, 1.0 / ys.where(keep, 1.0), 0.0)
        self.gamma = torch.where(keep, ys / torch.dot(y, y).clamp_min(1e-30), self.gamma)
        self.pairs += 1
        self.x_prev = torch.where(ok, x, self.x_prev)
        self.g_prev = torch.where(ok, g, self.g_prev)
        self.f_prev = torch.where(ok, f, self.f_prev)
        self.d = torch.where(ok, self._direction(self.g_prev), self.d)
        self.t = torch.where(ok, self.t.new_tensor(self.lr), self._backtrack(f, ok))

    def _backtrack(self, f: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
        """The minimiser of the quadratic through f(0), f'(0) and f(t) along the rejected step, kept within
        [t/10, t/2] (a non-finite f gives t/10)."""
        gd = torch.dot(self.g_prev, self.d)  # f'(0) < 0 along a descent direction
        t = self.t
        rise = (f - self.f_prev - gd * t).where(~ok & torch.isfinite(f), 1.0)
        interpolated = torch.where(rise > 0, -gd * t * t / (2 * rise), 0.1 * t)
        return interpolated.clamp(min=0.1 * t, max=0.5 * t)

    def best(self) -> torch.Tensor:
        """The last point whose evaluation was accepted (the candidate after it has not been evaluated)."""
        return self.x.detach() if self.x_prev is None else self.x_prev.view_as(self.x)

    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        """Evaluate at the current point, update the memory, move to the next point; returns the loss there."""
        f = closure().detach()
        g = self.x.grad.detach().flatten().to(self.s.dtype)
        if self.x_prev is None:
            self._first(f, g)
        else:
            self._next(f, g)
        with torch.no_grad():
            self.x.copy_((self.x_prev + self.t * self.d).view_as(self.x))
        return f
