"""Defects found by trying the core, the CLI and training as a new user would (issue #15), one test each.

Every user mistake or bad file ends with one `error:` line and exit code 2: no traceback, no half-written file,
nothing overwritten. In-process calls of the CLIs' `main` keep this file fast.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nst_core.cli import main as cli


def _img(path, w, h, seed=0):
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _one_error_line(err: str, phrase: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and phrase in lines[0].lower(), err
    assert "Traceback" not in err and "\x1b[" not in err


# ------------------------------------------------------------------------------------------ 2. tiny and thin
@pytest.mark.parametrize(("w", "h", "size", "expect"), [
    (1, 1, None, (1, 1)), (3, 3, None, (3, 3)), (2000, 8, 256, (256, 1)), (8, 2000, None, (8, 2000)),
])  # fmt: skip
def test_fast_styles_take_tiny_and_thin_images(tmp_path, capsys, w, h, size, expect):
    src, out = _img(tmp_path / "in.png", w, h), tmp_path / "out.png"
    extra = ["--size", str(size)] if size else []
    assert cli(["stylize", str(src), "--style", "starry_night", "-o", str(out), "-q", *extra]) == 0, capsys.readouterr()
    assert Image.open(out).size == expect


@pytest.mark.parametrize(("w", "h", "size", "expect"), [(2000, 8, 96, (96, 1)), (8, 2000, 96, (1, 96)),
                                                        (400, 300, 16, (16, 12))])
def test_gatys_takes_thin_images_and_its_documented_minimum_size(tmp_path, capsys, vgg19_path, styles_dir, w, h,
                                                                 size, expect):
    src, out = _img(tmp_path / "in.png", w, h), tmp_path / "out.png"
    code = cli(["stylize", str(src), "--style-image", str(styles_dir / "udnie.jpg"), "--steps", "2", "--size",
                str(size), "--vgg-weights", str(vgg19_path), "-o", str(out), "-q"])
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == expect
