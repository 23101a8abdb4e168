"""Every setting is written once (#23): the registry stays torch-free, a bound changed in its one definition
reaches every interface, and no range or default of an option is written a second time."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_importing_the_style_registry_does_not_import_torch():
    """The registry ranks styles by the bars' numbers (`nst_core.bars`), not by loading the judge."""
    code = (
        "import sys, nst_core.styles.registry as r; r.default_style();"
        "import nst_core.bars, nst_core.options;"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


# ------------------------------------------------------------------------------ one bound, every interface
def _set_bounds(monkeypatch, cls, name, bounds):
    """Change the range of `cls.name` where it is declared (its field's metadata), for this test only."""
    from types import MappingProxyType

    from nst_core.options import option_field

    f = option_field(cls, name)
    monkeypatch.setattr(f, "metadata", MappingProxyType({**f.metadata, "bounds": bounds}))


@pytest.fixture
def narrowed(monkeypatch):
    """The fast engine's largest size made 600 px, Gatys' most steps 50: in their declarations only."""
    from nst_core import FastOptions, GatysOptions

    _set_bounds(monkeypatch, FastOptions, "size", (16, 600))
    _set_bounds(monkeypatch, GatysOptions, "steps", (1, 50))


def test_a_changed_bound_reaches_the_api(narrowed):
    from nst_core import FastOptions, GatysOptions, OptionsError

    assert FastOptions("candy", size=600).validate()
    with pytest.raises(OptionsError, match=r"^size= must be a whole number from 16 to 600, not 601\."):
        FastOptions("candy", size=601).validate()
    with pytest.raises(OptionsError, match=r"^steps= must be a whole number from 1 to 50, not 51\."):
        GatysOptions(steps=51).validate()


def test_a_changed_bound_reaches_the_command_line(narrowed, tmp_path, capsys):
    from PIL import Image

    from nst_core.cli import build_parser, main

    helps = " ".join(build_parser().format_help().split())  # the stylize subcommand's help below
    sub = build_parser()._subparsers._group_actions[0].choices["stylize"].format_help()
    sub = " ".join(sub.split())
    assert "16 to 600 (fast)" in sub and "1 to 50" in sub, sub
    assert "stylize" in helps
    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), "red").save(photo)
    out = str(tmp_path / "out.png")
    assert main(["stylize", str(photo), "--style-image", str(photo), "--steps", "51", "-o", out]) == 2
    assert "--steps must be a whole number from 1 to 50, not 51." in capsys.readouterr().err  # argparse refused it
    assert main(["stylize", str(photo), "--style", "candy", "--size", "601", "-o", out]) == 2
    assert "--size must be a whole number from 16 to 600, not 601." in capsys.readouterr().err  # the engine did


def test_a_changed_bound_reaches_the_demo(narrowed, tmp_path):
    import gradio as gr

    from demo.config import load_config
    from demo.handlers import Stylist
    from demo.painting_tab import painting_tab

    config = load_config({}, device="cpu")
    assert (config.max_size, config.fast_size, config.gatys_max_steps) == (600, 512, 50)
    with pytest.raises(Exception, match="NST_DEMO_MAX_SIZE must be between 64 and 600"):
        load_config({"NST_DEMO_MAX_SIZE": "700"}, device="cpu")
    with gr.Blocks():
        tab = painting_tab(Stylist(config, tmp_path), config)
    assert tab.instant.size.maximum == 600 and tab.gatys.steps.maximum == 50


def test_a_changed_bound_reaches_the_bots(narrowed):
    from bots.config import CommonConfig, ConfigError
    from bots.options import BadOptions, check_size

    config = CommonConfig.from_env({})
    assert config.max_size == 600 and check_size("600", config) == 600
    with pytest.raises(BadOptions, match="600"):
        check_size("601", CommonConfig(max_size=1024))  # even where the server allows more, the engine decides
    with pytest.raises(ConfigError, match="NST_BOT_MAX_SIZE must be between 64 and 600"):
        CommonConfig.from_env({"NST_BOT_MAX_SIZE": "700"})
    with pytest.raises(ConfigError, match="NST_BOT_GATYS_STEPS must be between 1 and 50"):
        CommonConfig.from_env({"NST_BOT_GATYS_STEPS": "51"})


def test_a_changed_bound_reaches_the_docs(narrowed):
    from tools.settings_docs import tables

    demo_doc, bots_doc = tables().values()
    assert "| `NST_DEMO_MAX_SIZE` | 1024 / 2048 | 64 to 600 |" in demo_doc
    assert "| `NST_DEMO_GATYS_MAX_STEPS` | 500 / 2000 | 1 to 50 |" in demo_doc
    assert "| `NST_BOT_MAX_SIZE` | 1024 | 64 to 600 |" in bots_doc


def test_the_readmes_hold_the_generated_tables():
    """`python -m tools.settings_docs` rewrites them; a setting changed without it fails here."""
    from tools.settings_docs import rewritten, tables

    for path, table in tables().items():
        text = path.read_text(encoding="utf-8")
        assert rewritten(text, table) == text, f"{path.name} is stale: run python -m tools.settings_docs"
