"""The Discord client, its commands, and the glue from an interaction to a stylised file.

Flow for every request, through the shared pipeline (bots/pipeline.py, with `DiscordReply` in reply.py): validate
options and admit the user (rate limit, queue) *before* deferring, so that mistakes get an instant private reply;
then defer (Discord's 3-second deadline), download, wait for a worker while editing the reply with the queue
position and progress, and finally edit the reply with the image.

No `from __future__ import annotations` here on purpose: discord.py reads the command callbacks' annotations,
and the size range and style choices are built at runtime from the configuration and installed styles.
"""

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import discord
from discord import app_commands
from PIL import Image

import nst_core
from bots.clips import VIDEO_EXTS, Clip, declares_video
from bots.config import DISCORD_MEDIA_HOSTS, CommonConfig, DiscordConfig
from bots.fetch import fetch_image, fetch_media
from bots.jobs import StylizeService
from bots.messages import BotError, FetchError, friendly_error, human_size
from bots.options import BEST, INSTANT, JobSpec, build_spec, default_style_name, installed_styles
from bots.pipeline import Request, serve
from bots.recent import RecentImages

from .reply import DiscordReply
from .sync import sync_commands
from .views import MAX_CHOICES, AgainButton, PageButton, StylePicker, styles_page

log = logging.getLogger("bots.discord")

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageRef:
    """Where an image posted on Discord lives, plus what Discord told us about it before downloading."""

    url: str
    filename: str = "image"
    size: int | None = None
    content_type: str | None = None

    @classmethod
    def from_attachment(cls, att: discord.Attachment) -> "ImageRef":
        return cls(att.url, att.filename, att.size, att.content_type)


def looks_like_image(att: discord.Attachment) -> bool:
    """A picture, a GIF or a video (whether clips are accepted here is decided after the download)."""
    if att.content_type:
        return att.content_type.lower().startswith(("image/", "video/"))
    return att.filename.lower().endswith(IMAGE_EXTS + VIDEO_EXTS)


def image_in_message(message: discord.Message) -> ImageRef | None:
    """First image of a message: attachments first, then embedded images (link previews, other bots)."""
    for att in message.attachments:
        if looks_like_image(att):
            return ImageRef.from_attachment(att)
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            url = media.proxy_url or media.url
            if url:
                return ImageRef(url)
    return None


Source = ImageRef | Image.Image  # an attachment to download, or a picture kept from an earlier result


