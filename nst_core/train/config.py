"""The training config: every option once, as a field with its default, range and help text.

The command line is generated from these fields (`build_parser`), and so are the bounds every number is checked
against and the set of settings a `--resume` may change: a default or a range is written in one place only.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_type_hints

from .. import styles
from ..argparsing import ArgumentParser
from ..device import MEMORY_FORMATS, PRECISIONS, normalise_memory_format, normalise_precision
from ..errors import OptionsError
from ..lossnets import LossNetSpec, list_loss_nets
from ..transformer_net import LIGHT, REFERENCE, TransformerConfig

ARCHS: dict[str, TransformerConfig] = {"reference": REFERENCE, "light": LIGHT}
# The Gatys style weight (its content is preserved by starting from the photo) is too strong for a network that
# must first learn to reproduce content at all: with VGG-19 on starry_night, 150 steps at 128 px gave content at
# style 3, only texture at 8, 15 and 50. Hence the *opposite* of the folklore "feed-forward needs more style".
FEEDFORWARD_STYLE_FACTOR = 0.5
RANDOM_WEIGHTS = "random"  # --loss-net-weights random: seeded random init, for tests and smoke runs
BUILTIN_PREVIEW = "builtin"  # --preview-image builtin: the registry's synthetic scene (used for bundled styles)


def option(
    default: Any = None,
    help: str | None = None,
    *,
    bounds: tuple[float, float] | None = None,
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    check: Callable[[Any], Any] | None = None,
    required: bool = False,
    group: str | None = None,
    run_only: bool = False,
    cli: bool = True,
) -> Any:
    """A config field and its command-line option in one place.

    `help` may say `{default}`, filled in from `default`; `bounds` (lo, hi) refuse infinities, NaN and absurd
    values with the range (a whole number for int fields); `choices` may be a function, for registries that grow;
    `check` replaces the choices test where aliases are accepted; `group` makes mutually exclusive options;
    `run_only` marks a setting that does not change the weights, so it may differ on --resume."""
    meta = {"help": help, "bounds": bounds, "choices": choices, "check": check, "required": required}
    return field(default=default, metadata={**meta, "group": group, "run_only": run_only, "cli": cli})


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
    device: str = option("auto", "auto | cpu | cuda | mps (DDP: one GPU per process)", run_only=True)
    precision: str = option(
        "auto",
        "autocast dtype (auto: bf16 on CUDA and on CPUs with native bf16, else fp32)",
        choices=PRECISIONS,
        check=normalise_precision,
        run_only=True,
    )
    memory_format: str = option(
        "auto",
        "tensor layout (auto: channels_last with bf16 or on CUDA)",
        choices=MEMORY_FORMATS,
        check=normalise_memory_format,
        run_only=True,
    )
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
    command: str | None = option(None, run_only=True, cli=False)

    def validate(self) -> None:
        """Refuse what cannot work with one sentence naming the option, before anything is built."""
        styles.validate_name(self.name)
        if not self.style_image:
            raise OptionsError("--style-image is required.")
        if not self.dataset or not Path(self.dataset).is_dir():
            raise OptionsError(f"--dataset must be a folder of images, got {self.dataset!r}.")
        if self.steps is not None and self.epochs is not None:
            raise OptionsError("Give --steps or --epochs, not both.")
        for key, (lo, hi, whole) in BOUNDS.items():
            _check_bound(key, getattr(self, key), lo, hi, whole)
        for f in fields(self):
            _check_choice(f, getattr(self, f.name))


def _scalar(hint: Any) -> type:
    """`int | None` -> int: the type an option's text is converted to."""
    return next(a for a in get_args(hint) if a is not type(None)) if isinstance(hint, UnionType) else hint


_TYPES = {name: _scalar(hint) for name, hint in get_type_hints(TrainConfig).items()}

