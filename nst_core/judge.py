"""Score a stylised image, so any two methods or trainings can be compared on one scale.

Two scores, both computed under a frozen loss network (the benchmarks and tests pass the Caffe VGG-19):

- `objective`: the terms of the objective Gatys minimises (content at the network's content layers, Gram-matrix
  style at its style layers, each normalised as in `losses.PerceptualLoss`, weighted by the network's defaults).
  The painting is resized to the judged image's long side, as Gatys does at that size, and the photo to its size.
- `structure`: how much of the photo's layout survives (lower keeps more). The relu4_2 content term misses
  hatching and tiling that bury a photo; a self-similarity measure sees it, because it compares which parts of
  the image resemble which other parts, not the features themselves (so a change of colour and texture alone
  costs little, and a repeated pattern laid over everything costs a lot). This is the CFSD measure of StyleID's
  evaluation, with every choice pinned down so figures are comparable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from .images import pil_to_tensor, resize_long_side
from .losses import PerceptualLoss
from .lossnets import get_spec, load_loss_net

STRUCTURE_LAYER = "relu3_1"
STRUCTURE_SIZE = 256  # both images' long side before the loss network
STRUCTURE_GRID = 32  # features average-pooled to GRID x GRID positions
STRUCTURE_TEMPERATURE = 0.1


def _criterion(loss_net: str, weights: str | os.PathLike | None) -> PerceptualLoss:
    spec = get_spec(loss_net)
    return PerceptualLoss.from_spec(load_loss_net(loss_net, weights, layers=spec.content_layers + spec.style_layers))


def _one_size(images: Sequence[Image.Image]) -> tuple[int, int]:
    sizes = {image.size for image in images}
    if len(sizes) != 1:
        raise ValueError(f"the judged images must share one size, got {sorted(sizes)}")
    return sizes.pop()


def objective(
    image: Image.Image,
    content: Image.Image,
    style: Image.Image,
    *,
    loss_net: str = "vgg19",
    weights: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Terms of the Gatys objective for `image` (lower is better): total, content, style and tv."""
    return objectives([image], content, style, loss_net=loss_net, weights=weights)[0]


class PaintingJudge:
    """One loss network and one painting, for judging many pictures against it: the painting's Gram targets are
    computed once per long side (a bar judges a style on 12 photos, which all share the painting's targets)."""

    def __init__(self, painting: Image.Image, *, loss_net: str = "vgg19", weights: str | os.PathLike | None = None):
        self.painting, self.crit = painting, _criterion(loss_net, weights)
        self._targets: dict[int, tuple[dict, dict]] = {}

    def objectives(self, images: Sequence[Image.Image], content: Image.Image) -> list[dict[str, float]]:
        """`objective` of each of `images` (one size) against the photo `content` and the painting; the
        photo's content targets are computed once too."""
        size = _one_size(images)
        self._use_side(max(size))
        targets = self.crit.content_targets(pil_to_tensor(content.resize(size, Image.Resampling.LANCZOS)))
        rows = []
        with torch.no_grad():
            for image in images:
                total, terms = self.crit(pil_to_tensor(image), targets)
                rows.append({"total": float(total), **{k: float(v) for k, v in terms.items()}})
        return rows

    def _use_side(self, side: int) -> None:
        if side not in self._targets:
            self.crit.set_style([pil_to_tensor(resize_long_side(self.painting, side))])
            self._targets[side] = (self.crit.style_targets, self.crit.style_scales)
        self.crit.style_targets, self.crit.style_scales = self._targets[side]


def objectives(
    images: Sequence[Image.Image],
    content: Image.Image,
    style: Image.Image,
    *,
    loss_net: str = "vgg19",
    weights: str | os.PathLike | None = None,
) -> list[dict[str, float]]:
    """`objective` of each of `images` (one size) against one photo and painting. The painting's Gram targets and
    the photo's content targets are computed once: a bar judges a stylised picture beside the unstylised photo,
    and those targets cost as much as the judged pictures themselves."""
    return PaintingJudge(style, loss_net=loss_net, weights=weights).objectives(images, content)


