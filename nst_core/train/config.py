"""The training config: every option once, as a field with its default, range and help text.

The command line is generated from these fields (`build_parser`), and so are the bounds every number is checked
against and the set of settings a `--resume` may change: a default or a range is written in one place only.
The fields are declared with `nst_core.options.option`, as GatysOptions and FastOptions are.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from .. import styles
from ..argparsing import ArgumentParser
from ..device import device_option, memory_format_option, precision_option
from ..errors import OptionsError
from ..fast.transformer_net import LIGHT, REFERENCE, TransformerConfig
from ..lossnets import LossNetSpec, list_loss_nets
from ..options import add_arguments, bounds_table, check_options, cli_flag, given, option, option_names

ARCHS: dict[str, TransformerConfig] = {"reference": REFERENCE, "light": LIGHT}
# The Gatys style weight (its content is preserved by starting from the photo) is too strong for a network that
# must first learn to reproduce content at all: with VGG-19 on starry_night, 150 steps at 128 px gave content at
# style 3, only texture at 8, 15 and 50. Hence the *opposite* of the folklore "feed-forward needs more style".
FEEDFORWARD_STYLE_FACTOR = 0.5
RANDOM_WEIGHTS = "random"  # --loss-net-weights random: seeded random init, for tests and smoke runs
BUILTIN_PREVIEW = "builtin"  # --preview-image builtin: the registry's synthetic scene (used for bundled styles)


@dataclass
class TrainConfig:
    """Everything that defines a training run; stored in checkpoints and in the style's JSON."""

    style_image: str = option("", "the painting to learn", required=True, run_only=True)
    dataset: str = option("", "any folder tree of photos (unreadable files are skipped)", required=True, run_only=True)
    name: str = option("", "style name in the registry (lowercase, digits, _ and -)", required=True)
    out: str | None = option(
        None, "registry folder (default: first $NST_WEIGHTS_DIR entry, else the repo's weights/)", run_only=True
    )
    run_dir: str | None = option(None, "checkpoints and previews (default: runs/NAME)", run_only=True)
    steps: int | None = option(
        None, "optimiser steps (default: 2 epochs)", bounds=(1, 10_000_000), group="length", run_only=True
    )
    epochs: float | None = option(
        None, "passes over the training photos", bounds=(1e-3, 100_000), group="length", run_only=True
    )
    batch_size: int = option(4, "photos per step and per process (default {default})", bounds=(1, 256))
    image_size: int = option(256, "training crop size in px (default {default})", bounds=(16, 4096))
    crop_scale: float = option(0.6, "smallest crop as a fraction of the short side ({default})", bounds=(0.01, 1))
    style_size: int | None = option(
        None, "long side of the style image in px (default 2 x image size)", bounds=(16, 8192)
    )
    content_layers: str | None = option(
        None,
        "comma-separated loss-network layers for the content term (default: the network's, relu4_2 for VGG-19); "
        "adding a shallower one (relu2_2) keeps more of the photo's structure",
    )
    content_weight: float | None = option(None, "default: the loss network's", bounds=(0, 1e12))
    style_weight: float | None = option(
        None, f"default: the loss network's x {FEEDFORWARD_STYLE_FACTOR:g}", bounds=(0, 1e12)
    )
    tv_weight: float | None = option(None, "default: the loss network's", bounds=(0, 1e12))
    lr: float = option(1e-3, "Adam learning rate (default {default})", bounds=(1e-12, 1))
    seed: int = option(42, bounds=(0, 2**32 - 1))
    loss_net: str = option("vgg19", choices=list_loss_nets)
    loss_net_weights: str | None = option(
        None, f"weights file; '{RANDOM_WEIGHTS}' = random init (tests only)", run_only=True
    )
    arch: str = option("auto", "TransformerNet size (auto: reference on CUDA)", choices=[*ARCHS, "auto"])
    init_from: str | None = option(
        None,
        "fine-tune a trained style (registry name or .safetensors file) instead of starting from random weights: "
        "it already reproduces content, so a new style or style weight needs far fewer steps",
        run_only=True,
    )
    device: str = device_option(" (DDP: one GPU per process)", run_only=True)
    precision: str = precision_option(run_only=True)
    memory_format: str = memory_format_option(run_only=True)
    compile: bool = option(False, "torch.compile the network", run_only=True)
    threads: int | None = option(
        None,
        "torch CPU threads (default: torch's; 1 is fastest on an oversubscribed CPU)",
        bounds=(1, 1024),
        run_only=True,
    )
    workers: int | None = option(
        None, "DataLoader workers (default: 0 on CPU, up to 8 on CUDA)", bounds=(0, 64), run_only=True
    )
    val_count: int = option(8, "held-out photos for previews and evaluation (default {default})", bounds=(0, 10_000))
    log_every: int = option(10, bounds=(1, 10_000_000), run_only=True)
    preview_every: int = option(500, "steps between preview grids (0: never)", bounds=(0, 10_000_000), run_only=True)
    checkpoint_every: int = option(
        500, "steps between checkpoints (0: only time-based)", bounds=(0, 10_000_000), run_only=True
    )
    checkpoint_minutes: float = option(
        15.0, "also checkpoint after this many minutes", bounds=(0.01, 1e6), run_only=True
    )
    max_minutes: float | None = option(
        None,
        "time budget: stop after it, checkpoint, evaluate and install the style",
        bounds=(1e-6, 1e6),
        run_only=True,
    )
    resume: bool = option(False, "continue from RUN_DIR/checkpoint.pt when there is one", run_only=True)
    overwrite: bool = option(False, "start afresh even if RUN_DIR holds a checkpoint", run_only=True)
    force: bool = option(False, "replace an installed style of the same name (refused otherwise)", run_only=True)
    # registry metadata
    display_name: str | None = option(None, "menu name (default: the name, title-cased)", run_only=True)
    artist: str = option("", run_only=True)
    title: str = option("", run_only=True)
    notes: str = option("", "free text stored with the style, e.g. how it was trained", run_only=True)
    preview_image: str | None = option(
        None,
        f"photo for the registry preview (default: a held-out photo; '{BUILTIN_PREVIEW}': a built-in synthetic "
        "scene, so no dataset photo ships with the style)",
        run_only=True,
    )
    # how the run was started (set by the CLI; recorded in the style's JSON)
    command: str | None = option(None, run_only=True, flag=False)

    def validate(self) -> None:
        """Refuse what cannot work with one sentence naming the option, before anything is built."""
        styles.validate_name(self.name)
        if not self.style_image:
            raise OptionsError("--style-image is required.")
        if not self.dataset or not Path(self.dataset).is_dir():
            raise OptionsError(f"--dataset must be a folder of images, got {self.dataset!r}.")
        if self.steps is not None and self.epochs is not None:
            raise OptionsError("Give --steps or --epochs, not both.")
        check_options(self, cli_flag)  # a training is started from its command line