# Every number a user gives, bounded (lo, hi, whole number?); optional ones (None) are skipped.
BOUNDS: dict[str, tuple[float, float, bool]] = {
    f.name: (*f.metadata["bounds"], _TYPES[f.name] is int) for f in fields(TrainConfig) if f.metadata["bounds"]
}
# Fields that may differ between a run and its --resume (they do not change the weights).
RUN_ONLY_FIELDS = frozenset(f.name for f in fields(TrainConfig) if f.metadata["run_only"])


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_bound(key: str, value: Any, lo: float, hi: float, whole: bool) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and whole:
        ok = float(value).is_integer()
    if not ok or not lo <= value <= hi:
        kind = "a whole number" if whole else "a number"
        raise OptionsError(f"{_flag(key)} must be {kind} from {lo:g} to {hi:g}, not {value!r}.")


def _choices(f: Field) -> Sequence[str] | None:
    choices = f.metadata["choices"]
    return choices() if callable(choices) else choices


def _check_choice(f: Field, value: Any) -> None:
    if f.metadata["check"] is not None:
        f.metadata["check"](value)  # raises an OptionsError of its own
    elif (choices := _choices(f)) is not None and value not in choices:
        raise OptionsError(f"{_flag(f.name)} must be one of {', '.join(choices)}.")


def _shown(default: Any) -> str:
    """A default as people write it: 4, 0.6, 1e-3 (the shortest text that reads back as the same number)."""
    texts = [f"{default:g}", f"{default:.0e}".replace("e-0", "e-").replace("e+0", "e")]
    return min((t for t in texts if float(t) == default), key=len)


def _help(f: Field) -> str | None:
    text = f.metadata["help"]
    return text.replace("{default}", _shown(f.default)) if text and "{default}" in text else text


def _argument(f: Field) -> dict[str, Any]:
    """add_argument's keywords for one field."""
    m, kw = f.metadata, {"help": _help(f)}
    if _TYPES[f.name] is bool:
        return {**kw, "action": "store_true"}
    if m["required"]:
        return {**kw, "required": True}
    if _TYPES[f.name] is not str:
        kw["type"] = _TYPES[f.name]
    return {**kw, "default": f.default, **({"choices": _choices(f)} if m["choices"] else {})}


def build_parser() -> argparse.ArgumentParser:
    """The command line, generated from TrainConfig's fields in their order."""
    p = ArgumentParser(
        prog="python -m nst_core.train",
        description="Train a fast (feed-forward) style network and install it in the style registry.",
    )
    groups: dict[str, Any] = {}
    for f in fields(TrainConfig):
        if f.metadata["cli"]:
            group = f.metadata["group"]
            if group and group not in groups:
                groups[group] = p.add_mutually_exclusive_group()
            (groups[group] if group else p).add_argument(_flag(f.name), **_argument(f))
    return p


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    ns = vars(build_parser().parse_args(argv))
    return TrainConfig(**{f.name: ns[f.name] for f in fields(TrainConfig) if f.name in ns})


def fill_defaults(cfg: TrainConfig, spec: LossNetSpec) -> tuple[str, ...]:
    """The defaults that depend on the loss network, written into `cfg` (so the style's JSON says what was
    used); returns the content layers, each checked to exist."""
    weights = spec.default_weights
    if cfg.content_weight is None:
        cfg.content_weight = weights.get("content_weight", 1.0)
    if cfg.style_weight is None:
        cfg.style_weight = weights.get("style_weight", 10.0) * FEEDFORWARD_STYLE_FACTOR
    if cfg.tv_weight is None:
        cfg.tv_weight = weights.get("tv_weight", 100.0)
    cfg.style_size = cfg.style_size or 2 * cfg.image_size
    content_layers = tuple(cfg.content_layers.split(",")) if cfg.content_layers else spec.content_layers
    for layer in content_layers:
        spec.index(layer)  # an unknown layer is an OptionsError naming the known ones
    return content_layers
