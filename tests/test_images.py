"""load_image must turn any upload into RGB or a readable ImageError; every odd input is built right here."""

from __future__ import annotations

import io
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from nst_core.errors import ImageError, OptionsError
from nst_core.images import (
    DEFAULT_MAX_PIXELS,
    encode_image,
    load_image,
    pil_to_tensor,
    resize_long_side,
    save_image,
    tensor_to_pil,
)

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _close(px, want, tol=8) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(px, want, strict=True))


def _two_tone(size=(40, 20)) -> Image.Image:
    """Left half red, right half blue: orientation and first-frame checks can see where pixels went."""
    im = Image.new("RGB", size, BLUE)
    im.paste(RED, (0, 0, size[0] // 2, size[1]))
    return im


# ----------------------------------------------------------------------------------------------- sources
def test_every_source_kind_gives_the_same_rgb_image(tmp_path):
    src = _two_tone()
    data = _encode(src, "PNG")
    path = tmp_path / "a.png"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        from_file = load_image(fh)
    results = [
        load_image(str(path)),
        load_image(path),
        load_image(data),
        load_image(bytearray(data)),
        load_image(io.BytesIO(data)),
        from_file,
        load_image(src),
    ]
    for im in results:
        assert im.mode == "RGB" and im.size == (40, 20)
        assert np.array_equal(np.asarray(im), np.asarray(src))


def test_pil_input_is_not_modified_and_result_is_a_copy():
    src = Image.new("RGBA", (3, 3), (0, 0, 0, 0))
    out = load_image(src)
    assert src.mode == "RGBA" and out is not src
    assert out.getpixel((1, 1)) == WHITE


def test_exif_orientation_6_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    data = _encode(_two_tone((40, 20)), "JPEG", exif=exif.tobytes(), quality=95)
    im = load_image(data)
    assert im.size == (20, 40)  # dimensions swap
    assert _close(im.getpixel((10, 2)), RED, 40)  # the left (red) half is now on top
    assert _close(im.getpixel((10, 37)), BLUE, 40)


# -------------------------------------------------------------------------------------------------- modes
def test_rgba_transparent_pixel_becomes_white_and_opaque_is_kept():
    im = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    im.putpixel((1, 0), (10, 200, 30, 255))
    out = load_image(_encode(im, "PNG"))
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == (10, 200, 30)


def test_half_transparent_black_is_grey_on_white():
    out = load_image(Image.new("RGBA", (1, 1), (0, 0, 0, 128)))
    assert _close(out.getpixel((0, 0)), (127, 127, 127), 2)


def test_la_is_composited_on_white():
    im = Image.new("LA", (2, 1), (0, 0))
    im.putpixel((1, 0), (50, 255))
    out = load_image(_encode(im, "PNG"))
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((1, 0)) == (50, 50, 50)


def test_palette_with_transparency_is_composited_on_white():
    im = Image.new("P", (2, 1))
    im.putpalette([255, 0, 0, 0, 0, 255])
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    out = load_image(_encode(im, "PNG", transparency=1))
    assert out.getpixel((0, 0)) == RED and out.getpixel((1, 0)) == WHITE


def test_keep_alpha_gives_the_transparency_back_beside_the_rgb_policy():
    im = Image.new("RGBA", (2, 1), (0, 0, 0, 0))
    im.putpixel((1, 0), (10, 200, 30, 128))
    out = load_image(_encode(im, "PNG"), keep_alpha=True)
    assert out.mode == "RGBA" and list(out.getchannel("A").tobytes()) == [0, 128]
    assert out.getpixel((0, 0))[:3] == WHITE  # the colours are those load_image paints
    assert load_image(_encode(_two_tone((4, 2)), "PNG"), keep_alpha=True).mode == "RGB"  # opaque stays RGB


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((4000, 3000), (512, 384)),  # an ordinary photo: the long side
        ((3000, 4000), (384, 512)),
        ((2000, 1000), (512, 256)),  # 2:1 exactly: still the long side
        ((6000, 800), (991, 132)),  # a panorama: a 2:1 picture's pixels, not a 512x68 strip
        ((800, 6000), (132, 991)),
        ((1000, 100), (1000, 100)),  # never more pixels than the picture has
        ((20000, 100), (2048, 10)),  # nor a long side over four times the size
        ((300, 200), (512, 341)),  # a small photo is enlarged to the size, as before
    ],
)
def test_sized_for_is_the_long_side_with_a_pixel_floor_for_panoramas(size, expected):
    from nst_core.images import resize_to_size, sized_for

    assert sized_for(*size, 512) == expected
    assert resize_to_size(Image.new("RGB", size), 512).size == expected


