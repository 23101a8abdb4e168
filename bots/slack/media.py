"""Slack files in: find the file a request means (the user's latest picture in the channel, a file link they may
see, a file by its ID) and download it with the bot token: a picture, or a GIF or a short video to repaint.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from slack_sdk.errors import SlackApiError

from bots.clips import Clip, declares_video
from bots.fetch import check_url, fetch_image, fetch_media
from bots.messages import BotError, FetchError, human_size

HTML_HINT = "If this keeps happening, the Slack app may be missing the `files:read` scope."
MEDIA_TYPES = ("image/", "video/")
# Slack file links: https://files.slack.com/files-pri/T0-F0/name.png, https://x.slack.com/files/U0/F0/name.png
FILE_ID_RE = re.compile(r"/(?:files-pri|files-tmb)/[TE][A-Z0-9]+-(F[A-Z0-9]+)|/files/[UW][A-Z0-9]+/(F[A-Z0-9]+)")
NO_HISTORY = {"not_in_channel", "channel_not_found", "missing_scope"}


def api_error(exc: SlackApiError) -> str:
    """Slack's error code ('not_in_channel'...), or '' when the server did not answer with Slack's JSON."""
    data = getattr(exc.response, "data", None)
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def images_in(files: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for f in files or ():
        mimetype = (f.get("mimetype") or "").lower()
        if mimetype.startswith(MEDIA_TYPES) or (not mimetype and f.get("file_access") == "check_file_info"):
            out.append(f)
    return out


def first_image(files: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    found = images_in(files)
    return found[0] if found else None


def file_visible(info: dict[str, Any], channel: str | None, user: str) -> bool:
    """Whether `user` may see the file in `channel`: they uploaded it, or it is shared in that channel."""
    if user and info.get("user") == user:
        return True
    places: set[str] = set()
    for key in ("channels", "groups", "ims"):
        places.update(info.get(key) or ())
    for scope in (info.get("shares") or {}).values():  # {"public": {"C1": [...]}, "private": {"G2": [...]}}
        if isinstance(scope, dict):
            places.update(scope)
    return bool(channel) and channel in places


async def latest_user_image(bot: Any, channel: str | None, user: str) -> dict[str, Any]:
    """The newest message in `channel` from `user` that carries an image file."""
    try:
        history = await bot.client.conversations_history(channel=channel, limit=bot.config.history_limit)
    except SlackApiError as exc:
        if api_error(exc) in NO_HISTORY:
            raise BotError(
                "I can't read this channel's messages. Invite me with `/invite @<my name>` and retry, "
                "or use the *Stylize image* shortcut on a message with a picture."
            ) from None
        raise
    for msg in history.get("messages", []):
        if msg.get("user") == user:
            found = first_image(msg.get("files"))
            if found:
                return found
    raise BotError(
        "I couldn't find an image you posted here recently. Upload a picture to this channel and run "
        f"`{bot.config.command}` again, or use the *Stylize image* shortcut on a message with a picture."
    )


async def file_from_url(bot: Any, url: str, *, channel: str | None, user: str) -> dict[str, Any]:
    """A Slack file link given as an argument: only Slack files this user may already see here.

    The bot's token can read files from channels the user is not in; without the share check anyone
    could have a private file repainted into their own channel."""
    check_url(url, bot.file_hosts, bot.insecure_hosts)
    m = FILE_ID_RE.search(urlsplit(url).path)
    if not m:  # no file ID: nothing to check the link against, so never fetch it with the bot token
        raise FetchError("That doesn't look like a Slack file link; upload the picture here and try again.")
    info = await file_info(bot, m.group(1) or m.group(2))
    if not file_visible(info, channel, user):
        raise FetchError(
            "I can only use a file you uploaded yourself or one that was shared in this channel; "
            "share the picture here first."
        )
    return info


async def file_info(bot: Any, file_id: str) -> dict[str, Any]:
    try:
        info = await bot.client.files_info(file=file_id)
    except SlackApiError as exc:
        err = api_error(exc)
        if err in ("file_not_found", "file_deleted"):
            raise FetchError("That Slack file no longer exists.") from None
        if err == "missing_scope":
            raise FetchError("I'm missing the `files:read` scope; ask the app's admin to add it.") from None
        raise
    return info["file"]


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
        file = await file_info(bot, file["id"])
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
