"""How a Slack request talks back (`bots.pipeline.Reply`): a status line in the channel or thread, the result
uploaded there with its controls under it, and problems told privately (ephemeral messages).

The listeners differ only in how they acknowledge and where a private answer goes: `/stylize` answers a refusal
in its `ack`, the form in its fields, a mention or a click in an ephemeral message; after that, `respond` (a slash
command, a shortcut, a click), the form's response URL, or `chat.postEphemeral` (a mention).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from PIL import Image
from slack_sdk.errors import SlackApiError

from bots.clips import Clip, ClipResult
from bots.encode import Encoded
from bots.jobs import Ticket
from bots.messages import BotError, friendly_error
from bots.options import JobSpec

from .again import post_again
from .media import api_error, fetch_file

log = logging.getLogger("bots.slack")

T = TypeVar("T")
Send = Callable[[str], Awaitable[Any]]


async def safe(send: Send, text: str) -> None:
    """Replies about failures must not fail loudly themselves."""
    try:
        await send(text)
    except Exception as exc:
        log.warning("could not send a reply to Slack: %s", type(exc).__name__)


def styled(spec: JobSpec) -> str:
    """The style as a result's comment names it: `*Starry Night*`, `*your style image* (instant)`."""
    return f"*{spec.label}*" + (f" ({spec.quality_label})" if spec.quality_label else "")


def ephemeral(respond: Any) -> Send:
    """A private answer through Bolt's `respond` (the request's response URL), leaving the original alone."""

    async def send(text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)

    return send


@dataclass
class SlackReply:
    """One request's conversation: results go to `channel` (and `thread_ts`), private words through `private`.
    `on_accept` and `on_refuse` are the listener's own acknowledgement and refusal (default: none, and a private
    message)."""

    bot: Any
    channel: str | None
    thread_ts: str | None
    user: str
    private: Send
    on_accept: Callable[[], Awaitable[Any]] | None = None
    on_refuse: Callable[[BotError], Awaitable[Any]] | None = None
    status_ts: str | None = None  # the status line, once posted

    lossy = "JPEG"
    early_queue = False  # no status line before the queue reports: nothing is posted until there is news

    @property
    def limit(self) -> int:
        return self.bot.config.upload_limit

    async def refuse(self, exc: BotError) -> None:
        await (self.on_refuse(exc) if self.on_refuse else self.tell(str(exc)))

    async def accept(self) -> None:
        if self.on_accept:
            await self.on_accept()

    async def tell(self, text: str) -> None:
        await safe(self.private, text)

    async def status(self, text: str) -> None:
        # No @-mention here: the finished picture mentions the user, once (one notification per job)
        client = self.bot.client
        if self.status_ts is None:
            resp = await client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text)
            self.status_ts = resp.get("ts")
        else:
            await client.chat_update(channel=self.channel, ts=self.status_ts, text=text)

    async def fetch(self, source: dict[str, Any], label: str, *, clips: bool = False) -> Image.Image | Clip:
        return await fetch_file(self.bot, source, label, clips=clips)

    async def in_time(self, ticket: Ticket, work: Awaitable[T]) -> T:
        return await work  # Slack's messages can be posted at any time: no deadline

    async def picture(self, spec: JobSpec, encoded: Encoded, content: Image.Image, style: Image.Image | None) -> None:
        title = f"{spec.label} ({encoded.size[0]}×{encoded.size[1]})"
        await self.upload(
            encoded.data,
            encoded.filename(f"stylized-{spec.style or 'custom'}"),
            title,
            f"<@{self.user}> here is your picture in the style of {styled(spec)}.",
        )
        await post_again(
            self.bot, channel=self.channel, thread_ts=self.thread_ts, spec=spec, content=content, style_image=style
        )

    async def clip(self, spec: JobSpec, result: ClipResult) -> None:
        """A GIF or a video, without controls (no clip is kept in memory for them)."""
        title = f"{spec.label} ({result.noun}, {result.frames} frames, {result.size[0]}×{result.size[1]})"
        await self.upload(
            result.data,
            result.filename(f"stylized-{spec.style or 'custom'}"),
            title,
            f"<@{self.user}> here is your {result.noun} in the style of {styled(spec)}.",
        )

    async def upload(self, data: bytes, filename: str, title: str, comment: str) -> None:
        """The result into the channel or thread, then the status line removed."""
        await self.bot.client.files_upload_v2(
            channel=self.channel,
            thread_ts=self.thread_ts,
            content=data,
            filename=filename,
            title=title,
            initial_comment=comment,
        )
        await self.remove_status()

    async def remove_status(self) -> None:
        if self.status_ts:
            ts = self.status_ts
            await safe(lambda _t: self.bot.client.chat_delete(channel=self.channel, ts=ts), "")

    async def fail(self, exc: Exception) -> None:
        message = friendly_error(exc)
        if isinstance(exc, SlackApiError):
            log.warning("Slack API error: %s", api_error(exc))
            if api_error(exc) in ("not_in_channel", "channel_not_found"):
                message = "I can't post in this channel; invite me with `/invite @<my name>` and try again."
        if self.status_ts:
            ts = self.status_ts
            await safe(
                lambda t: self.bot.client.chat_update(channel=self.channel, ts=ts, text=t),
                f":warning: <@{self.user}> {message}",  # an edit: the mention names them without a second ping
            )
        else:
            await self.tell(message)
