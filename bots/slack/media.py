"""Slack files in and clips out: download a user's file with the bot token (a picture, or a GIF or a short video
to repaint), and upload a stylised GIF or MP4 into the conversation.

A clip's result carries no controls (no clip is kept in memory for them); the status line is removed once the
file is up, as for a picture.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from bots.clips import Clip, declares_video
from bots.fetch import fetch_image, fetch_media
from bots.jobs import StatusCallback, Ticket
from bots.messages import FetchError, human_size
from bots.options import JobSpec

HTML_HINT = "If this keeps happening, the Slack app may be missing the `files:read` scope."
MEDIA_TYPES = ("image/", "video/")


async def fetch_file(bot: Any, file: dict[str, Any], label: str = "Your picture", *, clips: bool = False
                     ) -> Image.Image | Clip:  # fmt: skip
    """The picture in a Slack file or, with `clips` (the picture to repaint), a GIF or a video as a `Clip`."""
    common = bot.common
    mimetype = (file.get("mimetype") or "").lower()
    kinds = MEDIA_TYPES if clips and common.clips_enabled else ("image/",)
    if mimetype and not mimetype.startswith(kinds):
        also = ", a GIF or a short video" if len(kinds) > 1 else " or WebP"
        raise FetchError(f"`{file.get('name', 'That file')}` is not an image; use a PNG, JPEG{also}.")
    size = file.get("size")
    if isinstance(size, int) and size > common.max_download:
        raise FetchError(f"That image is {human_size(size)}; the limit is {human_size(common.max_download)}.")
    url = file.get("url_private_download") or file.get("url_private")
    if not url and file.get("id"):
        file = await bot.file_info(file["id"])
        url = file.get("url_private_download") or file.get("url_private")
    if not url:
        raise FetchError("I couldn't get a download link for that file.")
    options = dict(allowed_hosts=bot.file_hosts, insecure_hosts=bot.insecure_hosts, max_bytes=common.max_download,
                   timeout=common.download_timeout, max_pixels=common.max_input_pixels, html_hint=HTML_HINT,
                   headers={"Authorization": f"Bearer {bot.config.bot_token.get()}"}, label=label)  # fmt: skip
    if not clips:
        return await fetch_image(bot.http_session(), url, **options)
    expect_video = declares_video(mimetype, file.get("name"))
    return await fetch_media(bot.http_session(), url, clips=common.clips_enabled, expect_video=expect_video,
                             **options)  # fmt: skip


async def upload_clip(bot: Any, ticket: Ticket, spec: JobSpec, clip: Clip, *, channel: str | None,
                      thread_ts: str | None, user: str, on_status: StatusCallback) -> None:  # fmt: skip
    """Stylise a GIF or a video under Slack's upload limit and post it into the channel or thread."""
    result = await ticket.run_clip(spec, clip, bot.config.upload_limit, on_status=on_status)
    width, height = result.size
    await bot.client.files_upload_v2(
        channel=channel,
        thread_ts=thread_ts,
        content=result.data,
        filename=result.filename(f"stylized-{spec.style}"),
        title=f"{spec.label} ({result.noun}, {result.frames} frames, {width}×{height})",
        initial_comment=f"<@{user}> here is your {result.noun} in the style of *{spec.label}*.",
    )
