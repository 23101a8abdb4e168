"""The arbitrary-style training config: every option once (default, range, help); the CLI is generated from it."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...argparsing import ArgumentParser
from ...device import device_option, memory_format_option, precision_option
from ...errors import OptionsError
from ...options import add_arguments, check_options, cli_flag, comma_names, given, option, option_names


@dataclass
class ArbitraryTrainConfig:
    """A run in two phases: distil the encoder from VGG-19, then train the decoders with the encoder frozen."""

    dataset: str = option("", "folder tree of photos", required=True, run_only=True)
    paintings: tuple[str, ...] = option(
        (), "comma-separated painting files mixed into the crops (the held-out ones must not be here)",
        parse=comma_names, run_only=True,
    )  # fmt: skip
    painting_fraction: float = option(0.25, "share of crops taken from the paintings ({default})", bounds=(0, 1))
    out: str = option("weights/arbitrary/wct_student.safetensors", "where the shipped network is written",
                      run_only=True)  # fmt: skip
    run_dir: str = option("runs/arbitrary", "checkpoints and preview sheets ({default})", run_only=True)
    channels: str = option("16,32,64,128", "encoder widths of the four levels (VGG-19: 64,128,256,512)")
    cascade: str = option(
        "4,3,2,1", "levels painting runs through, coarse to fine, written into the network (may change on "
        "--resume, e.g. to leave out a level whose decoder reconstructs poorly)", run_only=True,
    )  # fmt: skip
    distill_steps: int = option(3000, "phase 1: encoder distillation steps ({default})", bounds=(0, 10_000_000))
    decoder_steps: int = option(3000, "phase 2: decoder steps ({default})", bounds=(0, 10_000_000))
    batch_size: int = option(8, "crops per step ({default})", bounds=(1, 256))
    image_size: int = option(256, "crop size in px ({default})", bounds=(32, 2048))
    lr: float = option(1e-3, "Adam learning rate ({default})", bounds=(1e-8, 1))
    warmup_steps: int = option(
        100, "each phase's learning rate rises linearly over its first steps ({default}); without it Adam's first "
        "full-size steps switch ReLU channels off for good", bounds=(0, 10_000_000),
    )  # fmt: skip
    feature_weight: float = option(1.0, "decoder loss: encoder-feature term next to the pixel term ({default})",
                                   bounds=(0, 1e6))  # fmt: skip
    stylised_weight: float = option(
        0.5, "decoder loss: painted features (photo whitened, coloured with a painting) decoded so the encoder "
        "sees them again ({default})", bounds=(0, 1e6),
    )  # fmt: skip
    vgg_weights: str | None = option(
        None,
        "VGG-19 weights, the teacher (default: the usual search; 'random': random init, tests only)",
        run_only=True,
    )
    seed: int = option(42, bounds=(0, 2**32 - 1))
    device: str = device_option(run_only=True)
    precision: str = precision_option(run_only=True)
    memory_format: str = memory_format_option(run_only=True)
    threads: int | None = option(None, "torch CPU threads", bounds=(1, 1024), run_only=True)
    log_every: int = option(25, bounds=(1, 10_000_000), run_only=True)
    sheet_every: int = option(500, "steps between preview sheets (0: never)", bounds=(0, 10_000_000), run_only=True)
    checkpoint_minutes: float = option(5.0, "checkpoint after this many minutes", bounds=(0.01, 1e6), run_only=True)
    max_minutes: float | None = option(None, "stop after this, with a checkpoint and the network written",
                                       bounds=(1e-6, 1e6), run_only=True)  # fmt: skip
    resume: bool = option(False, "continue from RUN_DIR/checkpoint.pt", run_only=True)
    overwrite: bool = option(False, "start afresh even if RUN_DIR holds a checkpoint", run_only=True)
    command: str | None = option(None, run_only=True, flag=False)

    @property
    def total_steps(self) -> int:
        return self.distill_steps + self.decoder_steps

    def widths(self) -> tuple[int, ...]:
        try:
            return tuple(int(c) for c in self.channels.split(","))
        except ValueError:
            raise OptionsError(
                f"--channels must be four whole numbers like 16,32,64,128, got {self.channels!r}"
            ) from None

    def levels(self) -> tuple[int, ...]:
        try:
            return tuple(int(c) for c in self.cascade.split(","))
        except ValueError:
            raise OptionsError(f"--cascade must be levels like 4,3,2,1, got {self.cascade!r}") from None

    def validate(self) -> None:
        if not self.dataset or not Path(self.dataset).is_dir():
            raise OptionsError(f"--dataset must be a folder of images, got {self.dataset!r}.")
        for p in self.paintings:
            if not Path(p).is_file():
                raise OptionsError(f"--paintings: no such file {p!r}.")
        from ...arbitrary.network import ArbitraryConfig

        try:
            ArbitraryConfig(self.widths(), self.levels())
        except ValueError as exc:
            raise OptionsError(f"--channels/--cascade: {exc}") from None
        check_options(self, cli_flag)  # a training is started from its command line


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="python -m nst_core.train arbitrary",
        description="Train the arbitrary-style network (any painting in one pass) and write its weights.",
    )
    add_arguments(p, ArbitraryTrainConfig)
    return p


def parse_args(argv: Sequence[str] | None = None) -> ArbitraryTrainConfig:
    return ArbitraryTrainConfig(**given(build_parser().parse_args(argv), option_names(ArbitraryTrainConfig)))
