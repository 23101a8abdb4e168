"""Score a stylised image by the objective Gatys minimises, so any two methods can be compared on one scale.

The benchmarks (fast vs Gatys, loss networks) and the bundled-style tests all use this: content at the loss
network's content layers, Gram-matrix style at its style layers, each term normalised as in
`losses.PerceptualLoss`, weighted by the network's default weights. The painting is resized to the judged
image's long side, as Gatys does at that size, and the photo to the judged image's size.
"""

from __future__ import annotations

import os

import torch
from PIL import Image

from .images import pil_to_tensor, resize_long_side
from .losses import PerceptualLoss
from .lossnets import get_spec, load_loss_net


def objective(
    image: Image.Image,
    content: Image.Image,
    style: Image.Image,
    *,
    loss_net: str = "vgg19",
    weights: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Terms of the Gatys objective for `image` (lower is better): total, content, style and tv."""
    spec = get_spec(loss_net)
    net = load_loss_net(loss_net, weights, layers=spec.content_layers + spec.style_layers)
    w = spec.default_weights
    crit = PerceptualLoss(net, spec.content_layers, spec.style_layers, spec.style_layer_weights,
                          w["content_weight"], w["style_weight"], w["tv_weight"])  # fmt: skip
    crit.set_style([pil_to_tensor(resize_long_side(style, max(image.size)))])
    c = pil_to_tensor(content.resize(image.size, Image.Resampling.LANCZOS))
    with torch.no_grad():
        total, terms = crit(pil_to_tensor(image), crit.content_targets(c))
    return {"total": float(total), **{k: float(v) for k, v in terms.items()}}
