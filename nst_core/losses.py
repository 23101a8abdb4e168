"""Perceptual losses shared by Gatys optimisation and feed-forward training.

`PerceptualLoss` is what the engines use: the content, Gram-matrix style and total-variation terms of the papers,
each layer divided by its target's magnitude, so one set of default weights works whatever the loss network (Caffe
VGG activations are ~100x torchvision's) and whatever the image size. tests/test_losses.py checks it by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .device import float32_region
from .errors import OptionsError
from .lossnets import LOSS_WEIGHTS, FeatureExtractor

EPS = 1e-8
# What a caller may set on the loss (PerceptualLoss's keyword arguments after the network), by these names.
LOSS_SETTINGS = ("content_layers", "style_layers", "style_layer_weights", *LOSS_WEIGHTS)


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G[c, c'] = sum_xy a[x, y, c] a[x, y, c'] for each image of a (B, C, H, W) batch -> (B, C, C)."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between vertical and horizontal neighbours."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()
    return dx + dy


def total_loss(
    j_content: torch.Tensor, j_style: torch.Tensor, j_tv: torch.Tensor, alpha: float, beta: float, tv: float
) -> torch.Tensor:
    """J = alpha*J_content + beta*J_style + tv*J_tv."""
    return alpha * j_content + beta * j_style + tv * j_tv


def normalized_gram(features: torch.Tensor) -> torch.Tensor:
    """Gram divided by C*H*W: comparable across image sizes, so style targets of any size can be blended."""
    _, c, h, w = features.shape
    return gram_matrix(features) / (c * h * w)


def guided_gram(features: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the features weighted by a (1, 1, H', W') guide, resized to the features' size (Gatys et
    al. 2017): (B, C, C), divided by C x the guide's mass, so an all-ones guide gives `normalized_gram`."""
    _, c, h, w = features.shape
    g = torch.nn.functional.interpolate(guide, size=(h, w), mode="area") if guide.shape[-2:] != (h, w) else guide
    weighted = features * g
    return gram_matrix(weighted) / (c * g.sum().clamp_min(1e-6))


