"""The Discord bot under test: `run` starts the fake Discord, logs the real client in against it and runs a
scenario; `slash`, `final_edit` and `private_followup` send a /stylize and read how it ended."""

from __future__ import annotations

import tempfile

import discord
import discord.http

from bots.config import CommonConfig, DiscordConfig
from bots.discord import build_bot
from bots.jobs import StylizeService

from . import aio
from .bots import GUILD_ID, FakeDiscord, attachment, interaction, png_bytes, slash_data

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.discord-test-token.do-not-log-me"


def run(
    monkeypatch, scenario, *, guild: bool = True, stylize=None, discord_env: dict | None = None, **env: str
) -> None:
    """Start the fake, log the real client in against it (GET /users/@me, app info, guild sync), run.
    `stylize` replaces nst_core.stylize in the bot's worker pool (e.g. a GatedStylize); `discord_env` adds DISCORD_*
    variables (a fresh DISCORD_STATE_DIR unless given: every run syncs its commands)."""

    async def main(state_dir: str) -> None:
        fake = await FakeDiscord().start()
        monkeypatch.setattr(discord.http.Route, "BASE", f"{fake.base}/api/v10")
        common = CommonConfig.from_env(
            {
                "NST_BOT_ALLOWED_MEDIA_HOSTS": "127.0.0.1",  # test-only: the fake CDN
                "NST_BOT_USER_COOLDOWN": "0",
                "NST_BOT_DEVICE": "cpu",
                "NST_BOT_DEFAULT_STYLE": "tiny",  # not whatever bundled style sorts first
                "NST_BOT_PROGRESS_INTERVAL": "0.05",
                "NST_BOT_MAX_DOWNLOAD_MB": "2",
                **env,
            }
        )
        denv = {"DISCORD_TOKEN": TOKEN, "DISCORD_STATE_DIR": state_dir, **(discord_env or {})}
        if guild:
            denv["DISCORD_GUILD_ID"] = str(GUILD_ID)
        config = DiscordConfig.from_env(denv)
        bot = build_bot(config, common, service=StylizeService(common, stylize=stylize) if stylize else None)
        try:
            await bot.login(TOKEN)
            await scenario(bot, fake)
        finally:
            if stylize is not None and hasattr(stylize, "release"):
                stylize.release()  # a failed test must not leave a worker thread parked on the gate
            await bot.close()
            await fake.stop()

    with tempfile.TemporaryDirectory() as state_dir:
        aio.run(main(state_dir))


def slash(fake: FakeDiscord, *, user_id: int = 1001, url: str | None = None, content_type="image/png",
          declared: int | None = None, **options) -> dict:  # fmt: skip
    """A /stylize interaction whose `image` attachment points at the fake CDN."""
    data = png_bytes()
    url = url or fake.media.add(f"photo{user_id}.png", data)
    att = attachment(9001, url, size=declared if declared is not None else len(data), content_type=content_type)
    opts = [{"name": "image", "type": 11, "value": att["id"]}]
    types = {"style": 3, "strength": 10, "preserve_colors": 5, "size": 4, "quality": 3}
    opts += [{"name": k, "type": types[k], "value": v} for k, v in options.items()]
    return interaction(slash_data(opts, [att]), user_id=user_id)


def add_painting(fake: FakeDiscord, payload: dict, data: bytes | None = None, *, att_id: int = 9002) -> bytes:
    """Attach a painting to a /stylize interaction as its `style_image`; returns the painting's bytes."""
    data = data if data is not None else png_bytes(64, 64, seed=7)
    att = attachment(att_id, fake.media.add(f"style{att_id}.png", data), filename="style.png", size=len(data))
    payload["data"]["options"].append({"name": "style_image", "type": 11, "value": att["id"]})
    payload["data"]["resolved"]["attachments"][att["id"]] = att
    return data


async def final_edit(fake: FakeDiscord, payload: dict, timeout: float = 90) -> dict:
    """The edit that ends a job: either the image or a warning."""
    return await fake.wait_for(
        "edit",
        lambda c: (
            c["token"] == payload["token"] and (c["files"] or (c["payload"].get("content") or "").startswith("⚠️"))
        ),
        timeout=timeout,
    )


async def private_followup(fake: FakeDiscord, payload: dict, timeout: float = 30) -> str:
    """The text of an ephemeral follow-up (flags 64) to this interaction: how errors after deferring are told."""
    call = await fake.wait_for("followup", lambda c: c["token"] == payload["token"], timeout=timeout)
    assert call["payload"].get("flags", 0) & 64 and not call["files"], call
    assert not call["replaced_placeholder"], "the follow-up only replaced the public placeholder: not private"
    return call["payload"]["content"]


def click(custom_id: str, message: dict, *, user_id: int) -> dict:
    """A click on a button of `message`, as Discord's gateway delivers it."""
    return interaction({"custom_id": custom_id, "component_type": 2}, kind=3, message=message, user_id=user_id)


def buttons(message: dict) -> dict[str, dict]:
    return {b["custom_id"]: b for row in message["components"] for b in row["components"]}
