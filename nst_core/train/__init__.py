"""Train a feed-forward style network (Johnson et al. 2016) for one painting, nanoGPT-style.

    python -m nst_core.train --style-image starry.jpg --dataset photos/ --name starry --steps 2000
    torchrun --nproc_per_node 8 -m nst_core.train ...        # multi-GPU / multi-node, PyTorch's own DDP

Read it in this order; `loop` is the story, the others are its named pieces:
- `config`: the training config; every option once (default, range, help), the command line generated from it.
- `data`: scan, hold out, crop; every random choice a pure function of (seed, position in an endless stream of
  per-epoch permutations), so a checkpoint only needs the step to continue the exact same stream.
- `state`: RNG capture, checkpoints, where a run starts and the resume check: `--resume` after a crash or kill
  gives bit for bit the weights an uninterrupted run gives (on CPU; cuDNN is not bitwise stable).
- `dist`: DDP set-up; ranks take consecutive slices of the same global batch, so N ranks x batch B see exactly
  what one process with batch N*B sees; all ranks agree on stopping; signals stop cleanly with a checkpoint.
- `loop`: set-up, data, model, optimiser, then one loop with "every N steps: log / preview / checkpoint".
- `install`: evaluate on held-out photos, write the style's metadata, install it in the registry.

Only rank 0 writes (checkpoints, previews, the registry entry) and prints.
"""

from ..losses import PerceptualLoss
from .config import (
    ARCHS,
    BOUNDS,
    BUILTIN_PREVIEW,
    FEEDFORWARD_STYLE_FACTOR,
    RANDOM_WEIGHTS,
    RUN_ONLY_FIELDS,
    TrainConfig,
    build_parser,
    parse_args,
)
from .data import (
    IMAGE_SUFFIXES,
    CropDataset,
    StreamBatchSampler,
    _readable,
    center_crop,
    collate,
    epoch_permutation,
    find_images,
    load_held_out,
    random_crop,
    split_holdout,
)
from .dist import StopRequest
from .install import evaluate, preview_grid, stylise
from .loop import ESTIMATE_AFTER, TrainingDiverged, TrainingStopped, main, train
from .state import CHECKPOINT_NAME, capture_rng, load_checkpoint, restore_rng, save_checkpoint

__all__ = [
    "ARCHS",
    "BOUNDS",
    "BUILTIN_PREVIEW",
    "CHECKPOINT_NAME",
    "ESTIMATE_AFTER",
    "FEEDFORWARD_STYLE_FACTOR",
    "IMAGE_SUFFIXES",
    "RANDOM_WEIGHTS",
    "RUN_ONLY_FIELDS",
    "CropDataset",
    "PerceptualLoss",
    "StopRequest",
    "StreamBatchSampler",
    "TrainConfig",
    "TrainingDiverged",
    "TrainingStopped",
    "_readable",
    "build_parser",
    "capture_rng",
    "center_crop",
    "collate",
    "epoch_permutation",
    "evaluate",
    "find_images",
    "load_checkpoint",
    "load_held_out",
    "main",
    "parse_args",
    "preview_grid",
    "random_crop",
    "restore_rng",
    "save_checkpoint",
    "split_holdout",
    "stylise",
    "train",
]