class PerceptualLoss(nn.Module):
    """alpha*content + beta*style + tv*TV with every layer term divided by its target's mean square.

    Style targets are computed once (`set_style`); content targets either once (Gatys) or per batch (training).
    """

    def __init__(
        self,
        net: FeatureExtractor,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        style_layer_weights: Sequence[float] | None = None,
        content_weight: float = 1.0,
        style_weight: float = 1e4,
        tv_weight: float = 1e2,
    ) -> None:
        super().__init__()
        if not content_layers and not style_layers:
            raise OptionsError("At least one content or style layer is needed.")
        if style_layer_weights is None:
            style_layer_weights = [1.0 / max(len(style_layers), 1)] * len(style_layers)
        if len(style_layer_weights) != len(style_layers):
            raise OptionsError("style_layer_weights must have one weight per style layer.")
        self.net = net
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)
        self.style_layer_weights = [float(w) for w in style_layer_weights]
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.layers = list(dict.fromkeys(self.content_layers + self.style_layers))
        self.style_targets: dict[str, torch.Tensor] = {}
        self.style_scales: dict[str, torch.Tensor] = {}
        self.regions: list[tuple[torch.Tensor, float, dict, dict]] = []  # (guide, share, targets, scales)

    @classmethod
    def from_spec(cls, net: FeatureExtractor, **overrides) -> PerceptualLoss:
        """The loss network's own layers and weights (`LossNetSpec`), with any of `LOSS_SETTINGS` given otherwise
        (None keeps the network's): the one way the engines, the trainer and the judge build their loss."""
        spec = net.spec
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(LOSS_SETTINGS)
        if unknown:
            raise TypeError(f"unknown loss settings: {', '.join(sorted(unknown))}")
        style_layers = given.get("style_layers", spec.style_layers)
        own_layer_weights = spec.style_layer_weights if style_layers == spec.style_layers else None
        settings = {"content_layers": spec.content_layers, "style_layer_weights": own_layer_weights}
        return cls(net, **{**settings, "style_layers": style_layers, **spec.default_weights, **given})

    @classmethod
    def from_options(cls, net: FeatureExtractor, options: object) -> PerceptualLoss:
        """`from_spec` with the `LOSS_SETTINGS` an options object (GatysOptions) holds under the same names."""
        return cls.from_spec(net, **{name: getattr(options, name) for name in LOSS_SETTINGS})

    @torch.no_grad()
    def set_style(self, images: Sequence[torch.Tensor], blend: Sequence[float] | None = None) -> None:
        """Blend the normalised Gram matrices of one or more style images (each 1x3xHxW, any size)."""
        if not images:
            raise OptionsError("At least one style image is needed.")
        blend = list(blend) if blend is not None else [1.0] * len(images)
        if len(blend) != len(images) or any(b < 0 for b in blend) or sum(blend) <= 0:
            raise OptionsError("style blend weights must be non-negative, one per style image, not all zero.")
        total = float(sum(blend))
        targets: dict[str, torch.Tensor] = {}
        for img, b in zip(images, blend, strict=True):
            feats = self.features(img, self.style_layers)
            with float32_region(img.device.type):  # the targets are Grams too: float32 whatever the profile
                for name in self.style_layers:
                    g = normalized_gram(feats[name]).mean(0, keepdim=True) * (b / total)
                    targets[name] = targets[name] + g if name in targets else g
        self.style_targets = targets
        self.style_scales = {n: t.pow(2).mean() + EPS for n, t in targets.items()}

    @torch.no_grad()
    def set_style_regions(self, images: Sequence[torch.Tensor], guides: torch.Tensor) -> None:
        """One painting per region and the regions' weights (R, 1, H, W) at the optimised picture's size: the
        style term then compares each region's guided Gram matrix with its painting's, weighted by the
        region's share of the picture (one all-ones region is `set_style` exactly)."""
        if len(images) != guides.shape[0]:
            raise OptionsError("give one style image per region.")
        self.regions = []
        for img, guide in zip(images, guides, strict=True):
            self.set_style([img])
            share = float(guide.mean())
            self.regions.append((guide[None].float(), share, self.style_targets, self.style_scales))

    def features(self, images: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """The loss network's activations in float32: the network may run under bf16/fp16 autocast (the device
        profile's choice), but squares, Gram matrices and sums lose too much in 8 mantissa bits."""
        return {k: v.float() for k, v in self.net(images, layers).items()}

    @torch.no_grad()
    def content_targets(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.features(images, self.content_layers)
        return {n: feats[n].detach() for n in self.content_layers}

    def forward(
        self, generated: torch.Tensor, content_targets: Mapping[str, torch.Tensor], *, per_image: bool = False
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The objective and its terms, averaged over the batch, or one value per image with `per_image`
        (batched Gatys optimises several pictures at once, each on its own objective)."""
        feats = self.features(generated, self.layers)
        with float32_region(generated.device.type):  # the sums below stay float32
            total, terms = self._terms(generated.float(), feats, content_targets)
        if per_image:
            return total, terms
        return total.mean(), {k: v.mean() for k, v in terms.items()}

    @torch.no_grad()
    def set_style_per_image(self, styles: Sequence[Sequence[torch.Tensor]], blends: Sequence | None = None) -> None:
        """Image i of the batch against its own paintings `styles[i]` (blended by `blends[i]`)."""
        targets, scales = [], []
        for i, images in enumerate(styles):
            self.set_style(images, None if blends is None else blends[i])
            targets.append(self.style_targets)
            scales.append(self.style_scales)
        self.style_targets = {n: torch.cat([t[n] for t in targets]) for n in self.style_layers}
        self.style_scales = {n: torch.stack([s[n] for s in scales]) for n in self.style_layers}

    def style_term(
        self,
        feats: Mapping[str, torch.Tensor],
        targets: Mapping[str, torch.Tensor] | None = None,
        scales: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Per-image (B,) style term of `feats` against `set_style`'s targets, or against other targets and
        scales saved from an earlier `set_style` (the judge compares one picture with several paintings)."""
        targets = self.style_targets if targets is None else targets
        scales = self.style_scales if scales is None else scales
        some = next(iter(feats.values()))
        j_style = some.new_zeros(some.shape[0])
        for name, w in zip(self.style_layers, self.style_layer_weights, strict=True):
            g = normalized_gram(feats[name])
            j_style = j_style + w * (g - targets[name]).pow(2).flatten(1).mean(1) / scales[name]
        return j_style

    def _terms(
        self, generated: torch.Tensor, feats: Mapping[str, torch.Tensor], content_targets: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Per-image (B,) terms; their batch mean is the objective (every image counts the same)."""
        zero = generated.new_zeros(generated.shape[0])
        j_content = zero
        for name in self.content_layers:
            target = content_targets[name]
            scale = target.pow(2).flatten(1).mean(1) + EPS  # per image, so a batch of mixed photos is fair
            j_content = j_content + (feats[name] - target).pow(2).flatten(1).mean(1) / scale
        j_content = j_content / max(len(self.content_layers), 1)
        j_style = self.style_term(feats) if not self.regions else zero
        for name, w in zip(self.style_layers, self.style_layer_weights, strict=True):
            for guide, share, targets, scales in self.regions:
                g = guided_gram(feats[name], guide.to(feats[name].device))
                j_style = j_style + w * share * (g - targets[name]).pow(2).flatten(1).mean(1) / scales[name]
        dy = (generated[..., 1:, :] - generated[..., :-1, :]).pow(2).flatten(1).mean(1)
        dx = (generated[..., :, 1:] - generated[..., :, :-1]).pow(2).flatten(1).mean(1)
        j_tv = dx + dy  # tv_loss per image
        total = total_loss(j_content, j_style, j_tv, self.content_weight, self.style_weight, self.tv_weight)
        return total, {"content": j_content, "style": j_style, "tv": j_tv}