# Every number a user gives, bounded (lo, hi, whole number?); optional ones (None) are skipped.
BOUNDS: dict[str, tuple[float, float, bool]] = bounds_table(TrainConfig)
# Fields that may differ between a run and its --resume (they do not change the weights).
RUN_ONLY_FIELDS = frozenset(f.name for f in fields(TrainConfig) if f.metadata["run_only"])


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from TrainConfig's fields in their order."""
    p = ArgumentParser(
        prog="python -m nst_core.train",
        description="Train a fast (feed-forward) style network and install it in the style registry.",
    )
    add_arguments(p, TrainConfig)
    return p


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """A TrainConfig from the command line: what was typed, the fields' defaults for the rest."""
    return TrainConfig(**given(build_parser().parse_args(argv), option_names(TrainConfig)))


def fill_defaults(cfg: TrainConfig, spec: LossNetSpec) -> tuple[str, ...]:
    """The defaults that depend on the loss network, written into `cfg` (so the style's JSON says what was
    used); returns the content layers, each checked to exist."""
    weights = spec.default_weights  # every registered loss network declares all three
    if cfg.content_weight is None:
        cfg.content_weight = weights["content_weight"]
    if cfg.style_weight is None:
        cfg.style_weight = weights["style_weight"] * FEEDFORWARD_STYLE_FACTOR
    if cfg.tv_weight is None:
        cfg.tv_weight = weights["tv_weight"]
    cfg.style_size = cfg.style_size or 2 * cfg.image_size
    content_layers = tuple(cfg.content_layers.split(",")) if cfg.content_layers else spec.content_layers
    for layer in content_layers:
        spec.index(layer)  # an unknown layer is an OptionsError naming the known ones
    return content_layers
