"""Options declared once: defaults, ranges and help text read from the dataclass fields (what the CLI is
generated from and what the demo and bots may read instead of writing numbers again)."""

from nst_core.cli import build_parser
from nst_core.fast import FastOptions
from nst_core.gatys import GatysOptions
from nst_core.options import field_default, field_help, field_range, option_names


def test_defaults_and_ranges_come_from_the_fields():
    assert field_default(GatysOptions, "size", device="cpu") == 384
    assert field_default(GatysOptions, "size", device="cuda:0") == 512
    assert field_default(GatysOptions, "steps", device="cpu") == 100
    assert field_default(GatysOptions, "steps", device="mps") == 300
    assert field_default(FastOptions, "strength") == 1.0 and field_default(FastOptions, "size") is None
    assert field_range(FastOptions, "size") == (16, 8192) and field_range(GatysOptions, "size") == (16, 4096)
    assert "384 on a CPU, 512 on a GPU" in field_help(GatysOptions, "size")


def test_resolved_gatys_options_use_the_per_device_defaults():
    import torch

    cpu = GatysOptions().resolved(torch.device("cpu"))
    assert (cpu.size, cpu.steps, cpu.lr) == (384, 100, 0.02)


def test_every_option_field_is_a_stylize_flag():
    stylize = build_parser()._subparsers._group_actions[0].choices["stylize"]
    flags = {s for a in stylize._actions for s in a.option_strings}
    for cls in (GatysOptions, FastOptions):
        for name in option_names(cls):
            assert "--" + name.replace("_", "-") in flags
    defaults = stylize.parse_args(["in.png", "-o", "out.png"])
    assert all(getattr(defaults, n) is None for n in option_names(GatysOptions) + option_names(FastOptions))


def test_the_training_config_uses_the_same_option_helpers():
    import argparse
    from dataclasses import dataclass

    import pytest

    from nst_core.errors import OptionsError
    from nst_core.options import add_arguments, check_options, cli_flag, given, option, spelled
    from nst_core.train import BOUNDS, TrainConfig

    assert field_range(TrainConfig, "batch_size") == (1, 256) and BOUNDS["batch_size"] == (1, 256, True)
    assert field_help(TrainConfig, "lr") == "Adam learning rate (default 1e-3)"

    @dataclass
    class Toy:
        name: str = option("", "a name", required=True)
        steps: int | None = option(None, "steps", bounds=(1, 10), group="length")
        epochs: float | None = option(None, "epochs", bounds=(0.5, 2), group="length")
        kind: str = option("a", choices=("a", "b"))

    p = argparse.ArgumentParser()
    names = add_arguments(p, Toy)
    assert Toy(**given(p.parse_args(["--name", "x", "--steps", "3"]), names)) == Toy("x", 3)
    with pytest.raises(SystemExit):
        p.parse_args(["--name", "x", "--steps", "3", "--epochs", "1"])
    with pytest.raises(OptionsError, match=r"^steps= must be a whole number from 1 to 10, not 2\.5"):
        check_options(Toy("x", steps=2.5))  # a Python caller reads the keyword it wrote
    with spelled(cli_flag), pytest.raises(OptionsError, match=r"^--kind must be one of a, b, not 'c'"):
        check_options(Toy("x", kind="c"))  # the command line runs the API spelled its way