def style_terms(
    images: Sequence[Image.Image],
    paintings: Sequence[Image.Image],
    *,
    loss_net: str = "vgg19",
    weights: str | os.PathLike | None = None,
) -> list[list[float]]:
    """The objective's style term of each of `images` (one size; rows) against each painting (columns), as
    `objective` gives it, with each picture's features and each painting's targets computed once: which
    painting a picture is closest to, without a network pass per pair."""
    size = _one_size(images)
    crit = _criterion(loss_net, weights)
    targets = []
    for painting in paintings:
        crit.set_style([pil_to_tensor(resize_long_side(painting, max(size)))])
        targets.append((crit.style_targets, crit.style_scales))
    with torch.no_grad():
        feats = [crit.features(pil_to_tensor(image), crit.style_layers) for image in images]
        return [[float(crit.style_term(f, t, s)) for t, s in targets] for f in feats]


def self_similarity(
    features: torch.Tensor, grid: int = STRUCTURE_GRID, temperature: float = STRUCTURE_TEMPERATURE
) -> torch.Tensor:
    """Row-wise softmax of the cosine self-similarity of (1, C, H, W) features pooled to grid x grid positions:
    (grid^2, grid^2) log-probabilities; row i says which positions look like position i."""
    f = F.adaptive_avg_pool2d(features.float(), grid).flatten(2)[0].T  # (grid^2, C)
    f = F.normalize(f, dim=1)
    return F.log_softmax(f @ f.T / temperature, dim=1)


def structure_distance(photo_features: torch.Tensor, image_features: torch.Tensor) -> float:
    """KL(photo || image) between the self-similarity rows, averaged over rows (0 when the layouts agree)."""
    log_p, log_q = self_similarity(photo_features), self_similarity(image_features)
    return float((log_p.exp() * (log_p - log_q)).sum(1).mean())


def structure(image: Image.Image, content: Image.Image, *, weights: str | os.PathLike | None = None) -> float:
    """Self-similarity distance of `image` from the photo `content` under VGG-19 relu3_1 (lower keeps more of
    the photo): `image` is resized to the photo's size, then both to a long side of STRUCTURE_SIZE px."""
    net = load_loss_net("vgg19", weights, layers=[STRUCTURE_LAYER])
    photo = resize_long_side(content, STRUCTURE_SIZE)
    styled = image.resize(content.size, Image.Resampling.LANCZOS)
    styled = styled.resize(photo.size, Image.Resampling.LANCZOS)
    with torch.no_grad():
        a = net(pil_to_tensor(photo), [STRUCTURE_LAYER])[STRUCTURE_LAYER]
        b = net(pil_to_tensor(styled), [STRUCTURE_LAYER])[STRUCTURE_LAYER]
    return structure_distance(a, b)


def fast_style_scores(
    style: str,
    photos: Sequence[Image.Image],
    painting: Image.Image,
    *,
    weights: str | os.PathLike | None = None,
    structure_size: int = 512,
    objective_size: int = 256,
) -> list[dict[str, float]]:
    """The quality bar of a bundled fast style, one row per photo: structure (stylised at `structure_size`), and
    the Gatys objective's terms at `objective_size` next to the unstylised photo's own style term
    (`photo_style`), so `style / photo_style` says how much of the painting's style the network put there."""
    from .api import stylize  # judge is scored on what users get: the public entry point, default options

    judge, rows = PaintingJudge(painting, weights=weights), []
    for photo in photos:
        small = resize_long_side(photo, objective_size)
        terms, plain = judge.objectives([stylize(small, style=style), small], small)
        big = stylize(photo, style=style, size=structure_size)
        rows.append({"structure": structure(big, photo, weights=weights), "style": terms["style"],
                     "content": terms["content"], "photo_style": plain["style"]})  # fmt: skip
    return rows


def arbitrary_scores(
    photos: Sequence[Image.Image],
    painting: Image.Image,
    *,
    weights: str | os.PathLike | None = None,
    size: int = 512,
    **options,
) -> list[dict[str, float]]:
    """The quality bar of the arbitrary method on one painting, one row per photo, all at `size` px: structure of
    the output, and the Gatys objective's style term of the output next to the unstylised photo's own
    (`photo_style`), both against the painting resized to that size."""
    from .api import stylize  # judged on what users get: the public entry point

    judge, rows = PaintingJudge(painting, weights=weights), []
    for photo in photos:
        small = resize_long_side(photo, size)
        out = stylize(small, method="arbitrary", style_images=[painting], **options)
        terms, plain = judge.objectives([out, small], small)
        rows.append({"structure": structure(out, photo, weights=weights), "style": terms["style"],
                     "content": terms["content"], "photo_style": plain["style"]})  # fmt: skip
    return rows