class StylizeTree(app_commands.CommandTree):
    """Rejects malformed raw option values before discord.py parses them (it would crash on a non-numeric
    "number" option, leaving the user with "The application did not respond")."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        data = interaction.data or {}
        for option in _flatten_options(data.get("options") or []):
            if option.get("type") != 10 or option.get("focused"):
                continue
            value = option.get("value")
            try:
                float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                await interaction.response.send_message(
                    f"`{option.get('name')}` must be a number, not `{str(value)[:20]}`.", ephemeral=True
                )
                return False
        return True


def _flatten_options(options: list) -> list:
    out = []
    for option in options:
        out.append(option)
        out.extend(_flatten_options(option.get("options") or []))
    return out


class StylizeBot(discord.Client):
    """A plain Client (no prefix commands, no privileged intents) with an app-command tree."""

    def __init__(self, config: DiscordConfig, common: CommonConfig, *, service: StylizeService | None = None):
        intents = discord.Intents.none()
        intents.guilds = True  # channel/guild names in logs; not privileged
        super().__init__(intents=intents)
        self.config = config
        self.common = common
        self.service = service or StylizeService(common)
        # Every command works where the bot is a member and, once a person adds the app to their account (a user
        # install), in their DMs and group DMs and in servers without the bot.
        self.tree = StylizeTree(
            self,
            allowed_installs=app_commands.AppInstallationType(guild=True, user=True),
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True),
        )
        self.tree.on_error = self.on_tree_error
        self.session: aiohttp.ClientSession | None = None
        self.media_hosts = DISCORD_MEDIA_HOSTS + common.extra_media_hosts
        self.recent = RecentImages(common)  # the pictures behind recent results, for the buttons under them
        register_commands(self)

    async def setup_hook(self) -> None:
        self.session = aiohttp.ClientSession()
        self.add_dynamic_items(AgainButton, PageButton)  # clicks on any message with these, also after a restart
        cfg = self.config
        await sync_commands(self, self.tree, mode=cfg.sync_commands, guild_id=cfg.guild_id, state_dir=cfg.state_dir)

    async def on_ready(self) -> None:
        log.info("logged in as %s (id %s)", self.user, self.user.id if self.user else "?")

    async def close(self) -> None:
        await self.service.close()
        if self.session:
            await self.session.close()
        await super().close()

    # ----- checks ----------------------------------------------------------------------------------------
    def allowed_here(self, interaction: discord.Interaction) -> bool:
        cfg = self.config
        if cfg.allowed_guilds and interaction.guild_id not in cfg.allowed_guilds:
            return False
        return not (cfg.allowed_channels and interaction.channel_id not in cfg.allowed_channels)

    def check_ref(self, ref: ImageRef, what: str = "image") -> None:
        """Reject from Discord's metadata alone, before deferring or downloading anything (the picture to repaint
        may also be a GIF or a video when clips are on)."""
        kinds = ("image/", "video/") if what == "image" and self.common.clips_enabled else ("image/",)
        if ref.content_type and not ref.content_type.lower().startswith(kinds):
            also = ", a GIF or a short video" if len(kinds) > 1 else " or WebP"
            raise FetchError(f"The {what} `{ref.filename[:60]}` is not an image; attach a PNG, JPEG{also}.")
        if ref.size is not None and ref.size > self.common.max_download:
            raise FetchError(
                f"The {what} is {human_size(ref.size)}; the limit is {human_size(self.common.max_download)}."
            )

    async def fetch(self, ref: ImageRef, label: str = "Your picture", *, clips: bool = False) -> Image.Image | Clip:
        """The picture (or, with `clips`, a GIF or video to repaint) behind an attachment."""
        assert self.session is not None, "setup_hook creates the session"
        options = dict(allowed_hosts=self.media_hosts, insecure_hosts=self.common.insecure_media_hosts,
                       max_bytes=self.common.max_download, timeout=self.common.download_timeout,
                       max_pixels=self.common.max_input_pixels, label=label)  # fmt: skip
        if not clips:
            return await fetch_image(self.session, ref.url, **options)
        expect_video = declares_video(ref.content_type, ref.filename)
        return await fetch_media(self.session, ref.url, clips=self.common.clips_enabled, expect_video=expect_video,
                                 **options)  # fmt: skip

    # ----- requests ---------------------------------------------------------------------------------------
    async def start_job(
        self,
        interaction: discord.Interaction,
        content: ImageRef,
        *,
        style: str | None = None,
        style_image: ImageRef | None = None,
        quality: object = None,
        strength: object = None,
        preserve_colors: object = None,
        size: object = None,
    ) -> None:
        """A request with the options typed or picked (a private reply when they are wrong)."""

        def spec() -> JobSpec:
            return build_spec(self.common, style=style, custom=style_image is not None, quality=quality,
                              strength=strength, preserve_colors=preserve_colors, size=size)  # fmt: skip

        await self.launch(interaction, spec, content, style_image)

    async def launch(
        self,
        interaction: discord.Interaction,
        spec: Callable[[], JobSpec],
        content: Source,
        style_image: Source | None = None,
    ) -> None:
        """Through the shared pipeline (bots/pipeline.py): check the channel, the options (`spec` builds them) and
        what Discord says of the files, admit the user, defer, and run the job to its final message; anything
        refused before the deferral is answered privately. `content` and `style_image` are attachments to
        download or pictures already in memory (the buttons under a result)."""

        def request() -> Request:
            if not self.allowed_here(interaction):
                raise BotError("I'm not enabled in this channel.")
            job = spec()
            if isinstance(content, ImageRef):
                self.check_ref(content)
            if isinstance(style_image, ImageRef):
                self.check_ref(style_image, "style image")
            return Request(f"discord:{interaction.user.id}", job, content, style_image)

        await serve(self.service, DiscordReply(self, interaction), request)

    async def on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Malformed options and anything unexpected: a private message, never a silent failure."""
        original = getattr(error, "original", error)
        if isinstance(error, app_commands.TransformerError):
            message = f"I could not understand the value `{str(error.value)[:40]}` for this option."
        else:
            message = friendly_error(original)
        try:
            if interaction.response.is_done():
                await interaction.edit_original_response(content=f"⚠️ {message}")
            else:
                await interaction.response.send_message(message, ephemeral=True)
        except discord.HTTPException as exc:
            log.warning("could not report an error to Discord: %s", exc.status)


def register_commands(bot: StylizeBot) -> None:
    """`/stylize` and the context menu (built from the configuration and the styles installed right now), and
    `/styles`."""
    add_stylize(bot)
    add_context_menu(bot)
    add_styles(bot)