def test_cmyk_jpeg_becomes_rgb():
    data = _encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = load_image(data)
    assert out.mode == "RGB" and _close(out.getpixel((8, 8)), RED, 30)


def test_grey_and_one_bit():
    assert load_image(_encode(Image.new("L", (2, 2), 77), "PNG")).getpixel((0, 0)) == (77, 77, 77)
    bw = Image.new("1", (2, 1), 0)
    bw.putpixel((1, 0), 1)
    out = load_image(_encode(bw, "PNG"))
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((1, 0)) == WHITE


def test_16_bit_png_is_scaled_not_clipped():
    im = Image.new("I;16", (3, 1))
    for x, v in enumerate((0, 32768, 65535)):
        im.putpixel((x, 0), v)
    data = _encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    out = load_image(data)
    assert [out.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_32_bit_int_in_16_bit_range_is_treated_as_16_bit_else_stretched():
    im = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32))
    assert im.mode == "I"
    assert [load_image(im).getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    wide = Image.fromarray(np.array([[-100, 0, 155]], dtype=np.int32))  # own range -100..155 -> 0..255
    assert [load_image(wide).getpixel((x, 0))[0] for x in range(3)] == [0, 100, 255]


def test_float_tiff_0_to_1_is_scaled_and_other_ranges_are_stretched():
    im = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert im.mode == "F"
    out = load_image(_encode(im, "TIFF"))
    assert [out.getpixel((x, 0))[0] for x in range(3)] == [0, 128, 255]
    wide = Image.fromarray(np.array([[10.0, 500.0, 1020.0, np.nan]], dtype=np.float32))
    out = load_image(_encode(wide, "TIFF"))  # NaN -> 0, so the range is 0..1020 (x 0.25)
    assert [out.getpixel((x, 0))[0] for x in range(4)] == [2, 125, 255, 0]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_gives_the_first_frame(fmt):
    frames = [Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)]
    kw = {"lossless": True} if fmt == "WEBP" else {}
    data = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    out = load_image(data)
    assert out.mode == "RGB" and _close(out.getpixel((4, 4)), RED, 10)


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_data_is_refused(fmt):
    noise = Image.effect_noise((64, 64), 60).convert("RGB")
    data = _encode(noise, fmt)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (b"", "empty"),
        (b"Hello, this is a shopping list.\nmilk\neggs\n", "looks like text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF document"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "web page"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "header is invalid"),
        (random.Random(1234).randbytes(4096), "not an image"),
    ],
    ids=["empty", "text", "pdf", "html", "svg", "heic", "bad-png-header", "random"],
)
def test_non_images_are_refused_with_a_clear_reason(data, phrase):
    with pytest.raises(ImageError, match=phrase):
        load_image(data)


def test_eps_is_refused_because_it_would_run_ghostscript():
    data = _encode(Image.new("RGB", (4, 4)), "EPS")
    with pytest.raises(ImageError, match="PostScript"):
        load_image(data)


def test_zero_size_images_are_refused(tmp_path):
    with pytest.raises(ImageError, match="zero size"):
        load_image(Image.new("RGB", (0, 5)))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(empty)
    # a PNG whose header (with a valid CRC) claims width 0
    d = bytearray(_encode(Image.new("RGB", (1, 1)), "PNG"))
    d[16:20] = struct.pack(">I", 0)
    d[29:33] = struct.pack(">I", zlib.crc32(bytes(d[12:29])))
    with pytest.raises(ImageError, match=r"corrupt|zero size"):
        load_image(bytes(d))


def test_decompression_bomb_is_refused_from_the_header_without_decoding(monkeypatch):
    data = _encode(Image.new("L", (3000, 3000)), "PNG")  # ~9 KB on disk, 9 megapixels decoded
    assert len(data) < 100_000

    def no_decode(self):
        raise AssertionError("pixels were decoded before the size check")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decode)
    with pytest.raises(ImageError, match=r"too large: 3000x3000 .* over the limit of 1\.0 megapixels"):
        load_image(data, max_pixels=1_000_000)
    monkeypatch.setenv("NST_MAX_PIXELS", "1_000_000")
    with pytest.raises(ImageError, match="limit"):
        load_image(io.BytesIO(data))


