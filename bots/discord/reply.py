"""How a Discord request talks back (`bots.pipeline.Reply`): the interaction's own reply is the status line and
becomes the result, refusals are private, and a problem found after the public deferral is told privately.

Discord's interaction token lasts 15 minutes: a job that would outlive it is stopped REPLY_MARGIN seconds before,
while the bot can still say why.
"""

import asyncio
import contextlib
import io
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

import discord
from PIL import Image

from bots.clips import Clip, ClipResult
from bots.encode import Encoded
from bots.jobs import Ticket
from bots.messages import BotError, Busy, friendly_error
from bots.options import JobSpec

from .views import result_view

log = logging.getLogger("bots.discord")

T = TypeVar("T")
REPLY_MARGIN = 90.0  # seconds of the 15-minute interaction token kept for the upload or the error message
TOKEN_EXPIRY_QUEUED = (
    "Discord gives me 15 minutes to answer and the queue is too long for that right now; "
    "please try again in a few minutes."
)
TOKEN_EXPIRY_RUNNING = "Discord gives me 15 minutes to answer and this picture would take longer; try a smaller `size`."


class DiscordReply:
    """One interaction's conversation."""

    lossy = "WEBP"
    early_queue = True  # the deferred reply ("thinking…") is there from the start: it shows the queue position

    def __init__(self, bot: Any, interaction: discord.Interaction) -> None:
        self.bot = bot
        self.interaction = interaction
        # Discord reports the real limit for this server (boosts included); never exceed either.
        limit = bot.config.upload_limit
        self.limit = min(limit, getattr(interaction, "filesize_limit", 0) or limit)

    async def refuse(self, exc: BotError) -> None:
        await self.interaction.response.send_message(str(exc), ephemeral=True)

    async def accept(self) -> None:
        await self.interaction.response.defer(thinking=True)

    async def tell(self, text: str) -> None:
        await report_privately(self.interaction, f"⚠️ {text}")

    async def status(self, text: str) -> None:
        await self.interaction.edit_original_response(content=text)

    async def fetch(self, source: Any, label: str, *, clips: bool = False) -> Image.Image | Clip:
        return await self.bot.fetch(source, label, clips=clips)

    async def in_time(self, ticket: Ticket, work: Awaitable[T]) -> T:
        try:  # wait_for, not asyncio.timeout: Python 3.10 is supported
            return await asyncio.wait_for(work, reply_budget(self.interaction))
        except asyncio.TimeoutError:
            raise Busy(TOKEN_EXPIRY_RUNNING if ticket.running else TOKEN_EXPIRY_QUEUED) from None

    async def picture(self, spec: JobSpec, encoded: Encoded, content: Image.Image, style: Image.Image | None) -> None:
        """The picture with the buttons under it; its inputs are remembered for them, keyed by the message."""
        file = discord.File(io.BytesIO(encoded.data), filename=encoded.filename(f"stylized-{spec.style or 'custom'}"))
        view = result_view(spec, self.bot.recent.enabled)
        message = await self.interaction.edit_original_response(
            content=caption(spec, encoded.size), attachments=[file], view=view
        )
        self.bot.recent.remember(message.id, content, spec, style)

    async def clip(self, spec: JobSpec, result: ClipResult) -> None:
        """A GIF or video result: the file and its caption, without the buttons (no clip is kept for them)."""
        file = discord.File(io.BytesIO(result.data), filename=result.filename(f"stylized-{spec.style or 'custom'}"))
        text = caption(spec, result.size, what=f"{result.noun}, {result.frames} frames")
        await self.interaction.edit_original_response(content=text, attachments=[file], view=None)

    async def fail(self, exc: Exception) -> None:
        await self.tell(friendly_error(exc))


async def report_privately(interaction: discord.Interaction, text: str) -> None:
    """An error found after the (public) deferral: told to the requester alone, as the README promises, and the
    public "thinking…" reply removed. Discord cannot turn a public reply private, hence a follow-up; and as the
    first follow-up after a deferral would only replace the public placeholder (ephemeral ignored), the
    placeholder is settled first."""
    try:
        await interaction.edit_original_response(content="This one did not work out.", attachments=[])
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not report an error to Discord: %s", exc.status)
        with contextlib.suppress(discord.HTTPException):  # at least do not leave "thinking…" behind
            await interaction.edit_original_response(content=text, attachments=[])
        return
    with contextlib.suppress(discord.HTTPException):
        await interaction.delete_original_response()


def caption(spec: JobSpec, size: tuple[int, int], *, what: str | None = None) -> str:
    parts = [f"**{spec.label}**" if not spec.custom else f"**custom style** ({spec.quality_label})"]
    if spec.strength is not None:
        parts.append(f"strength {spec.strength:g}")
    if spec.preserve_colors:
        parts.append("original colours")
    if spec.seed is not None:
        parts.append("re-rolled")
    if what:
        parts.append(what)
    parts.append(f"{size[0]}×{size[1]}")
    return " · ".join(parts)


def reply_budget(interaction: discord.Interaction) -> float:
    """Seconds this job may take before Discord's interaction token (15 minutes) would no longer let us post the
    result or even say what went wrong; REPLY_MARGIN is kept back for encoding, the upload and that message."""
    left = (interaction.expires_at - discord.utils.utcnow()).total_seconds()
    return max(0.0, left - REPLY_MARGIN)
