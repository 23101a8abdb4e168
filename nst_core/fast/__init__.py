"""The fast method (Johnson et al. 2016): one trained feed-forward network per style.

Read in this order: `architecture` (the network's shape and layer list, written once, no torch),
`transformer_net` (the torch modules built from that list), `budget` (how many pixels one pass may hold on a
device), `tiling` (tiled passes with whole-image instance-norm statistics), `inference` (a network on a picture),
`strokes` (stroke size: a working resolution, then the photo's detail restored), `run` (`FastOptions`, `run_fast`).

The names below load on first use, so `nst_core.fast.architecture` stays importable without torch.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "FastOptions": "run",
    "run_fast": "run",
    "stylize_tensor": "inference",
    "apply_model": "inference",
    "TransformerConfig": "architecture",
    "TransformerNet": "transformer_net",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
