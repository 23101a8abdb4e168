"""Discord bot experience: commands synced only when they change, user installs (DMs and group DMs), /styles with
previews, and the buttons under a result. Real discord.py against the local fake of Discord (127.0.0.1)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from support.bots import (
    COMMAND_ID,
    decode,
    interaction,
    make_styles,
    picture,
    png_bytes,
    private_interaction,
    tiny_styles,  # noqa: F401 - pytest fixture
    weights_dir,  # noqa: F401 - pytest fixture
)
from support.discord_bot import buttons, click, final_edit, run, slash

import nst_core
from bots.config import CommonConfig
from bots.discord.sync import STATE_FILE
from bots.options import JobSpec, installed_styles
from bots.recent import RecentImages

pytestmark = pytest.mark.usefixtures("tiny_styles")


def test_commands_are_synced_only_when_they_changed_or_when_forced(monkeypatch, tmp_path):
    state = str(tmp_path / "state")
    syncs: list[list[dict]] = []

    async def count_syncs(bot, fake):
        syncs.append([c["commands"] for c in fake.of("sync")])

    def start(discord_env: dict | None = None, **env: str) -> list[dict]:
        run(monkeypatch, count_syncs, discord_env={"DISCORD_STATE_DIR": state, **(discord_env or {})}, **env)
        return syncs[-1]

    first = start()
    assert len(first) == 1 and (tmp_path / "state" / STATE_FILE).is_file()
    assert start() == []  # same commands: Discord's bulk-overwrite endpoint is not called
    changed = start(NST_BOT_GATYS="false")  # /stylize loses its quality option (no best quality)
    stylize = next(c for c in changed[0] if c["name"] == "stylize")
    assert len(changed) == 1 and "quality" not in [o["name"] for o in stylize["options"]]
    assert start(NST_BOT_GATYS="false") == []
    assert len(start({"DISCORD_SYNC_COMMANDS": "always"}, NST_BOT_GATYS="false")) == 1  # forced
    assert start({"DISCORD_SYNC_COMMANDS": "never"}) == []  # changed back, but told not to
    assert len(start()) == 1  # ... so the next start registers the change

    # Every command may be used through a user install, in DMs and group DMs.
    for command in first[0]:
        assert sorted(command["integration_types"]) == [0, 1], command["name"]
        assert sorted(command["contexts"]) == [0, 1, 2], command["name"]


def test_sync_state_in_a_folder_that_cannot_be_written_still_syncs(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    seen = []

    async def scenario(bot, fake):
        seen.append(len(fake.of("sync")))

    for _ in range(2):
        run(monkeypatch, scenario, discord_env={"DISCORD_STATE_DIR": str(blocker / "state")})
    assert seen == [1, 1]


def test_stylize_works_in_a_group_dm_through_a_user_install(monkeypatch):
    async def scenario(bot, fake):
        for group in (False, True):
            uid = 7100 + group
            payload = private_interaction(slash(fake, user_id=uid, style="tiny", size=64)["data"], user_id=uid,
                                          group=group)  # fmt: skip
            bot._connection.parse_interaction_create(payload)
            done = await final_edit(fake, payload)
            assert done["files"], done["payload"]
            assert decode(done["files"][0][2]).size == (64, 43)

    run(monkeypatch, scenario)


# ------------------------------------------------------------------------------------- buttons under a result
def stylized(style: str, **options) -> np.ndarray:
    """What nst_core makes of the test picture: the buttons must work on the very same picture."""
    return np.asarray(nst_core.stylize(png_bytes(), style, device="cpu", **options), dtype=np.int16)


def test_buttons_under_a_result_rerun_the_same_picture_through_the_queue(monkeypatch):
    async def scenario(bot, fake):
        first = slash(fake, user_id=8001, style="tiny", size=64, strength=0.8)
        bot._connection.parse_interaction_create(first)
        done = await final_edit(fake, first)
        result = done["message"]
        assert set(buttons(result)) == {f"nst:again:{a}" for a in ("style", "reroll", "stronger", "weaker")}
        assert len(bot.recent) == 1 and len(fake.of("download")) == 1

        # Someone else asks for it stronger: a new public result from the same picture, not downloaded again.
        press = click("nst:again:stronger", result, user_id=8002)
        bot._connection.parse_interaction_create(press)
        stronger = await final_edit(fake, press)
        assert [c["type"] for c in fake.of("callback", lambda c: c["token"] == press["token"])] == [5]
        assert "strength 1" in stronger["payload"]["content"]
        got = np.asarray(decode(stronger["files"][0][2]), dtype=np.int16)
        assert np.abs(got - stylized("tiny", size=64, strength=1.0)).max() <= 1
        assert len(fake.of("download")) == 1

        # Re-roll: another installed style, same picture and options.
        press = click("nst:again:reroll", result, user_id=8003)
        bot._connection.parse_interaction_create(press)
        rerolled = await final_edit(fake, press)
        caption = rerolled["payload"]["content"]
        assert "strength 0.8" in caption and not caption.startswith("**Tiny - Test**"), caption

        # Full strength: the button is greyed out, and a stale client's click is answered privately.
        full = stronger["message"]
        press = click("nst:again:stronger", full, user_id=8004)
        assert buttons(full)["nst:again:stronger"].get("disabled")
        bot._connection.parse_interaction_create(press)
        said = await fake.wait_for("callback", lambda c: c["token"] == press["token"])
        assert said["type"] == 4 and said["data"]["flags"] & 64 and "full style" in said["data"]["content"]

        # The queue's per-user rules apply to buttons: the first requester is still in their cooldown.
        press = click("nst:again:weaker", result, user_id=8001)
        bot._connection.parse_interaction_create(press)
        said = await fake.wait_for("callback", lambda c: c["token"] == press["token"])
        assert said["type"] == 4 and said["data"]["flags"] & 64 and "Please wait" in said["data"]["content"]

        # A result the bot no longer remembers (restart, expiry): a clear private answer.
        forgotten = {**result, "id": "900000000000000001"}
        press = click("nst:again:reroll", forgotten, user_id=8005)
        bot._connection.parse_interaction_create(press)
        said = await fake.wait_for("callback", lambda c: c["token"] == press["token"])
        assert said["type"] == 4 and said["data"]["flags"] & 64
        assert "no longer have the picture" in said["data"]["content"]

    run(monkeypatch, scenario, NST_BOT_USER_COOLDOWN="600")


def test_another_style_asks_privately_then_paints_the_same_picture(monkeypatch):
    async def scenario(bot, fake):
        first = slash(fake, user_id=8101, style="tiny", size=64)
        bot._connection.parse_interaction_create(first)
        result = (await final_edit(fake, first))["message"]
        press = click("nst:again:style", result, user_id=8102)
        bot._connection.parse_interaction_create(press)
        picker = await fake.wait_for("callback", lambda c: c["token"] == press["token"])
        assert picker["type"] == 4 and picker["data"]["flags"] & 64
        select = picker["data"]["components"][0]["components"][0]
        pick = interaction({"custom_id": select["custom_id"], "component_type": 3, "values": ["tiny_b"]}, kind=3,
                           message=picker["message"], user_id=8102)  # fmt: skip
        bot._connection.parse_interaction_create(pick)
        done = await final_edit(fake, pick)
        assert done["payload"]["content"].startswith("**Tiny B")
        got = np.asarray(decode(done["files"][0][2]), dtype=np.int16)
        assert np.abs(got - stylized("tiny_b", size=64)).max() <= 1
        assert len(fake.of("download")) == 1

    run(monkeypatch, scenario)


def test_recent_pictures_are_bounded_shrunk_and_expire():
    now = [0.0]
    common = CommonConfig.from_env({"NST_BOT_RECENT_ITEMS": "2", "NST_BOT_RECENT_MINUTES": "1",
                                    "NST_BOT_MAX_SIZE": "128"})  # fmt: skip
    recent = RecentImages(common, clock=lambda: now[0])
    spec = JobSpec("tiny", "Tiny")
    for key in (1, 2, 3):
        recent.remember(key, picture(400, 200), spec, None)
    assert recent.get(1) is None and recent.get(2) is not None  # the oldest is forgotten first
    assert recent.get(3).content.size == (128, 64)  # nothing larger than any job may ask for is kept
    now[0] = 59.0
    assert recent.get(3) is not None
    now[0] = 61.0
    assert recent.get(2) is None and recent.get(3) is None and len(recent) == 0
    assert "1 minutes" in recent.expired_text()
    off = RecentImages(CommonConfig.from_env({"NST_BOT_RECENT_ITEMS": "0"}))
    off.remember(1, picture(), spec, None)
    assert not off.enabled and off.get(1) is None


# ------------------------------------------------------------------------------------------------- /styles
def test_styles_shows_every_style_with_its_preview_in_pages_of_ten(monkeypatch, tmp_path):
    many = tmp_path / "many"
    make_styles(many, tuple(f"gallery_{i:02d}" for i in range(11)))
    monkeypatch.setenv("NST_WEIGHTS_DIR", str(many))
    styles = installed_styles()
    assert len(styles) > 10

    async def scenario(bot, fake):
        command = next(c for c in fake.of("sync")[0]["commands"] if c["name"] == "styles")
        assert sorted(command["contexts"]) == [0, 1, 2]
        payload = interaction({"id": str(COMMAND_ID + 2), "name": "styles", "type": 1})
        bot._connection.parse_interaction_create(payload)
        shown = await fake.wait_for("callback", lambda c: c["token"] == payload["token"])
        seen = check_page(shown, styles[:10])
        nxt = buttons(shown["message"])["nst:styles:1"]
        assert not nxt.get("disabled") and buttons(shown["message"])["nst:styles:0"].get("disabled")
        press = click("nst:styles:1", shown["message"], user_id=1001)
        bot._connection.parse_interaction_create(press)
        page2 = await fake.wait_for("callback", lambda c: c["token"] == press["token"])
        assert page2["type"] == 7  # the same private message, turned to the next page
        seen += check_page(page2, styles[10:20])
        assert seen[:11] == [s.display_name for s in styles[:11]]

    run(monkeypatch, scenario)


def check_page(callback: dict, expected: list) -> list[str]:
    """Each style of the page: its display name as an embed, its preview attached as a real JPEG."""
    data = callback["data"]
    assert callback["type"] == 7 or data["flags"] & 64  # private; a page turn keeps the message as it is
    assert len(data["embeds"]) == len(expected) <= 10
    files = {name: blob for _, name, blob in callback["files"]}
    assert len(files) <= 10
    for embed, info in zip(data["embeds"], expected, strict=True):
        assert embed["title"] == info.display_name and info.name in embed["description"]
        assert embed["image"]["url"] == f"attachment://{info.name}.jpg"
        assert decode(files[f"{info.name}.jpg"]).format == "JPEG"
    return [e["title"] for e in data["embeds"]]


def test_styles_on_one_page_has_no_page_buttons(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr("nst_core.styles.registry.REPO_WEIGHTS_DIR", tmp_path / "none")  # only the two tiny styles

    async def scenario(bot, fake):
        payload = private_interaction({"id": str(COMMAND_ID + 2), "name": "styles", "type": 1}, group=True)
        bot._connection.parse_interaction_create(payload)
        shown = await fake.wait_for("callback", lambda c: c["token"] == payload["token"])
        assert check_page(shown, installed_styles()) == ["Tiny", "Tiny B"]
        assert not shown["data"].get("components") and shown["data"]["content"] == "**2 styles**"
        # A second request as a sentinel: by its answer, anything the first one did after Discord's reply is done.
        sentinel = private_interaction({"id": str(COMMAND_ID + 2), "name": "styles", "type": 1}, user_id=1002)
        bot._connection.parse_interaction_create(sentinel)
        await fake.wait_for("callback", lambda c: c["token"] == sentinel["token"])

    caplog.set_level(logging.ERROR)
    run(monkeypatch, scenario)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_sync_commands_flag_forces_a_sync(monkeypatch):
    from bots.discord import __main__ as entry

    started = []

    class Bot:
        def __init__(self, config, common):
            started.append(config.sync_commands)

        def run(self, token, log_handler=None):
            assert token == "t0ken"

    monkeypatch.setattr("bots.discord.app.build_bot", Bot)
    monkeypatch.setenv("DISCORD_TOKEN", "t0ken")
    monkeypatch.delenv("DISCORD_SYNC_COMMANDS", raising=False)
    assert entry.main([]) == 0 and entry.main(["--sync-commands"]) == 0
    assert started == ["auto", "always"]
    assert entry.main(["--sync"]) == 2 and len(started) == 2  # a typo stops before logging in
