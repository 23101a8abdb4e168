"""The command line: bundled styles work offline, and user mistakes exit 2 with one readable line."""

import io
import subprocess
import sys

import pytest
from PIL import Image

import nst_core
from nst_core.cli import main

BUNDLED = ["composition_vii", "great_wave", "starry_night", "udnie"]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.effect_mandelbrot((96, 64), (-2, -1, 1, 1), 50).convert("RGB").save(path)
    return path


def test_bundled_styles_are_installed():
    names = [s.name for s in nst_core.list_styles()]
    assert set(BUNDLED) <= set(names)
    for s in nst_core.list_styles():
        if s.name in BUNDLED:
            assert s.artist and s.preview_path is not None and s.preview_path.is_file()


def test_python_api_stylises_with_a_bundled_style_offline(photo):
    out = nst_core.stylize(photo, style="starry_night", device="cpu")
    assert out.size == (96, 64)
    original = Image.open(photo).convert("RGB")
    diff = sum(abs(a - b) for a, b in zip(out.tobytes(), original.tobytes(), strict=True)) / len(out.tobytes())
    assert diff > 10  # it really changed the picture


def test_cli_fast_stylize_and_styles_listing(tmp_path, photo):
    out = tmp_path / "out.jpg"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_core",
            "stylize",
            str(photo),
            "--style",
            "great_wave",
            "-o",
            str(out),
            "--size",
            "80",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(out).size == (80, 53)
    listing = subprocess.run([sys.executable, "-m", "nst_core", "styles"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and all(name in listing.stdout for name in BUNDLED)


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize(
    "make_input,extra,phrase",
    [
        (lambda p: p.write_text("hello, not an image"), [], "not an image"),
        (lambda p: p.write_bytes(b""), [], "empty"),
        (lambda p: p.write_bytes(_png_bytes()[:60]), [], "truncated"),
        (None, [], "not found"),
    ],
)
def test_bad_content_files(tmp_path, capsys, make_input, extra, phrase):
    src = tmp_path / "input.png"
    if make_input is not None:
        make_input(src)
    code, err = _run(["stylize", str(src), "--style", "starry_night", "-o", str(tmp_path / "o.png"), *extra], capsys)
    assert code == 2 and err.startswith("error:") and phrase in err.lower(), err
    assert "Traceback" not in err


def _png_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "args,phrase",
    [
        (["--style", "no_such_style"], "unknown style"),
        (["--style", "starry_night", "--size", "0"], "size"),
        (["--style", "starry_night", "--strength", "7"], "strength"),
        (["--style", "starry_night", "--steps", "5"], "unknown option"),
        (["--style-image", "STYLE", "--steps", "-3"], "steps"),
        (["--style-image", "STYLE", "--style-weight", "nan"], "--style-weight must be a number"),
        (["--style-image", "STYLE", "--loss-net-weights", "/nonexistent/w.pth"], "not found"),
    ],
)
def test_absurd_options(tmp_path, capsys, photo, args, phrase):
    args = [str(photo) if a == "STYLE" else a for a in args]
    code, err = _run(["stylize", str(photo), "-o", str(tmp_path / "o.png"), *args], capsys)
    assert code == 2 and phrase in err.lower(), err
    assert "Traceback" not in err


def test_bad_output_is_refused_before_any_work(tmp_path, capsys, photo, monkeypatch):
    monkeypatch.setattr("nst_core.cli.stylize", lambda *a, **k: pytest.fail("stylize must not run"))
    code, err = _run(["stylize", str(photo), "--style", "starry_night", "-o", str(tmp_path / "o.gif")], capsys)
    assert code == 2 and "format" in err


def test_import_style_command_records_where_it_came_from(candy_path, tmp_path, monkeypatch, capsys):
    pth = candy_path
    code = main(["import-style", str(pth), "--name", "candy", "--out", str(tmp_path), "--artist", "unknown",
                 "--style-image", "/somewhere/local/candy.jpg"])  # fmt: skip
    assert code == 0 and "imported" in capsys.readouterr().out
    monkeypatch.setenv("NST_WEIGHTS_DIR", str(tmp_path))
    info = nst_core.get_style("candy")
    assert info.meta["style_image"] == "candy.jpg" and info.meta["source"] == "candy.pth"  # names, no local paths
    assert info.artist == "unknown" and info.preview_path is not None
    assert main(["styles"]) == 0 and "candy" in capsys.readouterr().out
    assert main(["import-style", str(tmp_path / "nope.pth"), "--name", "x", "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_mask_styles_only_its_region(tmp_path):
    import numpy as np
    from PIL import Image

    from nst_core.cli import main

    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(photo)
    mask = np.zeros((40, 60), np.uint8)
    mask[:, :30] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = tmp_path / "o.png"
    assert (
        main(["stylize", str(photo), "--style", "udnie", "--mask", str(tmp_path / "m.png"), "-o", str(out), "-q"]) == 0
    )
    assert np.array_equal(np.asarray(Image.open(out))[:, 34:], np.asarray(Image.open(photo))[:, 34:])
    assert main(["stylize", str(photo), "--style", "udnie", "--style", "mondrian", "-o", str(out), "-q"]) == 2
    assert main(["stylize", str(photo), "--style", "udnie", "--invert-mask", "-o", str(out), "-q"]) == 2
