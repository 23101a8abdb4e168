"""Discord's message components: the private style picker, the buttons under a result, and the /styles pages.

The buttons under a result and the page buttons are `DynamicItem`s: their custom_id says only what to do
("nst:again:reroll", "nst:styles:2"), discord.py routes a click on any message carrying one (also after a
restart) to the class, and the picture itself is looked up in the bot's in-memory `RecentImages` by the result
message's ID, never named in the button.
"""

import contextlib
import io
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bots.options import default_style_name, has_strength, installed_styles
from bots.variations import can_strengthen, can_weaken, vary, with_style

log = logging.getLogger("bots.discord")

MAX_CHOICES = 25  # Discord's limit for static choices and select-menu options
PAGE_SIZE = 10  # Discord's limit of embeds, and of attachments, in one message
OnPick = Callable[[discord.Interaction, str], Awaitable[None]]


def menu_styles(styles: list, default: str | None) -> list:
    """At most MAX_CHOICES styles for a select menu, the default always among them (first when it would be cut)."""
    if len(styles) <= MAX_CHOICES or any(s.name == default for s in styles[:MAX_CHOICES]):
        return styles[:MAX_CHOICES]
    chosen = [s for s in styles if s.name == default]
    return chosen + [s for s in styles if s.name != default][: MAX_CHOICES - len(chosen)]


class StylePicker(discord.ui.View):
    """A private dropdown of styles (the context menu has no options; "Another style" asks the same way)."""

    def __init__(self, origin: discord.Interaction, styles: list, default: str | None, on_pick: OnPick):
        super().__init__(timeout=300)
        self.origin = origin  # the interaction whose private reply holds this picker
        self.on_pick_style = on_pick
        self.labels = {s.name: s.label for s in styles}
        options = [
            discord.SelectOption(label=s.label[:100], value=s.name, default=s.name == default)
            for s in menu_styles(styles, default)
        ]
        self.select = discord.ui.Select(placeholder="Pick a style", options=options, min_values=1, max_values=1)
        self.select.callback = self.on_pick
        self.add_item(self.select)

    async def on_pick(self, interaction: discord.Interaction) -> None:
        self.stop()
        style = self.select.values[0]
        try:  # a picker that has been used should not invite a second click
            await self.origin.edit_original_response(content=f"Style: **{self.labels.get(style, style)}**", view=None)
        except discord.HTTPException as exc:
            log.info("could not close the style picker: %s", exc.status)
        await self.on_pick_style(interaction, style)

    async def on_timeout(self) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(content="No style picked; the menu has expired.", view=None)


# ----------------------------------------------------------------------------------- buttons under a result
AGAIN_LABELS = {"style": ("Another style", "🎨"), "reroll": ("Re-roll", "🎲"), "stronger": ("Stronger", "➕"),
                "weaker": ("Weaker", "➖")}  # fmt: skip


AGAIN_TEMPLATE = r"nst:again:(?P<action>style|reroll|stronger|weaker)"


class AgainButton(discord.ui.DynamicItem[discord.ui.Button], template=AGAIN_TEMPLATE):
    """One of the buttons under a result: the same picture again, varied as its action says."""

    def __init__(self, action: str, *, disabled: bool = False) -> None:
        label, emoji = AGAIN_LABELS[action]
        button = discord.ui.Button(label=label, emoji=emoji, custom_id=f"nst:again:{action}", disabled=disabled)
        super().__init__(button)
        self.action = action

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /):
        return cls(match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await again(interaction.client, interaction, self.action)


def result_view(spec: Any, enabled: bool = True) -> discord.ui.View | None:
    """The buttons for a result made with `spec` (Gatys has no strength: no stronger/weaker)."""
    if not enabled:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(AgainButton("style"))
    view.add_item(AgainButton("reroll"))
    if has_strength(spec.method):
        view.add_item(AgainButton("stronger", disabled=not can_strengthen(spec)))
        view.add_item(AgainButton("weaker", disabled=not can_weaken(spec)))
    return view


async def again(bot: Any, interaction: discord.Interaction, action: str) -> None:
    """A click under a result: look up its picture, vary the options, and queue it like any other request."""
    if not bot.allowed_here(interaction):
        await interaction.response.send_message("I'm not enabled in this channel.", ephemeral=True)
        return
    entry = bot.recent.get(interaction.message.id) if interaction.message else None
    if entry is None:
        await interaction.response.send_message(bot.recent.expired_text(), ephemeral=True)
        return
    if action == "style":
        styles = installed_styles()
        default = entry.spec.style or default_style_name(bot.common, styles)

        async def pick(picked: discord.Interaction, name: str) -> None:
            await bot.launch(picked, lambda: with_style(entry.spec, name, bot.common), entry.content)

        view = StylePicker(interaction, styles, default, pick)
        await interaction.response.send_message("Which style for the same picture?", view=view, ephemeral=True)
        return
    await bot.launch(interaction, lambda: vary(entry.spec, action), entry.content, entry.style_image)


# ------------------------------------------------------------------------------------------------ /styles
def styles_page(page: int) -> dict[str, Any]:
    """Keyword arguments for a message showing page `page` of the installed styles, each with its preview."""
    styles = installed_styles()
    pages = max(1, -(-len(styles) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    embeds, files = [], []
    for info in styles[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        about = " · ".join(p for p in (info.artist, info.title) if p and p != info.display_name)
        embed = discord.Embed(title=info.display_name[:256], description=f"{about}\n`{info.name}`".strip())
        if info.preview_path is not None:
            try:
                data = info.preview_path.read_bytes()
            except OSError as exc:
                log.warning("could not read the preview of %s: %s", info.name, type(exc).__name__)
            else:
                files.append(discord.File(io.BytesIO(data), filename=f"{info.name}.jpg"))
                embed.set_image(url=f"attachment://{info.name}.jpg")
        embeds.append(embed)
    text = f"**{len(styles)} styles**" + (f" · page {page + 1} of {pages}" if pages > 1 else "")
    if not styles:
        text = "No styles are installed on this server yet; ask the bot's admin to add some."
    shown: dict[str, Any] = {"content": text, "embeds": embeds, "files": files}
    if pages > 1:  # (no `view` key at all otherwise: discord.py's send_message takes no view=None)
        view = discord.ui.View(timeout=None)
        view.add_item(PageButton(page - 1, "◀ Previous", disabled=page == 0))
        view.add_item(PageButton(page + 1, "Next ▶", disabled=page >= pages - 1))
        shown["view"] = view
    return shown


class PageButton(discord.ui.DynamicItem[discord.ui.Button], template=r"nst:styles:(?P<page>[0-9]{1,4})"):
    """Previous / next page of /styles: the page number is all the state there is."""

    def __init__(self, page: int, label: str = "Page", *, disabled: bool = False) -> None:
        super().__init__(discord.ui.Button(label=label, custom_id=f"nst:styles:{max(page, 0)}", disabled=disabled))
        self.page = max(page, 0)

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any, /):
        return cls(int(match["page"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        shown = styles_page(self.page)
        files = shown.pop("files")
        await interaction.response.edit_message(**shown, attachments=files)
