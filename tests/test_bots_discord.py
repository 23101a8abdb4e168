"""The Discord bot end to end: real discord.py login, command sync, interaction parsing, command tree and webhook
uploads, against a local fake of Discord's REST API and CDN (127.0.0.1). Stylisation is the real nst_core with
tiny random-init styles."""

from __future__ import annotations

import asyncio
import logging

import pytest
from support.bots import (
    COMMAND_ID,
    GUILD_ID,
    GatedStylize,
    attachment,
    channel_message,
    decode,
    interaction,
    make_styles,
    png_bytes,
    slash_data,
    tiny_styles,  # noqa: F401 - pytest fixture
    weights_dir,  # noqa: F401 - pytest fixture
)
from support.discord_bot import TOKEN, add_painting, final_edit, private_followup, run, slash

import nst_core
from bots.config import DiscordConfig
from bots.discord.reply import REPLY_MARGIN

pytestmark = pytest.mark.usefixtures("tiny_styles")  # the tiny random-init styles of support.bots


def expected_size(w: int, h: int, long_side: int) -> tuple[int, int]:
    return nst_core.resize_long_side(nst_core.load_image(png_bytes(w, h)), long_side).size


def test_slash_command_defers_then_uploads_the_image(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    gate = GatedStylize()

    async def scenario(bot, fake):
        assert fake.of("login")[0]["auth"] == f"Bot {TOKEN}"
        sync = fake.of("sync")[0]
        assert sync["guild"] == str(GUILD_ID)  # DISCORD_GUILD_ID: per-guild sync for development
        commands = {c["name"]: c for c in sync["commands"]}
        assert set(commands) == {"stylize", "Stylize image", "styles"}
        options = {o["name"]: o for o in commands["stylize"]["options"]}
        assert {"tiny", "tiny_b"} <= {c["value"] for c in options["style"]["choices"]}  # + any bundled styles
        assert options["image"]["required"] and options["image"]["type"] == 11
        assert options["size"]["max_value"] == 1024 and options["strength"]["max_value"] == 1.0

        payload = slash(fake, style="tiny_b", size=64, strength=0.8, preserve_colors=True)
        bot._connection.parse_interaction_create(payload)
        deferred = await fake.wait_for("callback", lambda c: c["token"] == payload["token"])
        assert deferred["type"] == 5  # deferred while the job cannot have finished: it is still held
        assert not fake.of("edit", lambda c: c["token"] == payload["token"] and c["files"])
        gate.release()
        done = await final_edit(fake, payload)
        callback = fake.of("callback", lambda c: c["token"] == payload["token"])
        assert [c["type"] for c in callback] == [5]  # one deferral, then edits
        assert gate.calls == 1
        assert len(done["files"]) == 1, done["payload"]
        _, filename, data = done["files"][0]
        assert filename == "stylized-tiny_b.png"
        img = decode(data)
        assert img.size == expected_size(96, 64, 64) == (64, 43) and img.mode == "RGB"
        assert "Tiny B" in done["payload"]["content"] and "64×43" in done["payload"]["content"]

    run(monkeypatch, scenario, stylize=gate)
    assert TOKEN not in caplog.text
    assert "do-not-log-me" not in caplog.text


def test_context_menu_asks_for_a_style_then_stylizes(monkeypatch):
    async def scenario(bot, fake):
        url = fake.media.add("posted.png", png_bytes(80, 120))
        msg = channel_message(8001, [attachment(8002, url, filename="posted.png", size=10)])
        data = {
            "id": str(COMMAND_ID + 1),
            "name": "Stylize image",
            "type": 3,
            "guild_id": str(GUILD_ID),
            "target_id": msg["id"],
            "resolved": {"messages": {msg["id"]: msg}},
        }
        menu = interaction(data)
        bot._connection.parse_interaction_create(menu)
        picker = await fake.wait_for("callback", lambda c: c["token"] == menu["token"])
        assert picker["type"] == 4 and picker["data"]["flags"] & 64  # a private style picker
        select = picker["data"]["components"][0]["components"][0]
        assert {"tiny", "tiny_b"} <= {o["value"] for o in select["options"]}

        pick = interaction(
            {"custom_id": select["custom_id"], "component_type": 3, "values": ["tiny"]},
            kind=3,
            message=picker["message"],
        )
        bot._connection.parse_interaction_create(pick)
        done = await final_edit(fake, pick)
        assert [c["type"] for c in fake.of("callback", lambda c: c["token"] == pick["token"])] == [5]
        img = decode(done["files"][0][2])
        assert img.size == (80, 120)  # the default size never enlarges a small picture

    run(monkeypatch, scenario)


def test_message_without_image_gets_a_private_answer(monkeypatch):
    async def scenario(bot, fake):
        msg = channel_message(8101, [])
        data = {"id": str(COMMAND_ID + 1), "name": "Stylize image", "type": 3, "guild_id": str(GUILD_ID),
                "target_id": msg["id"], "resolved": {"messages": {msg["id"]: msg}}}  # fmt: skip
        menu = interaction(data)
        bot._connection.parse_interaction_create(menu)
        reply = await fake.wait_for("callback", lambda c: c["token"] == menu["token"])
        assert reply["type"] == 4 and reply["data"]["flags"] & 64 and "no image" in reply["data"]["content"]
        assert fake.of("sync")[0]["guild"] is None  # no DISCORD_GUILD_ID: global commands

    run(monkeypatch, scenario, guild=False)


def test_custom_style_image_with_quality_best_runs_gatys_with_progress(monkeypatch, squeezenet_path):
    monkeypatch.setenv("NST_SQUEEZENET_WEIGHTS", str(squeezenet_path))

    async def scenario(bot, fake):
        options = {o["name"]: o for o in fake.of("sync")[0]["commands"][0]["options"]}
        assert [c["value"] for c in options["quality"]["choices"]] == ["instant", "best"]
        payload = slash(fake, size=64, quality="best")
        add_painting(fake, payload)
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload, timeout=240)
        assert done["files"], done["payload"]
        assert decode(done["files"][0][2]).size == (64, 43)
        texts = [c["payload"].get("content") or "" for c in fake.of("edit", lambda c: c["token"] == payload["token"])]
        assert any(t.startswith("Stylising") for t in texts), texts
        assert "custom style** (best quality)" in done["payload"]["content"]
        assert [(j.method, j.kind) for j in bot.service.history] == [("gatys", "picture")]
        ids = {b["custom_id"] for row in done["message"]["components"] for b in row["components"]}
        assert ids == {"nst:again:style", "nst:again:reroll"}  # Gatys has no strength to change

    run(
        monkeypatch,
        scenario,
        NST_BOT_GATYS_LOSS_NET="squeezenet",
        NST_BOT_GATYS_STEPS="4",
        NST_BOT_PROGRESS_INTERVAL="0.01",
    )


