"""Slack bot experience: the styles' previews as a contact sheet, the controls under a result, and a custom
painting in best quality (Gatys) from a mention with two pictures and `best` (the instant one:
test_bots_arbitrary.py). Real Bolt (HTTP adapter, signatures, files_upload_v2, action routing) against the local
fake of Slack (127.0.0.1)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from support.bots import (
    SLACK_BOT_USER,
    png_bytes,
    tiny_styles,  # noqa: F401 - pytest fixture
    weights_dir,  # noqa: F401 - pytest fixture
)
from support.slack_bot import CHANNEL, elements, image_message, press, run, uploaded

import nst_core
from bots.options import installed_styles
from bots.slack.gallery import CELL, PAD, PER_SHEET

pytestmark = pytest.mark.usefixtures("tiny_styles")


def test_styles_posts_every_preview_on_a_contact_sheet():
    async def scenario(bot, fake, slack):
        styles = installed_styles()
        status, body = await slack.command("styles")
        assert status == 200 and body == ""
        params, sheet = await uploaded(fake)
        files = json.loads(params["files"])
        assert len(files) == -(-len(styles) // PER_SHEET)
        assert params["channel_id"] == CHANNEL and "<@U0ALICE>" in params["initial_comment"]
        assert f"{len(styles)} installed styles" in params["initial_comment"]
        assert sheet.format == "JPEG"
        # The first cell is the first style's preview (centred in its square), not a blank placeholder.
        with nst_core.load_image(styles[0].preview_path) as preview:
            preview.thumbnail((CELL, CELL))
            x, y = PAD + (CELL - preview.width) // 2, PAD + (CELL - preview.height) // 2
            cell = sheet.crop((x, y, x + preview.width, y + preview.height))
            diff = np.abs(np.asarray(cell, np.int16) - np.asarray(preview, np.int16)).mean()
        assert diff < 12, diff

        # Asked in a mention: the sheet goes to that thread.
        await slack.event({"type": "app_mention", "user": "U0BOB", "channel": CHANNEL, "ts": "1690000001.000100",
                           "text": f"<@{SLACK_BOT_USER}> styles"})  # fmt: skip
        params, _ = await uploaded(fake, lambda c: "U0BOB" in c["params"]["initial_comment"])
        assert params["thread_ts"] == "1690000001.000100"

        # Where the bot may not upload (not a member of the channel), the names come privately instead.
        fake.m_files_getUploadURLExternal = lambda _p: {"ok": False, "error": "not_in_channel"}
        status, _ = await slack.command("styles", user="U0CAROL")
        said = (await fake.wait_for("respond"))["body"]
        assert said["response_type"] == "ephemeral" and "couldn't post the previews" in said["text"]
        assert all(f"`{s.name}`" in said["text"] for s in styles)

    run(scenario)


# ------------------------------------------------------------------------------------------- result controls
def controls(fake, pred=lambda c: True) -> list[dict[str, Any]]:
    """The control messages posted under results (newest last)."""
    return [c for c in fake.of("chat.postMessage", pred) if c["params"].get("blocks")]


def pixels(img) -> np.ndarray:
    return np.asarray(img, dtype=np.int16)


def test_controls_under_a_result_rerun_the_same_picture_through_the_queue():
    async def scenario(bot, fake, slack):
        fake.history[CHANNEL] = [image_message(fake, "F0PIC")]
        await slack.command("tiny size=64 strength=0.8")
        await uploaded(fake)
        under = await fake.wait_for("chat.postMessage", lambda c: bool(c["params"].get("blocks")))
        assert set(elements(under)) == {"nst_again_style", "nst_again_reroll", "nst_again_stronger",
                                        "nst_again_weaker"}  # fmt: skip
        assert {"tiny", "tiny_b"} <= {o["value"] for o in elements(under)["nst_again_style"]["options"]}

        status, _ = await slack.interactive(press(fake, under, "nst_again_stronger", user="U0BOB"))
        assert status == 200
        params, img = await uploaded(fake, lambda c: "U0BOB" in c["params"]["initial_comment"])
        want = nst_core.stylize(png_bytes(), "tiny", size=64, strength=1.0, device="cpu")
        assert np.abs(pixels(img) - pixels(want)).max() <= 1  # the same picture, full strength
        assert len(fake.of("download")) == 1  # ... not downloaded again
        full = await fake.wait_for("chat.postMessage", lambda c: bool(c["params"].get("blocks")) and c is not under)
        assert "nst_again_stronger" not in elements(full)  # nothing stronger to offer

        await slack.interactive(press(fake, under, "nst_again_style", user="U0CAROL", value="tiny_b"))
        params, img = await uploaded(fake, lambda c: "U0CAROL" in c["params"]["initial_comment"])
        assert "Tiny B" in params["initial_comment"]
        want = nst_core.stylize(png_bytes(), "tiny_b", size=64, strength=0.8, device="cpu")
        assert np.abs(pixels(img) - pixels(want)).max() <= 1

        await slack.interactive(press(fake, under, "nst_again_reroll", user="U0DAVE"))
        params, _ = await uploaded(fake, lambda c: "U0DAVE" in c["params"]["initial_comment"])
        assert "*Tiny - Test*" not in params["initial_comment"]  # another style
        assert "thread_ts" not in params  # a /stylize result is in the channel: so is the next one

        # The queue's per-user rules hold for clicks (the first requester is in their cooldown); a result the bot
        # has forgotten (restart, expiry) gets a clear private answer.
        await slack.interactive(press(fake, under, "nst_again_weaker", user="U0ALICE"))
        said = await fake.wait_for("respond", lambda c: c["path"].endswith("/U0ALICE"))
        assert "Please wait" in said["body"]["text"] and said["body"]["response_type"] == "ephemeral"
        bot.recent._items.clear()
        await slack.interactive(press(fake, under, "nst_again_reroll", user="U0ERIN"))
        said = await fake.wait_for("respond", lambda c: c["path"].endswith("/U0ERIN"))
        assert "no longer have the picture" in said["body"]["text"]

    run(scenario, NST_BOT_USER_COOLDOWN="600")


def test_a_mention_with_two_pictures_and_best_paints_the_first_like_the_second_by_gatys(monkeypatch, squeezenet_path):
    monkeypatch.setenv("NST_SQUEEZENET_WEIGHTS", str(squeezenet_path))

    async def scenario(bot, fake, slack):
        photo = image_message(fake, "F0PHOTO", ts="1690000002.000100")
        painting = image_message(fake, "F0PAINT", ts="1690000002.000100", w=64, h=64)
        files = photo["files"] + painting["files"]
        await slack.event({"type": "app_mention", "user": "U0ALICE", "channel": CHANNEL, "ts": photo["ts"],
                           "text": f"<@{SLACK_BOT_USER}> size=64 best", "files": files})  # fmt: skip
        params, img = await uploaded(fake, timeout=240)
        assert img.size == (64, 43) and params["thread_ts"] == photo["ts"]
        assert "*your style image* (best quality)" in params["initial_comment"]
        assert [j.method for j in bot.service.history] == ["gatys"]
        assert sorted(d["path"].split("/")[-1] for d in fake.of("download")) == ["f0paint.png", "f0photo.png"]
        texts = [c["params"]["text"] for c in fake.of("chat.postMessage") + fake.of("chat.update")]
        assert any(t.startswith("Stylising") for t in texts), texts  # the status line, as on Discord

        under = await fake.wait_for("chat.postMessage", lambda c: bool(c["params"].get("blocks")))
        assert "nst_again_stronger" not in elements(under) and "nst_again_reroll" in elements(under)
        await slack.interactive(press(fake, under, "nst_again_reroll", user="U0BOB"))  # a new seed, from noise
        params, again = await uploaded(fake, lambda c: "U0BOB" in c["params"]["initial_comment"], timeout=240)
        assert params["thread_ts"] == photo["ts"]  # in the same thread as the first result
        assert again.size == (64, 43) and np.abs(pixels(again) - pixels(img)).mean() > 1
        assert len(fake.of("download")) == 2
        assert [j.method for j in bot.service.history] == ["gatys", "gatys"]

    run(scenario, NST_BOT_GATYS_LOSS_NET="squeezenet", NST_BOT_GATYS_STEPS="4", NST_BOT_PROGRESS_INTERVAL="0.01")
