"""Every setting is written once (#23): the registry stays torch-free, a bound changed in its one definition
reaches every interface, and no range or default of an option is written a second time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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

    from nst_core.cli import main

    assert main(["stylize", "--help"]) == 0
    helps = " ".join(capsys.readouterr().out.split())
    assert "16 to 600 (fast)" in helps and "--steps STEPS L-BFGS/Adam steps" in helps and "1 to 50" in helps, helps
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


# ------------------------------------------------------------------- no range or default written twice
ROOT = Path(__file__).resolve().parents[1]
FRONT_ENDS = [*sorted((ROOT / "demo").glob("*.py")), *sorted((ROOT / "bots").rglob("*.py"))]
ENV_PREFIXES = ("NST_", "DISCORD_", "SLACK_", "PORT")


def _engine_options() -> dict[str, set[float]]:
    """Every option of the three engines and the numbers of its range."""
    from dataclasses import fields

    from nst_core import ArbitraryOptions, FastOptions, GatysOptions

    out: dict[str, set[float]] = {}
    for cls in (FastOptions, GatysOptions, ArbitraryOptions):
        for f in fields(cls):
            out.setdefault(f.name, set()).update(f.metadata.get("bounds") or ())
    return out


def _number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _findings(path: Path, options: dict[str, set[float]]) -> list[str]:
    """Numbers a front end writes that a declaration already holds: an environment variable parsed with a
    literal default or range (the old `from_env`), a slider or number box with literal limits, an engine
    option compared with a literal."""
    tree, where = ast.parse(path.read_text(encoding="utf-8")), path.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            args = [*node.args, *(k.value for k in node.keywords)]
            named = [a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            declared = _name(node.func) == "setting"  # the one definition
            if not declared and any(n.startswith(ENV_PREFIXES) for n in named) and any(_number(a) for a in args):
                found.append(f"{where}:{node.lineno}: {named[0]} parsed with a literal default or range")
            if _name(node.func) in ("Slider", "Number"):
                limits = [*node.args[:2], *(k.value for k in node.keywords if k.arg in ("minimum", "maximum"))]
                if any(_number(a) for a in limits):
                    found.append(f"{where}:{node.lineno}: a {_name(node.func)} with literal limits")
        if isinstance(node, ast.Compare) and not all(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
            operands = [node.left, *node.comparators]
            names = {_name(o) for o in operands} & set(options)
            if names and any(_number(o) for o in operands):
                found.append(f"{where}:{node.lineno}: {', '.join(sorted(names))} compared with a literal")
    return found


def test_no_front_end_writes_a_range_or_default_again():
    options = _engine_options()
    found = [hit for path in FRONT_ENDS for hit in _findings(path, options)]
    assert not found, "\n".join(found)


def test_the_scan_sees_what_it_forbids(tmp_path):
    """The checks above can fail: each old pattern is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        'max_size = _int(env, "NST_DEMO_MAX_SIZE", 1024, minimum=64)\n'
        "slider = gr.Slider(1, 500, value=100)\n"
        "ok = 0.0 <= strength <= 1.0\n",
        encoding="utf-8",
    )
    found = _findings(sample, _engine_options())
    assert len(found) == 3, found


def test_the_engines_size_limits_are_written_once():
    """8192 and 4096, the longest sides the engines accept, are constants assigned once in nst_core (the
    smallest, 16, is too common a number to look for)."""
    engine_files = [p for p in sorted((ROOT / "nst_core").rglob("*.py")) if "train" not in p.parts]
    options = _engine_options()
    for value in sorted(v for v in options["size"] if v >= 1000):
        places = []
        for path in engine_files:
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.Assign) and any(
                    isinstance(c, ast.Constant) and c.value == value for c in ast.walk(node.value)
                ):
                    places.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        assert len(places) == 1, (value, places)
