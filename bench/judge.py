"""The judge shared by the benchmarks: `nst_core.judge.objective` under the real VGG-19 (Caffe weights).

Every benchmark scores its images with this one function, so numbers are comparable across scripts: content
relu4_2, style relu1_1..relu5_1, the normalised terms of `nst_core.losses.PerceptualLoss`, and the vgg19 default
weights (content 1, style 30, tv 100).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from nst_core.judge import objective  # noqa: E402

DATA = REPO.parent / "shared" / "data"
WEIGHTS = {
    "vgg19": DATA / "pretrained" / "vgg19_caffe_imagenet_conv.pth",
    "squeezenet": DATA / "pretrained" / "squeezenet1_1_imagenet.pth",
}


def vgg_objective(
    image: Image.Image, content: Image.Image, style: Image.Image, weights: str | Path | None = None
) -> dict[str, float]:
    """The Gatys objective of `image` under VGG-19 (default: the shared Caffe weights); lower is better."""
    return objective(image, content, style, loss_net="vgg19", weights=weights or WEIGHTS["vgg19"])
