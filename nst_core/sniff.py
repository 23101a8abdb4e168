"""What a file is, told from its first bytes: so a refusal names what was sent ("a PDF document", "a web page",
"a HEIC image this installation cannot read") instead of saying only "not an image". Shared by pictures
(`nst_core.images`) and videos (`nst_core.video`)."""

from __future__ import annotations

__all__ = ["IMAGE_SIGNATURES", "describe_unreadable", "looks_like_text"]

# Signatures of things people upload by mistake, so the error says what the file actually is.
NOT_IMAGES = (
    (b"%PDF", "a PDF document, not an image"),
    (b"%!PS", "a PostScript/EPS file, which is not supported; export it as PNG or JPEG"),
    (b"PK\x03\x04", "a ZIP archive (or Office document), not an image"),
    (b"\x1f\x8b", "a gzip-compressed file, not an image"),
    (b"\xff\x0a", "a JPEG XL image, which is not supported; convert it to PNG or JPEG"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image, which is not supported; convert it to PNG or JPEG"),
)
IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def describe_unreadable(head: bytes, what: str) -> str:
    """Why `head` (a file's first bytes) is no picture this program reads, in a sentence naming `what` was sent."""
    for sig, desc in NOT_IMAGES:
        if head.startswith(sig):
            return f"{what} is {desc}"
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("latin-1").strip().lower()
        kind = "AVIF" if brand.startswith("avi") else ""
        if brand[:3] in ("hei", "hev", "mif", "msf"):
            kind = "HEIC/HEIF"
        if kind:
            return f"{what} is a {kind} image, which this installation cannot read; convert it to JPEG or PNG"
        return f"{what} looks like a video or MP4-style file, not an image"
    for sig, fmt in IMAGE_SIGNATURES:
        if head.startswith(sig):
            return f"{what} starts like a {fmt} image but its header is invalid; the file is corrupt"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return f"{what} is a web page (HTML), not an image; a link may have returned a page, not a picture"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head.lower()):
        return f"{what} is an SVG vector drawing, which is not supported; export it as PNG"
    if looks_like_text(head):
        return f"{what} looks like text, not an image"
    return f"{what} is not an image, or is in a format that cannot be read (use PNG, JPEG or WebP)"


def looks_like_text(head: bytes) -> bool:
    try:
        s = head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte character may be cut at the end of the sample
        try:
            s = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return bool(s) and all(c.isprintable() or c in "\r\n\t\f" for c in s)
