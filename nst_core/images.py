"""Image input/output: the one place where untrusted bytes become pixels, and pixels become files or tensors.

Every front end (CLI, web demo, chat bots) hands user uploads to `load_image`, so it must turn *anything* into
either an RGB image or an `ImageError` whose message a person can act on: not an image, truncated, too large,
empty, wrong type. Size is checked from the header before any pixel is decoded, so a decompression bomb never
allocates its pixels.

Pixel-mode policy (everything ends as 8-bit RGB):
- alpha (RGBA, LA, PA, P/L/RGB with a transparency key) is composited on white, like a browser would show it;
- ``I;16*`` (16-bit) is scaled to 8 bits by ``round(v / 257)`` so 65535 -> 255 and 32768 -> 128 (no clipping);
- ``I`` (32-bit int) is treated as 16-bit data when all values are in 0..65535 (what 16-bit files used to
  decode to), otherwise its own min..max range is stretched to 0..255;
- ``F`` (float) is treated as 0..1 when all finite values are in 0..1, otherwise its min..max range is
  stretched; NaN/inf become 0;
- CMYK, L, 1, YCbCr, ... use Pillow's conversion (embedded ICC profiles are not applied).
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from .atomic import atomic_write
from .envvars import env_number
from .errors import ImageError, NSTError, OptionsError
from .sniff import describe_unreadable

DEFAULT_MAX_PIXELS = 64_000_000
MAX_PIXELS_ENV = "NST_MAX_PIXELS"

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image

# Raster formats we let Pillow try. Deliberately excludes EPS (Pillow shells out to Ghostscript) and obscure
# scientific/legacy formats whose decoders see little fuzzing; HEIF counts only if a plugin registered it.
_ALLOWED_FORMATS = (
    "PNG", "JPEG", "MPO", "GIF", "WEBP", "AVIF", "HEIF", "BMP", "DIB", "TIFF", "ICO", "CUR", "ICNS",
    "PPM", "TGA", "PCX", "SGI", "QOI", "PSD", "JPEG2000", "DDS", "IM",
)  # fmt: skip

# Pillow registers most plugins lazily, on the first Image.open that needs them. Two threads doing that first
# open at once race (a valid JPEG read as "corrupt"), and before it the registry is empty, so an allow-list built
# from it would be empty too and every plugin (EPS runs Ghostscript) would be tried. So: register every plugin
# once, now, while the import lock makes this single-threaded, and freeze the allow-list.
Image.init()
_OPEN_FORMATS = tuple(f for f in _ALLOWED_FORMATS if f in Image.OPEN)

# A file object is read into memory first (Pillow would do the same for unseekable streams). The cap stops an
# endless stream from hanging us: no legitimate file holds more than ~8 bytes per allowed pixel plus metadata.
_BYTES_PER_PIXEL_CAP = 8
_METADATA_SLACK = 16 * 1024 * 1024
_READ_CHUNK = 1024 * 1024

_SAVE_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "jpe": "JPEG", "webp": "WEBP"}
_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383, "PNG": 2**31 - 1}
_SAVE_MODES = {"PNG": {"RGB", "RGBA", "L", "LA", "1", "P"}, "JPEG": {"RGB", "L"}, "WEBP": {"RGB", "RGBA"}}


# --------------------------------------------------------------------------------------------------- loading
def load_image(
    source: ImageSource,
    *,
    max_pixels: int | None = None,
    label: str | None = None,
    shrink_to: int | None = None,
    min_side: int | None = None,
    keep_alpha: bool = False,
) -> Image.Image:
    """Decode `source` fully into a new 8-bit RGB image, or raise `ImageError` saying why it cannot be used.

    `max_pixels` (default: env NST_MAX_PIXELS, else DEFAULT_MAX_PIXELS) bounds width*height; it is checked
    from the header, before decoding. The returned image owns its pixels: no file handle stays open.

    Servers pass `label` ("your photo") so messages name the upload, never a temporary path on the server, and
    carry no advice about settings the sender cannot change. `shrink_to` (a long side in px) is for callers that
    will scale the picture down anyway: a JPEG is decoded at a reduced scale (Pillow's draft mode) before the pixel
    limit is checked, so a 9000x9000 camera photo is read as about 1100x1100 instead of being refused; any image
    comes back no larger than `shrink_to`. `min_side` refuses a picture whose short side (as sent, before any
    shrinking) is smaller: a 1x1 pixel or an 8 px strip is a mistake to point out, not something to paint.
    `keep_alpha` returns RGBA when the picture has transparency (the colour channels as in the RGB policy,
    alpha on white), so `stylize` can paint the colours and give the transparency back.
    """
    limit = _resolve_max_pixels(max_pixels)
    if shrink_to is not None and (isinstance(shrink_to, bool) or not isinstance(shrink_to, int) or shrink_to < 1):
        raise OptionsError(f"shrink_to must be a whole number of pixels of at least 1, got {shrink_to!r}")
    read = _Read(limit, label, shrink_to, min_side, keep_alpha)
    if isinstance(source, Image.Image):
        _check_size(source.size, read)
        read.check_min_side(source, label or "the image")
        _decode(source, label or "the image")
        return read.fit(_finish(source, read.keep_alpha))
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _load_bytes(bytes(source), read, label or "the image data")
    if isinstance(source, (str, os.PathLike)):
        return _load_path(source, read)
    if hasattr(source, "read"):
        return _load_bytes(_read_stream(source, limit), read, label or "the uploaded file")
    raise ImageError(f"expected a path, bytes, file object or PIL image, got {type(source).__name__}")


@dataclass(frozen=True)
class _Read:
    """How one load_image call reads: its pixel limit, how messages name the source, the size it is wanted at."""

    limit: int
    label: str | None = None
    shrink_to: int | None = None
    min_side: int | None = None
    keep_alpha: bool = False

    def check_min_side(self, im: Image.Image, what: str) -> None:
        if self.min_side and min(im.size) < self.min_side:
            w, h = im.size
            raise ImageError(
                f"{what} is only {w}x{h} pixels, too small to paint; "
                f"use a picture at least {self.min_side} pixels on each side"
            )

    def draft(self, im: Image.Image) -> None:
        # JpegImageFile: phone photos often open as MPO (a JPEG subclass); draft mode works for both
        if self.shrink_to and isinstance(im, JpegImagePlugin.JpegImageFile) and max(im.size) > self.shrink_to:
            scale = self.shrink_to / max(im.size)
            im.draft("RGB", (max(1, round(im.width * scale)), max(1, round(im.height * scale))))

    def fit(self, im: Image.Image) -> Image.Image:
        return resize_long_side(im, self.shrink_to) if self.shrink_to and max(im.size) > self.shrink_to else im


def _resolve_max_pixels(max_pixels: int | None) -> int:
    if max_pixels is None:
        return int(env_number(MAX_PIXELS_ENV, DEFAULT_MAX_PIXELS, lo=1))
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise OptionsError(f"max_pixels must be a positive whole number, got {max_pixels!r}")
    return max_pixels


def _load_path(source: str | os.PathLike, read: _Read) -> Image.Image:
    raw = os.fsdecode(os.fspath(source))
    if not raw.strip():
        raise ImageError("no image file given (the path is empty)")
    if raw.startswith(("http://", "https://")):
        raise ImageError(f"file not found: {raw} (web addresses are not downloaded; save the image first)")
    path = Path(raw)
    shown = read.label or str(path)
    if not path.exists():
        raise ImageError(f"file not found: {shown}")
    if path.is_dir():
        raise ImageError(f"{shown} is a folder, not an image file")
    if not path.is_file():  # a FIFO or device would block or never end
        raise ImageError(f"{shown} is not a regular file, so it cannot be read as an image")
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                raise ImageError(f"{shown} is empty (0 bytes), not an image")
            return _open_and_load(fh, read, shown)
    except PermissionError:
        raise ImageError(f"cannot read {shown}: permission denied") from None
    except NSTError:
        raise
    except OSError as exc:
        raise ImageError(f"cannot read {shown}: {exc.strerror or exc}") from exc


def _read_stream(stream: BinaryIO, limit: int) -> bytes:
    if isinstance(stream, io.TextIOBase):
        raise ImageError("the file was opened in text mode; open images in binary mode ('rb')")
    cap = limit * _BYTES_PER_PIXEL_CAP + _METADATA_SLACK
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = stream.read(min(_READ_CHUNK, cap + 1 - total))
        except (OSError, ValueError) as exc:  # ValueError: read from a closed file
            raise ImageError(f"could not read the uploaded file: {exc}") from exc
        if chunk is None:  # non-blocking stream with no data ready
            raise ImageError("the uploaded file gave no data (non-blocking stream); pass the bytes instead")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise ImageError(
                f"the file object returned {type(chunk).__name__}, not bytes; open images in binary mode ('rb')"
            )
        if not chunk:
            return b"".join(chunks)
        chunks.append(bytes(chunk))
        total += len(chunk)
        if total > cap:
            raise ImageError(
                f"the uploaded file is larger than {cap // (1024 * 1024)} MiB, more than any image "
                f"within the limit of {_mp(limit)} could need; it is not a usable image"
            )


def _load_bytes(data: bytes, read: _Read, what: str) -> Image.Image:
    if not data:
        raise ImageError(f"{what} is empty (0 bytes), not an image")
    return _open_and_load(io.BytesIO(data), read, what)


def _open_and_load(fh: BinaryIO, read: _Read, what: str) -> Image.Image:
    head = fh.read(64)
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fh, formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{what} is too large to open safely ({exc})") from None
    except UnidentifiedImageError:
        raise ImageError(describe_unreadable(head, what)) from None
    except Exception as exc:  # any plugin error on untrusted bytes means "corrupt", never a crash
        raise ImageError(f"{what} is a corrupt or unsupported image ({_reason(exc)})") from exc
    with im:
        read.check_min_side(im, what)
        read.draft(im)
        _check_size(im.size, read)
        _decode(im, what)
        return read.fit(_finish(im, read.keep_alpha))


def _check_size(size: tuple[int, int], read: _Read) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"the image has zero size ({w}x{h} pixels)")
    if w * h > read.limit:
        advice = "" if read.label else f" (or raise max_pixels / {MAX_PIXELS_ENV})"
        raise ImageError(
            f"the image is too large: {w}x{h} pixels ({_mp(w * h)}) is over the limit of {_mp(read.limit)}; "
            f"shrink it first{advice}"
        )


def _decode(im: Image.Image, what: str) -> None:
    """Force the full decode now, so truncated data fails here rather than later in the pipeline."""
    try:
        im.load()
    except Exception as exc:  # OSError "image file is truncated", SyntaxError, zlib.error, struct.error...
        fmt = f"{im.format} " if im.format else ""
        raise ImageError(f"{what} is a truncated or corrupt {fmt}image ({_reason(exc)})") from exc


def _finish(im: Image.Image, keep_alpha: bool = False) -> Image.Image:
    """First frame (already selected), EXIF orientation, then RGB (RGBA with `keep_alpha` when the picture is
    transparent); always a new image detached from files."""
    try:
        oriented = ImageOps.exif_transpose(im)  # always a new image
    except Exception:  # unreadable EXIF should not cost the user their photo; orientation is best effort
        oriented = im
    if oriented.mode == "RGB" and not oriented.has_transparency_data and oriented is not im:
        return oriented  # already a detached copy: skip a second full-size copy
    rgb = to_rgb(oriented)
    if keep_alpha and oriented.has_transparency_data and not oriented.mode.startswith(("I", "F")):
        rgb.putalpha(oriented.convert("RGBA").getchannel("A"))
    return rgb


def split_alpha(im: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """(RGB, alpha or None): what to paint, and the transparency to give back afterwards."""
    if im.mode != "RGBA":
        return im, None
    alpha = im.getchannel("A")
    if alpha.getextrema() == (255, 255):
        return im.convert("RGB"), None
    return im.convert("RGB"), alpha


def restore_alpha(painted: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """Put the photo's transparency back on a painted RGB result (resized to it when the sizes differ)."""
    if alpha is None:
        return painted
    if alpha.size != painted.size:
        alpha = alpha.resize(painted.size, Image.Resampling.LANCZOS)
    out = painted.convert("RGB")
    out.putalpha(alpha)
    return out


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB with the module's policy (alpha on white, 16-bit scaled)."""
    mode = im.mode
    if mode == "RGB" and not im.has_transparency_data:
        return im.copy()
    if mode.startswith("I;16"):
        arr = np.asarray(im).astype(np.float64)
        return _gray_to_rgb(np.rint(arr / 257.0))
    if mode == "I":
        arr = np.asarray(im).astype(np.float64)
        if arr.size and arr.min() >= 0 and arr.max() <= 65535:
            return _gray_to_rgb(np.rint(arr / 257.0))
        return _gray_to_rgb(_stretch(arr))
    if mode == "F":
        arr = np.nan_to_num(np.asarray(im).astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        if arr.size and arr.min() >= 0 and arr.max() <= 1:
            return _gray_to_rgb(np.rint(arr * 255.0))
        return _gray_to_rgb(_stretch(arr))
    if im.has_transparency_data:  # RGBA/LA/PA/La/RGBa, a tRNS colour key, or a palette with alpha
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageError(f"images with pixel mode {mode!r} are not supported ({exc})") from exc


def _stretch(arr: np.ndarray) -> np.ndarray:
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if hi <= lo:  # flat image: keep the value if it is a plausible 8-bit level
        return np.full_like(arr, np.clip(lo, 0, 255))
    return np.rint((arr - lo) * (255.0 / (hi - lo)))


def _gray_to_rgb(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGB")


def _reason(exc: BaseException) -> str:
    msg = str(exc).strip()
    return msg if msg else type(exc).__name__


def _mp(pixels: int) -> str:
    return f"{pixels / 1e6:.1f} megapixels" if pixels >= 100_000 else f"{pixels} pixels"


# -------------------------------------------------------------------------------------------------- resizing
def resize_long_side(img: Image.Image, long_side: int) -> Image.Image:
    """Longer side becomes `long_side` px, aspect kept; LANCZOS, reduce() first on big shrinks (speed)."""
    if isinstance(long_side, bool) or not isinstance(long_side, int) or long_side < 1:
        raise OptionsError(f"size must be a whole number of pixels of at least 1, got {long_side!r}")
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError(f"the image has zero size ({w}x{h} pixels)")
    if max(w, h) == long_side:
        return img.copy()
    scale = long_side / max(w, h)
    new = (long_side, max(1, round(h * scale))) if w >= h else (max(1, round(w * scale)), long_side)
    return img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


PANORAMA_ASPECT = 2  # beyond this aspect ratio, `size` buys pixels, not a long side
PANORAMA_MAX_STRETCH = 4  # ... but the long side grows to at most this many times `size`
MIN_SIZE, MAX_SIZE = 16, 8192  # the long sides a one-pass engine (fast, arbitrary) accepts; Gatys stops lower
SIZE_HELP = "long side of the output in pixels (past 2:1, the pixels of a 2:1 picture)"  # every `size` option


def sized_for(width: int, height: int, size: int) -> tuple[int, int]:
    """The (width, height) a picture is painted at for the option `size`: its long side becomes `size`, except
    that a picture longer than 2:1 gets as many pixels as a 2:1 picture of that size (a 6000x800 panorama at 512
    is painted at 990x132, not as a 512x68 strip), never more than the picture has nor a long side over 4x."""
    long = max(width, height)
    scale = size / long
    if long > PANORAMA_ASPECT * min(width, height):
        budget = math.sqrt(size * size / PANORAMA_ASPECT / (width * height))
        scale = max(scale, min(budget, 1.0, PANORAMA_MAX_STRETCH * size / long))
    if scale == size / long:  # the long side exactly `size`, whatever the rounding
        return (size, max(1, round(height * scale))) if width >= height else (max(1, round(width * scale)), size)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_to_size(img: Image.Image, size: int) -> Image.Image:
    """`img` at `sized_for` its size: the one sizing rule of every method (see `sized_for`)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise OptionsError(f"size must be a whole number of pixels of at least 1, got {size!r}")
    new = sized_for(*img.size, size)
    if new == img.size:
        return img.copy()
    return img.resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0)


def pad_to_min_side(img: Image.Image, min_side: int) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """`img` grown to at least `min_side` px a side by repeating its edge pixels, and the box that crops the
    original back out. Networks need a few pixels after their strided layers: a 1x1 or 2000x8 image still gets
    stylised (the repeated edge is cut off again) instead of failing inside a convolution."""
    w, h = img.size
    pw, ph = max(0, min_side - w), max(0, min_side - h)
    box = (pw // 2, ph // 2, pw // 2 + w, ph // 2 + h)
    if not pw and not ph:
        return img, box
    arr = np.pad(np.asarray(img.convert("RGB")), ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), "edge")
    return Image.fromarray(arr), box


# ---------------------------------------------------------------------------------------------------- saving
def save_image(
    img: Image.Image, dest: str | os.PathLike | BinaryIO, format: str | None = None, quality: int = 95
) -> None:
    """Write PNG/JPEG/WebP; the format comes from `format`, else the file suffix (file objects: PNG).

    Paths are written to a temporary file and renamed, so a reader never sees half an image.
    """
    if hasattr(dest, "write") and not isinstance(dest, (str, os.PathLike)):
        name = getattr(dest, "name", None)
        suffix = Path(name).suffix if isinstance(name, str) else ""
        fmt = _normalise_format(format) if format else _SAVE_FORMATS.get(suffix.lower().lstrip("."), "PNG")
        _encode(img, dest, fmt, quality)
        return
    path = Path(os.fsdecode(os.fspath(dest)))
    if format:
        fmt = _normalise_format(format)
    else:
        fmt = _SAVE_FORMATS.get(path.suffix.lower().lstrip("."))
        if fmt is None:
            raise OptionsError(f"cannot tell the image format from {path.name!r}; use a .png, .jpg or .webp file name")
    _check_encodable(img, fmt, quality)

    def write(tmp: Path) -> None:
        with open(tmp, "xb") as fh:
            _encode(img, fh, fmt, quality)

    try:
        atomic_write(path, write, fsync=False)
    except OSError as exc:
        raise ImageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def encode_image(img: Image.Image, format: str = "PNG", quality: int = 95) -> bytes:
    """The encoded file as bytes, for HTTP responses and chat uploads."""
    buf = io.BytesIO()
    _encode(img, buf, _normalise_format(format), quality)
    return buf.getvalue()


def output_format(dest: str | os.PathLike, format: str | None = None, quality: int = 95) -> str:
    """The format `save_image` would write to `dest`, or OptionsError now, before any long computation."""
    text = os.fspath(dest)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise OptionsError(f"{text!r} is a folder; give a file name such as {Path(text) / 'out.png'}")
    fmt = _normalise_format(format) if format else _SAVE_FORMATS.get(Path(os.fspath(dest)).suffix.lower().lstrip("."))
    if fmt is None:
        raise OptionsError(
            f"cannot tell the image format from {Path(os.fspath(dest)).name!r}; use a .png, .jpg or .webp file name"
        )
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise OptionsError(f"quality must be a whole number from 1 to 100, got {quality!r}")
    return fmt


def _normalise_format(format: str) -> str:
    fmt = _SAVE_FORMATS.get(str(format).lower().lstrip("."))
    if fmt is None:
        raise OptionsError(f"unsupported output format {format!r}; choose PNG, JPEG or WebP")
    return fmt


def _check_encodable(img: Image.Image, fmt: str, quality: int) -> None:
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
        raise OptionsError(f"quality must be a whole number from 1 to 100, got {quality!r}")
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError(f"cannot save an image of zero size ({w}x{h} pixels)")
    if max(w, h) > _MAX_SIDE[fmt]:
        raise OptionsError(f"{fmt} cannot store images wider or taller than {_MAX_SIDE[fmt]} px; use PNG")


def _encode(img: Image.Image, fh: BinaryIO, fmt: str, quality: int) -> None:
    _check_encodable(img, fmt, quality)
    out = img if img.mode in _SAVE_MODES[fmt] else to_rgb(img)
    if fmt == "PNG":
        out.save(fh, "PNG")
    elif fmt == "JPEG":
        out.save(fh, "JPEG", quality=quality)
    else:
        out.save(fh, "WEBP", quality=quality)


# --------------------------------------------------------------------------------------------------- tensors
def pil_to_tensor(
    img: Image.Image, device: str | torch.device | None = None, *, value_range: float = 1.0
) -> torch.Tensor:
    """1x3xHxW float32 RGB in 0..value_range (non-RGB images go through `to_rgb`, so alpha lands on white).

    value_range=255 is what TransformerNet takes (pytorch/examples' convention); those values are exact integers."""
    rgb = img if img.mode == "RGB" else to_rgb(img)
    t = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0) / (255.0 / value_range)
    if device is not None:
        from .device import resolve_device

        t = t.to(resolve_device(device))
    return t


def tensor_to_pil(t: torch.Tensor, *, value_range: float = 1.0) -> Image.Image:
    """RGB image from 1x3xHxW or 3xHxW in 0..value_range; clamps, rounds (not truncates): round trips are exact."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected a single image (batch of 1), got batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"expected a tensor shaped 1x3xHxW or 3xHxW, got {tuple(t.shape)}")
    t = torch.nan_to_num(t.detach().to("cpu", torch.float32), nan=0.0)
    u8 = (t.clamp(0.0, value_range) * (255.0 / value_range)).round().to(torch.uint8)
    return TF.to_pil_image(u8, mode="RGB")