def test_gatys_switched_off_removes_the_quality_option_and_the_bot_still_serves(monkeypatch):
    """NST_BOT_GATYS=false (documented) used to crash the bot while it built /stylize. Now it only takes away the
    best quality: custom paintings stay, instant (without the network as well: tests/test_bots_arbitrary.py)."""

    async def scenario(bot, fake):
        commands = {c["name"]: c for c in fake.of("sync")[0]["commands"]}
        names = [o["name"] for o in commands["stylize"]["options"]]
        assert "quality" not in names and {"image", "style", "size", "style_image"} <= set(names)
        payload = slash(fake, style="tiny", size=64)
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload)
        assert done["files"] and decode(done["files"][0][2]).size == expected_size(96, 64, 64)

    run(monkeypatch, scenario, NST_BOT_GATYS="false")


def test_bad_input_gets_messages_and_the_bot_keeps_serving(monkeypatch):
    async def scenario(bot, fake):
        async def private_reply(payload: dict) -> str:
            bot._connection.parse_interaction_create(payload)
            cb = await fake.wait_for("callback", lambda c: c["token"] == payload["token"], timeout=30)
            assert cb["type"] == 4 and cb["data"]["flags"] & 64, cb
            return cb["data"]["content"]

        async def failed_job(payload: dict) -> str:
            """Found after the public deferral: a private follow-up, and the public reply deleted."""
            bot._connection.parse_interaction_create(payload)
            said = await private_followup(fake, payload)
            await fake.wait_for("delete", lambda c: c["token"] == payload["token"], timeout=10)
            return said

        uid = iter(range(2001, 3000))
        # Rejected before deferring, from Discord's metadata or the options alone.
        text_url = fake.media.add("notes.txt", b"hello", "text/plain")
        assert "not an image" in await private_reply(slash(fake, user_id=next(uid), url=text_url,
                                                           content_type="text/plain"))  # fmt: skip
        assert "limit is 2 MB" in await private_reply(slash(fake, user_id=next(uid), declared=50 * 1024 * 1024))
        assert "don't know the style `nope`" in await private_reply(slash(fake, user_id=next(uid), style="nope"))
        assert "strength" in await private_reply(slash(fake, user_id=next(uid), strength=7))
        assert "strength" in await private_reply(slash(fake, user_id=next(uid), strength="abc"))
        assert "size" in await private_reply(slash(fake, user_id=next(uid), size=5))
        # Discovered while downloading: a private warning that says what is wrong.
        fake_png = fake.media.add("fake.png", b"definitely not a png", "image/png")
        said = await failed_job(slash(fake, user_id=next(uid), url=fake_png))
        assert said.startswith("⚠️") and "not an image" in said and "Traceback" not in said, said
        for w, h in ((1, 1), (2000, 8)):  # judged as sent, before any shrinking: told, not painted
            tiny = fake.media.add(f"tiny{w}x{h}.png", png_bytes(w, h))
            said = await failed_job(slash(fake, user_id=next(uid), url=tiny))
            assert f"Your picture is only {w}x{h} pixels, too small" in said and "16 pixels" in said, said
        endless = f"{fake.base}/stream/endless"
        assert "larger than the 2 MB limit" in await failed_job(
            slash(fake, user_id=next(uid), url=endless, declared=10)
        )
        evil = "https://evil.example.com/cat.png"
        assert "hosted by the chat platform" in await failed_job(slash(fake, user_id=next(uid), url=evil))

        # Concurrent spam from one user: one job, the rest told to wait; someone else is still served.
        spam = [slash(fake, user_id=4242, size=64) for _ in range(5)]
        other = slash(fake, user_id=4343, size=64)
        for p in [*spam, other]:
            bot._connection.parse_interaction_create(p)
        results = await asyncio.gather(
            *(fake.wait_for("callback", lambda c, p=p: c["token"] == p["token"]) for p in spam)
        )
        assert sorted(r["type"] for r in results) == [4, 4, 4, 4, 5]
        assert all("already have an image" in r["data"]["content"] for r in results if r["type"] == 4)
        winner = next(p for p, r in zip(spam, results, strict=True) if r["type"] == 5)
        for p in (winner, other):
            done = await final_edit(fake, p)
            assert decode(done["files"][0][2]).size == (64, 43)

    run(monkeypatch, scenario)