def test_pixel_limit_default_env_and_argument(monkeypatch):
    assert DEFAULT_MAX_PIXELS == 64_000_000
    data = _encode(Image.new("L", (1200, 1000), 9), "PNG")
    monkeypatch.setenv("NST_MAX_PIXELS", "1000000")
    with pytest.raises(ImageError, match=r"1\.2 megapixels"):
        load_image(data)
    assert load_image(data, max_pixels=2_000_000).size == (1200, 1000)  # argument beats env
    monkeypatch.setenv("NST_MAX_PIXELS", "lots")
    with pytest.raises(OptionsError, match="NST_MAX_PIXELS"):
        load_image(data)
    with pytest.raises(OptionsError, match="max_pixels"):
        load_image(data, max_pixels=0)


@pytest.mark.parametrize(("side", "kind"), [(40, "warning"), (50, "error")])
def test_pillow_own_bomb_guard_becomes_image_error(monkeypatch, side, kind):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1600 px warns, 2500 px (> 2x) errors
    with pytest.raises(ImageError, match="too large"):
        load_image(_encode(Image.new("RGB", (side, side)), "PNG"), max_pixels=10**9)


@pytest.mark.parametrize(("value", "name"), [(42, "int"), (None, "NoneType"), (3.5, "float"), ([1], "list")])
def test_wrong_types_are_refused(value, name):
    with pytest.raises(ImageError, match=f"^expected a path, bytes, file object or PIL image, got {name}$"):
        load_image(value)


def test_bad_paths(tmp_path):
    with pytest.raises(ImageError, match=r"file not found: .*nope\.png"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="empty"):
        load_image("")
    if hasattr(os, "mkfifo"):  # opening a FIFO with no writer would block forever
        os.mkfifo(tmp_path / "pipe.png")
        with pytest.raises(ImageError, match="not a regular file"):
            load_image(tmp_path / "pipe.png")
    with pytest.raises(ImageError, match=r"file not found: https://.*downloaded"):
        load_image("https://example.com/cat.png")


def test_bad_file_objects(tmp_path):
    p = tmp_path / "a.png"
    p.write_bytes(_encode(Image.new("RGB", (2, 2)), "PNG"))
    with open(p, encoding="latin-1") as text_mode, pytest.raises(ImageError, match="binary mode"):
        load_image(text_mode)

    class Endless:
        """Returns garbage forever: must be cut off, never hang."""

        def read(self, n=-1):
            return b"\x13garbage" * (max(n, 8) // 8)

    with pytest.raises(ImageError, match="larger than"):
        load_image(Endless(), max_pixels=1000)

    class Stringy:
        def read(self, n=-1):
            return "not bytes"

    with pytest.raises(ImageError, match="not bytes"):
        load_image(Stringy())
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(ImageError, match="could not read"):
        load_image(closed)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count open files")
def test_no_file_handles_leak(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in (RED, BLUE)]
    good = tmp_path / "anim.gif"
    frames[0].save(good, save_all=True, append_images=frames[1:])
    bad = tmp_path / "cut.png"
    bad.write_bytes(_encode(Image.effect_noise((32, 32), 60), "PNG")[:200])
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(10):
        load_image(good)
        with pytest.raises(ImageError):
            load_image(bad)
    assert len(os.listdir("/proc/self/fd")) == before


# ------------------------------------------------------------------------------------------------ resize
def test_resize_long_side_keeps_aspect_both_orientations():
    assert resize_long_side(Image.new("RGB", (400, 200)), 100).size == (100, 50)
    assert resize_long_side(Image.new("RGB", (200, 400)), 100).size == (50, 100)
    assert resize_long_side(Image.new("RGB", (30, 20)), 60).size == (60, 40)  # upscaling too
    assert resize_long_side(Image.new("RGB", (1000, 1)), 10).size == (10, 1)  # never below 1 px
    same = Image.new("RGB", (10, 5))
    assert resize_long_side(same, 10).size == (10, 5) and resize_long_side(same, 10) is not same


def test_resize_is_antialiased():
    checker = Image.fromarray((np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)).convert("RGB")
    small = np.asarray(resize_long_side(checker, 8)).astype(int)
    assert np.all(np.abs(small - 128) < 20)  # nearest-neighbour would give pure 0 or 255


@pytest.mark.parametrize("bad", [0, -5, 2.5, True])
def test_resize_rejects_bad_sizes(bad):
    with pytest.raises(OptionsError):
        resize_long_side(Image.new("RGB", (4, 4)), bad)


# -------------------------------------------------------------------------------------------------- save
@pytest.mark.parametrize(("name", "fmt"), [("o.png", "PNG"), ("o.jpg", "JPEG"), ("o.JPEG", "JPEG"), ("o.webp", "WEBP")])
def test_save_infers_format_from_suffix_and_creates_folders(tmp_path, name, fmt):
    dest = tmp_path / "new" / "dir" / name
    save_image(_two_tone(), dest)
    with Image.open(dest) as im:
        assert im.format == fmt and im.size == (40, 20)
    assert [p.name for p in dest.parent.iterdir()] == [name]  # no temporary file left behind


def test_save_options(tmp_path):
    with pytest.raises(OptionsError, match=r"\.png, \.jpg or \.webp"):
        save_image(_two_tone(), tmp_path / "o.bmp")
    with pytest.raises(OptionsError, match="format"):
        save_image(_two_tone(), tmp_path / "o.png", format="gif")
    with pytest.raises(OptionsError, match="quality"):
        save_image(_two_tone(), tmp_path / "o.jpg", quality=0)
    assert not (tmp_path / "o.jpg").exists()
    save_image(_two_tone(), tmp_path / "no_suffix", format="jpeg")  # explicit format wins
    with Image.open(tmp_path / "no_suffix") as im:
        assert im.format == "JPEG"
    buf = io.BytesIO()
    save_image(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), buf, format="JPEG")  # alpha -> white for JPEG
    assert _close(Image.open(io.BytesIO(buf.getvalue())).getpixel((2, 2)), WHITE, 3)


