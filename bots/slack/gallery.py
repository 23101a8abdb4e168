"""`/stylize styles` on Slack: every style's preview and name on a contact sheet, uploaded into the conversation.

Why a file: Block Kit image blocks load their picture from a public URL, and this bot has no public web server
(Socket Mode needs none at all). An image block may also point at a file already uploaded to Slack, but only once
Slack has processed it, and ephemeral messages cannot carry files. A sheet uploaded with `files_upload_v2` (the
`files:write` scope the results already need) shows in every client, in the channel or thread where it was asked.
The sheets are rendered off the event loop and kept in memory until a style is added, removed or changed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from slack_sdk.errors import SlackApiError

from bots.options import installed_styles

log = logging.getLogger("bots.slack")

COLUMNS = 4
PER_SHEET = 24  # 6 rows of 4: a sheet stays readable on a phone
CELL = 220  # preview square, pixels
LABEL = 44  # two lines under each preview: display name, then the name to type
PAD = 12
BACKGROUND = (250, 250, 250)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def render_sheet(styles: list[Any]) -> Image.Image:
    """One contact sheet: each style's preview (or a blank square without one) over its display name and id."""
    rows = -(-len(styles) // COLUMNS)
    cols = min(COLUMNS, len(styles))
    sheet = Image.new("RGB", (PAD + cols * (CELL + PAD), PAD + rows * (CELL + LABEL + PAD)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    title, small = _font(16), _font(13)
    for i, info in enumerate(styles):
        x = PAD + (i % COLUMNS) * (CELL + PAD)
        y = PAD + (i // COLUMNS) * (CELL + LABEL + PAD)
        draw.rectangle((x, y, x + CELL - 1, y + CELL - 1), fill=(225, 225, 225))
        if info.preview_path is not None:
            try:
                with Image.open(info.preview_path) as im:
                    thumb = im.convert("RGB")
                    thumb.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
                sheet.paste(thumb, (x + (CELL - thumb.width) // 2, y + (CELL - thumb.height) // 2))
            except (OSError, ValueError) as exc:
                log.warning("could not read the preview of %s: %s", info.name, type(exc).__name__)
        draw.text((x, y + CELL + 4), _fit(draw, info.display_name, title, CELL), fill=(20, 20, 20), font=title)
        draw.text((x, y + CELL + 24), _fit(draw, info.name, small, CELL), fill=(90, 90, 90), font=small)
    return sheet


def _key(info: Any) -> tuple:
    path = info.preview_path
    try:
        stamp = path.stat().st_mtime_ns if path is not None else 0
    except OSError:
        stamp = -1
    return (info.name, info.display_name, str(path), stamp)


_cache: dict[tuple, list[bytes]] = {}  # one entry: the sheets of the styles installed last time
_lock = threading.Lock()


def style_sheets() -> list[bytes]:
    """JPEG contact sheets of the installed styles, PER_SHEET styles each (kept while nothing changes)."""
    styles = installed_styles()
    key = tuple(_key(s) for s in styles)
    with _lock:
        if key not in _cache:
            sheets = []
            for start in range(0, len(styles), PER_SHEET):
                buf = io.BytesIO()
                render_sheet(styles[start : start + PER_SHEET]).save(buf, "JPEG", quality=85)
                sheets.append(buf.getvalue())
            _cache.clear()
            _cache[key] = sheets
        return _cache[key]


def sheet_comment(user: str, styles: list[Any], command: str) -> str:
    example = styles[0].name if styles else "NAME"
    return (
        f"<@{user}> here are the {len(styles)} installed styles. Name one (its display name or the name under "
        f"it) when you ask, for example `{command} {example}`."
    )


async def answer_styles(bot: Any, *, channel: str | None, thread_ts: str | None, user: str, tell: Any) -> None:
    """Upload the sheets into `channel` (and thread); where that fails (the bot is not in the channel), the list
    of names goes to the user privately instead (`tell`: a private message that never raises)."""
    command = bot.config.command
    styles = installed_styles()
    if not styles:
        await tell("No styles are installed on this server yet; ask the bot's admin to add some.")
        return
    loop = asyncio.get_running_loop()
    try:
        sheets = await loop.run_in_executor(None, style_sheets)
        uploads = [
            {"content": data, "filename": f"styles-{i + 1}.jpg", "title": f"Styles ({i + 1} of {len(sheets)})"}
            for i, data in enumerate(sheets)
        ]
        await bot.client.files_upload_v2(channel=channel, thread_ts=thread_ts, file_uploads=uploads,
                                         initial_comment=sheet_comment(user, styles, command))  # fmt: skip
    except SlackApiError as exc:
        log.warning("could not post the style sheet: %s", getattr(exc.response, "data", {}).get("error", "?"))
        await tell(f"I couldn't post the previews here, so here are the names.\n{style_names(styles)}")


def style_names(styles: list[Any]) -> str:
    return "*Styles:* " + ", ".join(f"{s.display_name} (`{s.name}`)" for s in styles[:60])