def test_extra_media_hosts_need_https_unless_loopback(monkeypatch):
    async def scenario(bot, fake):
        payload = slash(fake, url="http://cdn.example.net/cat.png")
        bot._connection.parse_interaction_create(payload)
        assert "https" in await private_followup(fake, payload)

    run(monkeypatch, scenario, NST_BOT_ALLOWED_MEDIA_HOSTS="127.0.0.1, cdn.example.net")


def test_not_enabled_channel(monkeypatch):
    async def scenario(bot, fake):
        payload = slash(fake)
        bot._connection.parse_interaction_create(payload)
        cb = await fake.wait_for("callback", lambda c: c["token"] == payload["token"])
        assert cb["type"] == 4 and "not enabled" in cb["data"]["content"]

    async def wrapped(bot, fake):
        bot.config = DiscordConfig(token=bot.config.token, allowed_channels=frozenset({1}))
        await scenario(bot, fake)

    run(monkeypatch, wrapped)


def test_result_fits_the_servers_upload_limit(monkeypatch):
    async def scenario(bot, fake):
        payload = slash(fake, style="tiny", size=256)
        payload["attachment_size_limit"] = 6000  # what Discord reports for this server
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload)
        _, filename, data = done["files"][0]
        assert filename.endswith(".webp") and len(data) <= 6000
        img = decode(data)
        assert img.format == "WEBP" and max(img.size) <= 256

    run(monkeypatch, scenario)