def test_encode_image_formats():
    im = _two_tone()
    assert encode_image(im).startswith(b"\x89PNG")
    assert encode_image(im, "JPEG", quality=80).startswith(b"\xff\xd8")
    webp = encode_image(im, "webp")
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    assert np.array_equal(np.asarray(load_image(encode_image(im))), np.asarray(im))  # PNG is lossless


# ----------------------------------------------------------------------------------------------- tensors
def test_tensor_round_trip_is_exact():
    arr = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    t = pil_to_tensor(im)
    assert t.shape == (1, 3, 5, 7) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert np.array_equal(np.asarray(tensor_to_pil(t)), arr)
    assert np.array_equal(np.asarray(tensor_to_pil(t[0])), arr)  # 3xHxW too
    assert pil_to_tensor(im, device="cpu").device.type == "cpu"


def test_tensor_to_pil_clamps_and_checks_shape():
    t = torch.tensor([-1.0, 0.5, 2.0]).view(1, 3, 1, 1).requires_grad_()
    assert tensor_to_pil(t).getpixel((0, 0)) == (0, 128, 255)
    with pytest.raises(ValueError, match="1x3xHxW"):
        tensor_to_pil(torch.zeros(4, 5, 5))
    assert pil_to_tensor(Image.new("RGBA", (1, 1), (0, 0, 0, 0))).flatten().tolist() == [1.0, 1.0, 1.0]


