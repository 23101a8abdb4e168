"""Custom paintings in one pass (nst_core's method="arbitrary") in the bots: the default for Discord's `style_image`
and Slack's second picture, with Gatys still one word away (`quality:best`, `best`), on GIFs too, with the
strength buttons, the queue's per-user rules, and a plain answer (or Gatys) where the network does not load.

Real discord.py / slack-bolt against the local fakes (127.0.0.1) and the real nst_core: the results are compared
with what nst_core makes of the same pictures, and the bot's job record says which method served each request.
These tests use the bundled network (weights/arbitrary/); until it is committed, export NST_ARBITRARY_WEIGHTS.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from support.bots import (
    DURATIONS,
    SLACK_BOT_USER,
    RecordingStylize,
    decode,
    gif_bytes,
    gif_frames,
    png_bytes,
    tiny_styles,  # noqa: F401 - pytest fixture
    weights_dir,  # noqa: F401 - pytest fixture
)
from support.discord_bot import add_painting, buttons, click, final_edit, slash
from support.discord_bot import run as run_discord
from support.slack_bot import CHANNEL, elements, image_message, press, uploaded
from support.slack_bot import run as run_slack

import nst_core
from bots.clips import NO_BEST
from bots.config import CommonConfig
from bots.messages import BadOptions
from bots.options import UNAVAILABLE, JobSpec, build_spec, installed_styles, parse_text
from bots.variations import reroll

pytestmark = pytest.mark.usefixtures("tiny_styles")


@pytest.fixture
def network() -> None:
    """The one-pass network must load here, or the bot would (rightly) paint with Gatys instead, for minutes: fail
    at once and say why."""
    ok, why = nst_core.arbitrary_status()
    assert ok, f"{why} (until weights/arbitrary/ is committed: export NST_ARBITRARY_WEIGHTS)"


def pixels(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.int16)


def painted(photo: bytes, painting: bytes, **options) -> np.ndarray:
    """What nst_core's one-pass network makes of the picture: the bot must hand back the very same."""
    img = nst_core.stylize(photo, method="arbitrary", style_images=[painting], device="cpu", **options)
    return pixels(img)


def animation(data: bytes) -> tuple[str, tuple[int, int], int]:
    """Format, size and running time (ms) of a GIF: equal painted frames may be merged, the timing is kept."""
    fmt, size, durations = gif_frames(data)
    return fmt, size, sum(durations)


def methods(bot) -> list[tuple[str, str]]:
    return [(job.method, job.kind) for job in bot.service.history]


def stylize_options(fake) -> dict[str, dict]:
    command = next(c for c in fake.of("sync")[0]["commands"] if c["name"] == "stylize")
    return {o["name"]: o for o in command["options"]}


# --------------------------------------------------------------------------------------------- options
def test_quality_words_and_what_each_server_can_run():
    assert parse_text("best size=64").options == {"quality": "best", "size": "64"}
    assert parse_text("quality=instant colors").options == {"quality": "instant", "preserve_colors": "yes"}
    both = CommonConfig()  # the dataclass' defaults: both methods on, no start-up probe
    assert build_spec(both, custom=True).method == "arbitrary"
    assert build_spec(both, custom=True, strength="0.5").strength == 0.5  # the one-pass network has a strength
    best = build_spec(both, custom=True, quality="Best", strength="0.5")
    assert best.method == "gatys" and best.strength is None  # ... Gatys has none
    with pytest.raises(BadOptions, match="`quality` must be instant or best") as info:
        build_spec(both, custom=True, quality="ultra")
    assert info.value.field == "quality"
    with pytest.raises(BadOptions, match="strength"):  # the bounds are ArbitraryOptions'
        build_spec(both, custom=True, strength="1.5")

    no_gatys = replace(both, gatys_enabled=False)
    assert build_spec(no_gatys, custom=True).method == "arbitrary"
    with pytest.raises(BadOptions, match=r"Best quality .* is turned off"):
        build_spec(no_gatys, custom=True, quality="best")
    no_network = replace(both, arbitrary_enabled=False)  # the network did not load: Gatys in its place
    assert build_spec(no_network, custom=True).method == build_spec(no_network, custom=True, quality="instant").method
    assert build_spec(no_network, custom=True).method == "gatys"
    neither = replace(no_network, gatys_enabled=False)
    with pytest.raises(BadOptions) as info:
        build_spec(neither, custom=True)
    assert str(info.value) == UNAVAILABLE
    assert build_spec(neither, style="tiny").method == "fast"  # installed styles are not affected

    instant = JobSpec(None, "your style image", 0.6, method="arbitrary")
    other = reroll(instant, random.Random(1))  # deterministic, so a re-roll is another installed style
    assert other.method == "fast" and other.style in {s.name for s in installed_styles()} and other.strength == 0.6


def test_start_up_asks_whether_the_network_loads(monkeypatch, tmp_path, caplog):
    assert CommonConfig.from_env({"NST_BOT_ARBITRARY": "false"}).arbitrary_enabled is False
    missing = tmp_path / "private-server-folder" / "net.safetensors"
    monkeypatch.setenv("NST_ARBITRARY_WEIGHTS", str(missing))
    cfg = CommonConfig.from_env({})
    assert cfg.arbitrary_enabled is False and cfg.gatys_enabled and cfg.custom_enabled
    assert "instant custom paintings are off" in caplog.text  # one line for the admin, at start


