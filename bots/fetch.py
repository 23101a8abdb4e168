"""Download a user's image safely: only from the platform's hosts, capped in bytes and time, really decoded.

The byte cap is enforced twice: on the declared Content-Length before reading, and on the bytes actually
received as chunks arrive, so a lying or missing header cannot make the bot buffer a huge file.
Redirects are followed by hand so every hop is checked against the host allow-list, and credentials
(Slack's bot token) are only ever sent to the host they were meant for.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from PIL import Image

import nst_core

from .clips import Clip, identify
from .config import is_loopback
from .messages import FetchError, human_size

log = logging.getLogger("bots.fetch")

CHUNK = 64 * 1024
MAX_REDIRECTS = 3
OK_TYPES = ("image/", "video/", "application/octet-stream", "binary/octet-stream")  # the content decides
# Smaller is a mistake (a 1x1 pixel, an 8 px strip), judged on the picture as sent: said so, not painted.
# The same minimum as the demo's upload check.
MIN_INPUT_SIDE = 16


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Exact match, or suffix match for patterns with a leading dot ('.slack.com' covers 'x.slack.com')."""
    host = (host or "").lower().rstrip(".")
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern.startswith("."):
            if host.endswith(pattern) and len(host) > len(pattern):
                return True
        elif host == pattern:
            return True
    return False


def check_url(url: str, allowed_hosts: Iterable[str], insecure_hosts: Iterable[str] = ()) -> str:
    """Return the URL's host if it may be fetched. https is required, except for `insecure_hosts` that are
    loopback addresses (a local test server): credentials never cross a network in the clear."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise FetchError("That does not look like a valid link.") from None
    listed_insecure = host_allowed(host, insecure_hosts)
    plain_ok = listed_insecure and is_loopback(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and plain_ok):
        raise FetchError("I can only download images over https from the chat platform itself.")
    if not (listed_insecure or host_allowed(host, allowed_hosts)):
        raise FetchError("I can only use images hosted by the chat platform itself, not links to other sites.")
    return host


async def download(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allowed_hosts: Iterable[str],
    insecure_hosts: Iterable[str] = (),
    max_bytes: int,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    html_hint: str = "",
) -> bytes:
    """The body of `url`, or a `FetchError` saying in plain words why not."""
    allowed_hosts, insecure_hosts = tuple(allowed_hosts), tuple(insecure_hosts)
    check_url(url, allowed_hosts, insecure_hosts)
    try:
        # wait_for rather than asyncio.timeout(): the project supports Python 3.10.
        return await asyncio.wait_for(
            _follow(session, url, allowed_hosts, insecure_hosts, max_bytes, headers, html_hint), timeout
        )
    except asyncio.TimeoutError:
        raise FetchError(f"Downloading the image took longer than {timeout:.0f} s; try a smaller file.") from None
    except aiohttp.ClientError as exc:
        log.info("download failed: %s", type(exc).__name__)
        raise FetchError("I could not download the image (network error); please try again.") from None


async def _follow(
    session: aiohttp.ClientSession,
    url: str,
    allowed_hosts: tuple[str, ...],
    insecure_hosts: tuple[str, ...],
    max_bytes: int,
    headers: Mapping[str, str] | None,
    html_hint: str,
) -> bytes:
    origin = check_url(url, allowed_hosts, insecure_hosts)
    for _ in range(MAX_REDIRECTS + 1):
        host = check_url(url, allowed_hosts, insecure_hosts)
        # Credentials only go to the host they were issued for, never to a redirect target.
        send = dict(headers or {}) if host == origin else {}
        async with session.get(url, headers=send, allow_redirects=False) as resp:
            if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                url = urljoin(url, resp.headers["Location"])
                continue
            return await _read_body(resp, max_bytes, html_hint)
    raise FetchError("The image link redirected too many times.")


async def _read_body(resp: aiohttp.ClientResponse, max_bytes: int, html_hint: str) -> bytes:
    if resp.status in (401, 403):
        raise FetchError(f"I am not allowed to download that file (HTTP {resp.status}). {html_hint}".strip())
    if resp.status == 404:
        raise FetchError("That file no longer exists (HTTP 404); was it deleted?")
    if resp.status != 200:
        raise FetchError(f"Downloading the image failed (HTTP {resp.status}); please try again.")
    ctype = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype.startswith("text/html"):
        raise FetchError(f"The link returned a web page, not an image. {html_hint}".strip())
    if ctype and not ctype.startswith(OK_TYPES):
        raise FetchError(f"That file is not an image (it is `{ctype}`); send a PNG, JPEG or WebP.")
    limit = human_size(max_bytes)
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise FetchError(f"That image is {human_size(resp.content_length)}; the limit is {limit}.")
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK):
        buf += chunk
        if len(buf) > max_bytes:
            raise FetchError(f"That image is larger than the {limit} limit.")
    if not buf:
        raise FetchError("The downloaded file is empty.")
    return bytes(buf)


async def decode_image(
    data: bytes, max_pixels: int, *, min_side: int = MIN_INPUT_SIDE, label: str = "Your picture"
) -> Image.Image:
    """Real decoding off the event loop; `nst_core.ImageError` explains what is wrong with the file (too small
    included: `min_side` is checked on the picture as sent) and names it by `label`."""
    loop = asyncio.get_running_loop()
    load = functools.partial(nst_core.load_image, data, max_pixels=max_pixels, min_side=min_side, label=label)
    return await loop.run_in_executor(None, load)


async def fetch_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allowed_hosts: Iterable[str],
    insecure_hosts: Iterable[str] = (),
    max_bytes: int,
    timeout: float,
    max_pixels: int,
    headers: Mapping[str, str] | None = None,
    html_hint: str = "",
    label: str = "Your picture",
) -> Image.Image:
    """Download and decode in one call: what both bots do with every attachment."""
    data = await download(
        session,
        url,
        allowed_hosts=allowed_hosts,
        insecure_hosts=insecure_hosts,
        max_bytes=max_bytes,
        timeout=timeout,
        headers=headers,
        html_hint=html_hint,
    )
    return await decode_image(data, max_pixels, label=label)


async def fetch_media(
    session: aiohttp.ClientSession,
    url: str,
    *,
    clips: bool,
    expect_video: bool = False,
    max_pixels: int,
    label: str = "Your picture",
    **download_options: Any,
) -> Image.Image | Clip:
    """`fetch_image`, except that an animated GIF/WebP or a video (judged by its bytes) comes back as a `Clip`
    when `clips` is on; `expect_video` (the platform called it a video) words the refusal of anything else."""
    data = await download(session, url, **download_options)
    loop = asyncio.get_running_loop()
    clip = await loop.run_in_executor(None, functools.partial(identify, data, clips=clips, expect_video=expect_video))
    return clip if clip is not None else await decode_image(data, max_pixels, label=label)