def test_a_queued_job_shows_its_place_once_then_finishes(monkeypatch):
    gate = GatedStylize()

    async def scenario(bot, fake):
        first, second = slash(fake, user_id=5001, size=64), slash(fake, user_id=5002, size=64)
        bot._connection.parse_interaction_create(first)
        await fake.wait_for("callback", lambda c: c["token"] == first["token"])
        bot._connection.parse_interaction_create(second)
        await fake.wait_for("edit", lambda c: c["token"] == second["token"], timeout=30)
        await asyncio.sleep(0.5)  # several reporter intervals (0.05 s) while it waits in the queue
        gate.release()
        for p in (first, second):
            assert (await final_edit(fake, p))["files"]
        texts = [c["payload"].get("content") for c in fake.of("edit", lambda c: c["token"] == second["token"])]
        assert texts.count("You are next in the queue…") == 1, texts

    run(monkeypatch, scenario, stylize=gate)


def test_more_than_25_styles_autocomplete_live_and_the_default_is_always_offered(monkeypatch, tmp_path):
    many = tmp_path / "many"
    make_styles(many, (*[f"extra_{i:02d}" for i in range(26)], "zz_pick"))
    monkeypatch.setenv("NST_WEIGHTS_DIR", str(many))

    async def scenario(bot, fake):
        style_option = next(
            o for o in fake.of("sync")[0]["commands"][0]["options"] if o["name"] == "style"
        )  # fmt: skip
        assert style_option.get("autocomplete") and not style_option.get("choices")

        async def complete(typed: str) -> list[str]:
            opts = [{"name": "image", "type": 11, "value": "9001"}, {"name": "style", "type": 3, "value": typed,
                                                                      "focused": True}]  # fmt: skip
            payload = interaction(slash_data(opts, []), kind=4)
            bot._connection.parse_interaction_create(payload)
            cb = await fake.wait_for("callback", lambda c: c["token"] == payload["token"])
            assert cb["type"] == 8, cb
            return [c["value"] for c in cb["data"]["choices"]]

        assert await complete("zz") == ["zz_pick"]
        assert len(await complete("")) == 25
        make_styles(many, ("newly_added",))  # installed while the bot runs
        assert await complete("newly") == ["newly_added"]

        url = fake.media.add("posted.png", png_bytes(80, 120))
        msg = channel_message(8201, [attachment(8202, url, filename="posted.png", size=10)])
        data = {"id": str(COMMAND_ID + 1), "name": "Stylize image", "type": 3, "guild_id": str(GUILD_ID),
                "target_id": msg["id"], "resolved": {"messages": {msg["id"]: msg}}}  # fmt: skip
        menu = interaction(data)
        bot._connection.parse_interaction_create(menu)
        picker = await fake.wait_for("callback", lambda c: c["token"] == menu["token"])
        options = picker["data"]["components"][0]["components"][0]["options"]
        assert len(options) == 25
        assert [o["value"] for o in options if o.get("default")] == ["zz_pick"]

    run(monkeypatch, scenario, NST_BOT_DEFAULT_STYLE="zz_pick")


def test_a_job_that_would_outlive_discords_token_is_stopped_while_it_can_still_say_why(monkeypatch):
    """Interaction tokens last 15 minutes: a job still queued near the end is dropped with a private message
    (sent while the token still works) instead of leaving "You are next in the queue…" forever."""
    gate = GatedStylize()

    async def scenario(bot, fake):
        first = slash(fake, user_id=6001, size=64)
        bot._connection.parse_interaction_create(first)
        await fake.wait_for("callback", lambda c: c["token"] == first["token"])
        late = slash(fake, user_id=6002, size=64)
        late_payload = interaction(late["data"], user_id=6002, age=15 * 60 - REPLY_MARGIN - 2)  # 2 s left
        bot._connection.parse_interaction_create(late_payload)
        said = await private_followup(fake, late_payload, timeout=20)
        assert "15 minutes" in said
        assert bot.service.stats()["waiting"] == 0  # its place in the queue is given up
        gate.release()
        assert (await final_edit(fake, first))["files"]

    run(monkeypatch, scenario, stylize=gate)