# --------------------------------------------------------------------------------------------- Discord
def test_discord_style_image_is_painted_in_one_pass_and_the_strength_buttons_work(monkeypatch, network):
    engine = RecordingStylize()

    async def scenario(bot, fake):
        assert {"style_image", "quality"} <= set(stylize_options(fake))
        payload = slash(fake, size=64, strength=0.6)
        painting = add_painting(fake, payload)
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload)
        assert done["files"], done["payload"]
        assert methods(bot) == [("arbitrary", "picture")]
        caption = done["payload"]["content"]
        assert caption.startswith("**custom style** (instant)") and "strength 0.6" in caption, caption
        first = pixels(decode(done["files"][0][2]))
        assert np.abs(first - painted(png_bytes(), painting, size=64, strength=0.6)).max() <= 1
        result = done["message"]
        assert set(buttons(result)) == {f"nst:again:{a}" for a in ("style", "reroll", "stronger", "weaker")}
        assert not any(b.get("disabled") for b in buttons(result).values())

        # Someone else asks for it stronger: the same picture and painting, kept, at strength 0.8.
        press = click("nst:again:stronger", result, user_id=8002)
        bot._connection.parse_interaction_create(press)
        stronger = await final_edit(fake, press)
        assert "(instant)" in stronger["payload"]["content"] and "strength 0.8" in stronger["payload"]["content"]
        want = painted(png_bytes(), painting, size=64, strength=0.8)
        assert np.abs(pixels(decode(stronger["files"][0][2])) - want).max() <= 1
        assert [(c["method"], c["strength"], len(c["style_images"])) for c in engine.calls] == [
            ("arbitrary", 0.6, 1),
            ("arbitrary", 0.8, 1),
        ]
        assert len(fake.of("download")) == 2 and methods(bot)[-1] == ("arbitrary", "picture")

        # The queue's per-user rules hold for the new method: the first requester is in their cooldown.
        again = slash(fake, size=64)
        add_painting(fake, again, att_id=9003)
        bot._connection.parse_interaction_create(again)
        said = await fake.wait_for("callback", lambda c: c["token"] == again["token"])
        assert said["type"] == 4 and said["data"]["flags"] & 64 and "Please wait" in said["data"]["content"]
        assert len(methods(bot)) == 2

    run_discord(monkeypatch, scenario, stylize=engine, NST_BOT_USER_COOLDOWN="600")


def test_discord_gif_with_a_painting_answers_with_a_painted_gif(monkeypatch, tmp_path, network):
    async def scenario(bot, fake):
        gif = gif_bytes()
        payload = slash(fake, url=fake.media.add("dance.gif", gif, "image/gif"), content_type="image/gif")
        painting = add_painting(fake, payload)
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload)
        assert len(done["files"]) == 1, done["payload"]
        _, filename, data = done["files"][0]
        assert filename == "stylized-custom.gif" and animation(data) == ("GIF", (48, 32), sum(DURATIONS))
        assert "(instant)" in done["payload"]["content"] and "GIF, 4 frames" in done["payload"]["content"]
        assert methods(bot) == [("arbitrary", "clip")]
        want = tmp_path / "want.gif"
        nst_core.stylize_video(gif, want, style_images=[nst_core.load_image(painting)], device="cpu")
        with Image.open(io.BytesIO(data)) as got, Image.open(want) as expected:
            assert np.abs(pixels(got) - pixels(expected)).max() <= 2  # painted like the painting, frame 1
            assert np.abs(pixels(got) - pixels(Image.open(io.BytesIO(gif)))).mean() > 2  # ... not the GIF as sent

    run_discord(monkeypatch, scenario)


def test_discord_without_the_network_paints_with_gatys(monkeypatch, tmp_path, squeezenet_path):
    monkeypatch.setenv("NST_ARBITRARY_WEIGHTS", str(tmp_path / "missing.safetensors"))
    monkeypatch.setenv("NST_SQUEEZENET_WEIGHTS", str(squeezenet_path))

    async def scenario(bot, fake):
        options = stylize_options(fake)
        assert "style_image" in options and "quality" not in options  # one method left: nothing to choose
        assert "slower" in options["style_image"]["description"]
        payload = slash(fake, size=64)
        add_painting(fake, payload)
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload, timeout=240)
        assert done["files"], done["payload"]
        assert "(best quality)" in done["payload"]["content"] and methods(bot) == [("gatys", "picture")]

    run_discord(monkeypatch, scenario, NST_BOT_GATYS_LOSS_NET="squeezenet", NST_BOT_GATYS_STEPS="4")