# ------------------------------------------------------------------------------------------- real photo
def test_a_real_content_photo_loads():
    root = Path(os.environ.get("NST_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    photos = sorted((root / "content").glob("*.jpg")) if (root / "content").is_dir() else []
    if not photos:
        pytest.skip(f"shared data absent: no content photos under {root}")
    im = load_image(photos[0])
    assert im.mode == "RGB" and min(im.size) > 100


def test_env_number_reads_checks_and_names_the_variable():
    from nst_core.envvars import env_number

    env = {"A": " 1_024 ", "B": "2.5", "C": "lots", "D": "0", "E": "nan", "F": ""}
    assert env_number("A", 7, env=env) == 1024 and env_number("F", 7, env=env) == 7
    assert env_number("MISSING", 7, env=env) == 7
    assert env_number("B", 1.0, whole=False, env=env) == 2.5
    with pytest.raises(OptionsError, match=r"^B must be a whole number, got '2.5'\."):
        env_number("B", 1, env=env)
    with pytest.raises(OptionsError, match="C must be a number"):
        env_number("C", 1.0, whole=False, env=env)
    with pytest.raises(OptionsError, match="D must be at least 1, got 0"):
        env_number("D", 5, lo=1, env=env)
    with pytest.raises(OptionsError, match="A must be between 1 and 100, got 1_024"):
        env_number("A", 5, lo=1, hi=100, env=env)
    with pytest.raises(OptionsError, match="E must be a finite number, got 'nan'"):
        env_number("E", 1.0, lo=1, whole=False, env=env)
    with pytest.raises(OptionsError, match=r"D must be between 0\.5 and 1000000, got 0"):
        env_number("D", 1.0, lo=0.5, hi=1e6, whole=False, env=env)
    with pytest.raises(KeyError):  # a front end keeps its own exception type
        env_number("C", 1, env=env, error=KeyError)


# ------------------------------------------------------------------------ first call of a fresh process (#15.1)
_FRESH = r"""
import sys, threading
from pathlib import Path
jpeg, xbm, eps = (Path(p).read_bytes() for p in sys.argv[1:4])  # made by the parent: saving here would init Pillow
from nst_core.images import load_image
from nst_core.errors import ImageError
results = []
def job():
    try:
        results.append(load_image(jpeg).size)
    except ImageError as e:
        results.append(str(e))
threads = [threading.Thread(target=job) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
print("jpeg", sorted(set(map(str, results))))
for name, data in (("eps", eps), ("xbm", xbm), ("xbm-again", xbm)):
    try:
        print(name, "loaded", load_image(data).size)
    except ImageError as e:
        print(name, "refused")
"""


@pytest.mark.parametrize("attempt", range(3))
def test_first_calls_in_a_fresh_process_agree_and_never_open_postscript(attempt, tmp_path):
    """Concurrent first loads never see a half-registered plugin list; EPS is refused on the very first call;
    a format outside the allow-list is refused the same way on the first and the second call."""
    import subprocess
    import sys

    arr = np.random.default_rng(attempt).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    data = [
        _encode(Image.fromarray(arr), "JPEG"),
        _encode(Image.new("1", (8, 8)), "XBM"),
        _encode(Image.new("RGB", (4, 4)), "EPS"),
    ]
    paths = [tmp_path / name for name in ("a.jpg", "b.xbm", "c.eps")]
    for path, d in zip(paths, data, strict=True):
        path.write_bytes(d)
    done = subprocess.run([sys.executable, "-c", _FRESH, *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert lines["jpeg"] == "['(640, 480)']", lines
    assert lines["eps"] == "refused"
    assert lines["xbm"] == lines["xbm-again"] == "refused"


def test_a_label_names_the_upload_instead_of_the_servers_path(tmp_path):
    """Front ends label uploads: no temporary path and no server-settings advice reaches the sender."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    bad = tmp_path / "gradio-upload-3f2a" / "photo.jpg"
    bad.parent.mkdir()
    bad.write_bytes(buf.getvalue()[:-200])
    with pytest.raises(ImageError) as err:
        load_image(bad, label="your photo")
    message = str(err.value)
    assert message.startswith("your photo is a ") and "corrupt" in message and "gradio-upload" not in message
    big = tmp_path / "big.png"
    Image.new("RGB", (300, 300)).save(big)
    with pytest.raises(ImageError) as err:
        load_image(big, max_pixels=10_000, label="your photo")
    assert (
        "too large" in str(err.value) and "NST_MAX_PIXELS" not in str(err.value) and str(tmp_path) not in str(err.value)
    )


def test_shrink_to_reads_a_huge_jpeg_at_a_reduced_scale(tmp_path):
    path = tmp_path / "camera.jpg"
    Image.effect_mandelbrot((3000, 2000), (-2, -1, 1, 1), 30).convert("RGB").save(path, quality=85)
    with pytest.raises(ImageError, match="too large"):
        load_image(path, max_pixels=2_000_000)  # 6 MP over a 2 MP limit
    img = load_image(path, max_pixels=2_000_000, shrink_to=1024)  # decoded at 1/2 scale (1500x1000), then fitted
    assert img.size == (1024, 683) and img.mode == "RGB"
    small = load_image(path, shrink_to=4000)  # already small enough: untouched
    assert small.size == (3000, 2000)
    png = tmp_path / "wide.png"
    Image.new("RGB", (1200, 300), (1, 2, 3)).save(png)
    assert load_image(png, shrink_to=600).size == (600, 150)  # other formats: decoded, then fitted
    with pytest.raises(OptionsError):
        load_image(png, shrink_to=0)


def test_min_side_judges_the_picture_as_sent_not_as_shrunk(tmp_path):
    dot, panorama = tmp_path / "dot.png", tmp_path / "panorama.png"
    Image.new("RGB", (1, 1)).save(dot)
    Image.new("RGB", (3000, 40), (9, 99, 199)).save(panorama)
    with pytest.raises(ImageError, match=r"^your photo is only 1x1 pixels, too small to paint"):
        load_image(dot, label="your photo", min_side=16)
    assert load_image(panorama, shrink_to=1024, min_side=16).size == (1024, 14)  # 40 px tall as sent: accepted
