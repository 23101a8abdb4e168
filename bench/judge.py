"""The judge shared by the benchmarks: the Gatys objective under the real VGG-19 (Caffe weights).

Every benchmark scores its images with this one function, so numbers are comparable across scripts: content
relu4_2, style relu1_1..relu5_1, the normalised terms of `nst_core.losses.PerceptualLoss`, and the vgg19 default
weights (content 1, style 30, tv 100). The style painting is resized to the judged image's long side, as Gatys
does at that size.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nst_core.images import pil_to_tensor, resize_long_side  # noqa: E402
from nst_core.losses import PerceptualLoss  # noqa: E402
from nst_core.lossnets import get_spec, load_loss_net  # noqa: E402

DATA = REPO.parent / "shared" / "data"
WEIGHTS = {"vgg19": DATA / "pretrained" / "vgg19_caffe_imagenet_conv.pth",
           "squeezenet": DATA / "pretrained" / "squeezenet1_1_imagenet.pth"}


def vgg_objective(image: Image.Image, content: Image.Image, style: Image.Image,
                  weights: str | Path | None = None) -> dict[str, float]:
    """The Gatys objective of `image` under VGG-19 with the default weights (lower is better).

    Returns total, content, style and tv. `weights` defaults to the shared Caffe VGG-19."""
    spec = get_spec("vgg19")
    net = load_loss_net("vgg19", weights or WEIGHTS["vgg19"], layers=spec.content_layers + spec.style_layers)
    w = spec.default_weights
    crit = PerceptualLoss(net, spec.content_layers, spec.style_layers, spec.style_layer_weights,
                          w["content_weight"], w["style_weight"], w["tv_weight"])
    crit.set_style([pil_to_tensor(resize_long_side(style, max(image.size)))])
    c = pil_to_tensor(content.resize(image.size, Image.Resampling.LANCZOS))
    with torch.no_grad():
        total, terms = crit(pil_to_tensor(image), crit.content_targets(c))
    return {"total": float(total), **{k: float(v) for k, v in terms.items()}}