def stylize_options(common: CommonConfig) -> dict[str, str]:
    """The options of `/stylize` that this server offers, with their descriptions: `style_image` only where a
    custom painting can run at all, `quality` only where both of its methods can."""
    options = {
        "image": "The picture, GIF or short video to repaint",
        "style": "An installed style (ignored when style_image is given)",
        "strength": "How strongly to apply the style, 0 to 1 (not with quality best)",
        "preserve_colors": "Keep the colours of your picture",
        "size": f"Long side of the result in pixels (default {common.default_size})",
    }
    if common.custom_enabled:
        how = "in seconds" if common.arbitrary_enabled else "slower: optimisation-based"
        options["style_image"] = f"Your own painting to copy instead of a style ({how})"
    if common.arbitrary_enabled and common.gatys_enabled:
        options["quality"] = f"With style_image: {INSTANT} (default, seconds) or {BEST} (optimisation, minutes)"
    return options


def add_stylize(bot: StylizeBot) -> None:
    common = bot.common
    styles = installed_styles()
    choices = [app_commands.Choice(name=s.label[:100], value=s.name) for s in styles]
    Size = app_commands.Range[int, common.min_size, common.max_size]
    Strength = app_commands.Range[float, 0.0, 1.0]

    async def stylize(
        interaction: discord.Interaction,
        image: discord.Attachment,
        style: str | None = None,
        strength: Strength | None = None,
        preserve_colors: bool | None = None,
        size: Size | None = None,
        style_image: discord.Attachment | None = None,
        quality: str | None = None,
    ) -> None:
        if not isinstance(image, discord.Attachment) or not (
            style_image is None or isinstance(style_image, discord.Attachment)
        ):  # Discord sent an ID without the file's details
            await interaction.response.send_message("I could not see the attached file; try again.", ephemeral=True)
            return
        custom = ImageRef.from_attachment(style_image) if style_image else None
        await bot.start_job(interaction, ImageRef.from_attachment(image), style_image=custom, quality=quality,
                            style=style, strength=strength, preserve_colors=preserve_colors, size=size)  # fmt: skip

    # discord.py builds the command's options from the callback's signature: an option this server does not
    # offer (custom paintings off, one method only) is left out of it, so that Discord never shows it.
    offered = stylize_options(common)
    signature = inspect.signature(stylize)
    stylize.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name == "interaction" or p.name in offered]
    )
    stylize = app_commands.describe(**offered)(stylize)
    if "quality" in offered:
        qualities = [app_commands.Choice(name=f"{INSTANT} (seconds)", value=INSTANT),
                     app_commands.Choice(name=f"{BEST} (minutes)", value=BEST)]  # fmt: skip
        stylize = app_commands.choices(quality=qualities)(stylize)
    if 0 < len(choices) <= MAX_CHOICES:
        stylize = app_commands.choices(style=choices)(stylize)
    elif len(choices) > MAX_CHOICES:

        async def complete_style(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            # read now, not at start-up: styles installed since then are offered too
            found = nst_core.match_styles(current, installed_styles()) if current.strip() else installed_styles()
            return [app_commands.Choice(name=s.label[:100], value=s.name) for s in found[:MAX_CHOICES]]

        stylize = app_commands.autocomplete(style=complete_style)(stylize)

    command = app_commands.Command(
        name="stylize", description="Repaint a picture in the style of a painting", callback=stylize
    )
    bot.tree.add_command(command)


def add_context_menu(bot: StylizeBot) -> None:
    async def stylize_message(interaction: discord.Interaction, message: discord.Message) -> None:
        ref = image_in_message(message)
        if ref is None:
            await interaction.response.send_message("That message has no image I can use.", ephemeral=True)
            return
        if not bot.allowed_here(interaction):
            await interaction.response.send_message("I'm not enabled in this channel.", ephemeral=True)
            return
        current = installed_styles()
        if len(current) <= 1:  # nothing to choose: go straight to work (or explain that none is installed)
            await bot.start_job(interaction, ref)
            return
        default = default_style_name(bot.common, current)

        async def pick(picked: discord.Interaction, style: str) -> None:
            await bot.start_job(picked, ref, style=style)

        view = StylePicker(interaction, current, default, pick)
        await interaction.response.send_message("Which style?", view=view, ephemeral=True)

    bot.tree.add_command(app_commands.ContextMenu(name="Stylize image", callback=stylize_message))


def add_styles(bot: StylizeBot) -> None:
    async def styles(interaction: discord.Interaction) -> None:
        if not bot.allowed_here(interaction):
            await interaction.response.send_message("I'm not enabled in this channel.", ephemeral=True)
            return
        await interaction.response.send_message(**styles_page(0), ephemeral=True)

    bot.tree.add_command(
        app_commands.Command(name="styles", description="The installed styles, each with a preview", callback=styles)
    )


def build_bot(config: DiscordConfig, common: CommonConfig, *, service: StylizeService | None = None) -> StylizeBot:
    return StylizeBot(config, common, service=service)
