"""The whitening-colouring transform (WCT, Li et al. 2017) as one affine map per level.

Whitening removes the content features' own correlations (what makes a photo look like a photo, texture-wise)
and colouring gives them the painting's, while the spatial layout stays. Written as `A f + b`, the map is the same
for every pixel, so a picture painted in tiles gets exactly the map the whole picture would (the statistics are
summed over tiles first), several paintings blend by mixing their maps, and `strength` mixes the map with the
identity. Statistics and eigen-decompositions are float64: covariance spectra span many decades.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["FeatureStats", "affine_map", "apply_map", "feature_stats"]

_EPS = 1e-5  # eigenvalues below EPS x the largest are treated as that floor (Li et al. drop those under 1e-5)


@dataclass
class FeatureStats:
    """Sums that give a feature map's mean and covariance; they add up over tiles and frames."""

    total: torch.Tensor  # (C,) float64, sum of features
    outer: torch.Tensor  # (C, C) float64, sum of outer products
    count: int

    def __add__(self, other: FeatureStats) -> FeatureStats:
        return FeatureStats(self.total + other.total, self.outer + other.outer, self.count + other.count)

    @property
    def mean(self) -> torch.Tensor:
        return self.total / self.count

    @property
    def cov(self) -> torch.Tensor:
        m = self.mean
        return self.outer / self.count - torch.outer(m, m)


def feature_stats(f: torch.Tensor, weight: torch.Tensor | None = None) -> FeatureStats:
    """Statistics of a (1, C, H, W) feature map, optionally weighted per pixel by `weight` (1, 1, H, W)."""
    x = f.detach().to(torch.float64).flatten(2)[0]  # (C, HW)
    if weight is None:
        return FeatureStats(x.sum(1), x @ x.T, x.shape[1])
    w = weight.detach().to(torch.float64).flatten()
    return FeatureStats((x * w).sum(1), (x * w) @ x.T, float(w.sum()))


def _sym_power(cov: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov)
    floor = values.max().clamp_min(1e-12) * _EPS
    return (vectors * values.clamp_min(floor).pow(power)) @ vectors.T


def affine_map(
    content: FeatureStats, styles: Sequence[FeatureStats], blend: Sequence[float], strength: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, b) such that A f + b whitens `content`'s features and colours them with the blended paintings'
    statistics, mixed with the identity by `strength` (0 = the content's features unchanged)."""
    whiten = _sym_power(content.cov, -0.5)
    mu_c = content.mean
    n = content.cov.shape[0]
    total = float(sum(blend))
    a = torch.zeros(n, n, dtype=torch.float64)
    b = torch.zeros(n, dtype=torch.float64)
    for stats, w in zip(styles, blend, strict=True):
        colour = _sym_power(stats.cov, 0.5) @ whiten
        a += (w / total) * colour
        b += (w / total) * (stats.mean - colour @ mu_c)
    eye = torch.eye(n, dtype=torch.float64)
    return strength * a + (1 - strength) * eye, strength * b


def apply_map(f: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A f + b on a (N, C, H, W) feature map, as a 1x1 convolution in the map's dtype."""
    weight = a.to(f.dtype).reshape(*a.shape, 1, 1)
    return torch.nn.functional.conv2d(f, weight.to(f.device), b.to(device=f.device, dtype=f.dtype))