def test_discord_without_the_network_or_gatys_offers_no_style_image(monkeypatch, tmp_path):
    monkeypatch.setenv("NST_ARBITRARY_WEIGHTS", str(tmp_path / "missing.safetensors"))

    async def scenario(bot, fake):
        options = stylize_options(fake)
        assert "style_image" not in options and "quality" not in options and "image" in options
        payload = slash(fake, style="tiny", size=64)  # installed styles still work
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload)
        assert done["files"] and methods(bot) == [("fast", "picture")]

    run_discord(monkeypatch, scenario, NST_BOT_GATYS="false")


# ----------------------------------------------------------------------------------------------- Slack
def mention(photo: dict, painting: dict, text: str = "size=64", user: str = "U0ALICE") -> dict:
    return {"type": "app_mention", "user": user, "channel": CHANNEL, "ts": photo["ts"],
            "text": f"<@{SLACK_BOT_USER}> {text}", "files": photo["files"] + painting["files"]}  # fmt: skip


def test_slack_mention_with_two_pictures_is_painted_in_one_pass(network):
    engine = RecordingStylize()

    async def scenario(bot, fake, slack):
        photo = image_message(fake, "F0PHOTO", ts="1690000003.000100")
        painting = image_message(fake, "F0PAINT", ts="1690000003.000100", w=64, h=64)
        await slack.event(mention(photo, painting))
        params, img = await uploaded(fake)
        assert "*your style image* (instant)" in params["initial_comment"] and params["thread_ts"] == photo["ts"]
        assert methods(bot) == [("arbitrary", "picture")]
        first = pixels(img)
        assert np.abs(first - painted(png_bytes(), png_bytes(64, 64), size=64)).max() <= 1

        under = await fake.wait_for("chat.postMessage", lambda c: bool(c["params"].get("blocks")))
        assert {"nst_again_reroll", "nst_again_weaker"} <= set(elements(under))
        assert "nst_again_stronger" not in elements(under)  # already the full style
        await slack.interactive(press(fake, under, "nst_again_weaker", user="U0BOB"))
        params, weaker = await uploaded(fake, lambda c: "U0BOB" in c["params"]["initial_comment"])
        want = painted(png_bytes(), png_bytes(64, 64), size=64, strength=0.8)
        assert np.abs(pixels(weaker) - want).max() <= 1
        assert [(c["method"], c.get("strength")) for c in engine.calls] == [("arbitrary", None), ("arbitrary", 0.8)]
        assert len(fake.of("download")) == 2 and methods(bot)[-1] == ("arbitrary", "picture")

        # The same person again, within the cooldown: told privately, nothing run.
        await slack.event(mention(image_message(fake, "F0PHOTO2", ts="1690000004.000100"), painting))
        said = await fake.wait_for("chat.postEphemeral", lambda c: "Please wait" in c["params"]["text"])
        assert said["params"]["user"] == "U0ALICE" and len(methods(bot)) == 2

    run_slack(scenario, stylize=engine, NST_BOT_USER_COOLDOWN="600")


def test_slack_gif_with_a_painting_gives_a_gif_and_best_is_for_still_pictures(network):
    async def scenario(bot, fake, slack):
        clip = fake.add_file("F0GIF", "dance.gif", gif_bytes(), "image/gif", channels=(CHANNEL,))
        gif = {"type": "message", "ts": "1690000005.000100", "files": [clip]}
        painting = image_message(fake, "F0PAINT", w=64, h=64)
        await slack.event(mention(gif, painting, text=""))
        params, _ = await uploaded(fake)
        file = json.loads(params["files"])[0]
        assert animation(fake.uploads[file["id"]]) == ("GIF", (48, 32), sum(DURATIONS))
        assert "your GIF" in params["initial_comment"] and "GIF, 4 frames" in file["title"]
        assert "(instant)" in params["initial_comment"] and methods(bot) == [("arbitrary", "clip")]

        downloads = len(fake.of("download"))
        await slack.event(mention({**gif, "ts": "1690000006.000100"}, painting, text="best", user="U0BOB"))
        said = await fake.wait_for("chat.postEphemeral", lambda c: "still pictures only" in c["params"]["text"])
        assert said["params"]["text"] == NO_BEST
        assert len(fake.of("download")) == downloads + 1  # the GIF, never the painting
        assert len(methods(bot)) == 1

    run_slack(scenario)


def test_slack_without_the_network_or_gatys_says_so_plainly(monkeypatch, tmp_path):
    missing = tmp_path / "private-server-folder" / "wct_student.safetensors"
    monkeypatch.setenv("NST_ARBITRARY_WEIGHTS", str(missing))

    async def scenario(bot, fake, slack):
        photo = image_message(fake, "F0PHOTO", ts="1690000007.000100")
        await slack.event(mention(photo, image_message(fake, "F0PAINT", w=64, h=64)))
        said = await fake.wait_for("chat.postEphemeral")
        text = said["params"]["text"]
        assert text == UNAVAILABLE, text
        for secret in (str(tmp_path), "private-server-folder", "safetensors", "NST_ARBITRARY_WEIGHTS", "/"):
            assert secret not in text
        assert not fake.of("download") and not bot.service.history  # refused before any work

        status, body = await slack.command("help")  # the help offers no painting either
        assert status == 200 and "Usage" in body and "painting" not in body

    run_slack(scenario, NST_BOT_GATYS="false")
