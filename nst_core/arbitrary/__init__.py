"""The arbitrary-style method: any painting in one forward pass, with a small network of our own (no VGG-19).

Read in this order: `network` (the student encoder and its decoders), `transform` (the whitening-colouring map),
`paint` (the coarse-to-fine cascade, whole or in tiles), `run` (options and the entry point), `model_file`.
Training lives in `nst_core.train.arbitrary`.
"""

from .network import ArbitraryConfig, ArbitraryNet
from .run import BUNDLED, WEIGHTS_ENV, ArbitraryOptions, Painter, arbitrary_status, load_arbitrary, run_arbitrary

__all__ = [
    "BUNDLED",
    "WEIGHTS_ENV",
    "ArbitraryConfig",
    "ArbitraryNet",
    "ArbitraryOptions",
    "Painter",
    "arbitrary_status",
    "load_arbitrary",
    "run_arbitrary",
]
