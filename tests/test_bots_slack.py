"""The Slack app end to end: Bolt's real aiohttp HTTP adapter on 127.0.0.1 receives correctly (and wrongly) signed
slash commands, shortcuts, modal submissions and events; a local fake of Slack's Web API serves the files and
receives the files_upload_v2 upload. Stylisation is the real nst_core with tiny random-init styles."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from typing import Any

import pytest
from support import aio
from support.bots import (
    SLACK_BOT_USER,
    SLACK_TEAM,
    FakeSlack,
    GatedStylize,
    png_bytes,
    tiny_styles,  # noqa: F401 - pytest fixture
    weights_dir,  # noqa: F401 - pytest fixture
)
from support.slack_bot import BOT_TOKEN, CHANNEL, SECRET, image_message, run, uploaded

from bots.config import CommonConfig, SlackConfig
from bots.messages import FetchError
from bots.slack import build_app
from bots.slack.app import MENTION_GRACE
from bots.slack.media import file_from_url

pytestmark = pytest.mark.usefixtures("tiny_styles")  # the tiny random-init styles of support.bots


def test_slash_command_stylizes_the_latest_image(caplog):
    caplog.set_level(logging.DEBUG)
    gate = GatedStylize()

    async def scenario(bot, fake, slack):
        fake.history[CHANNEL] = [
            {"type": "message", "user": "U0ALICE", "ts": "1690000000.000300", "text": "no picture here"},
            image_message(fake, "F0BOB", user="U0BOB", ts="1690000000.000200"),
            image_message(fake, "F0ALICE", ts="1690000000.000100", w=120, h=80),
        ]
        status, body = await slack.command("Tiny B size=64 colors=yes")  # the display name, as people type it
        assert status == 200 and body == ""  # acknowledged while the job is still held: work continues after
        assert not fake.of("files.getUploadURLExternal")
        gate.release()
        params, img = await uploaded(fake)
        assert params["channel_id"] == CHANNEL and "thread_ts" not in params
        assert "<@U0ALICE>" in params["initial_comment"] and "Tiny B" in params["initial_comment"]
        assert img.size == (64, 43) and img.format == "PNG"
        downloads = fake.of("download")
        assert [d["path"] for d in downloads] == ["/files-pri/T0TEST-F0ALICE/f0alice.png"]
        assert downloads[0]["auth"] == f"Bearer {BOT_TOKEN}"  # Slack files need the bot token
        posted = fake.of("chat.postMessage")
        assert posted and posted[0]["params"]["text"].startswith("Stylising")
        mentions = [m["params"]["text"] for m in posted] + [params["initial_comment"]]
        assert sum("<@U0ALICE>" in t for t in mentions) == 1, mentions  # one notification per job
        await fake.wait_for("chat.delete")  # the status line is tidied away

    run(scenario, stylize=gate)
    assert BOT_TOKEN not in caplog.text and "do-not-log-me" not in caplog.text
    assert SECRET not in caplog.text


def test_request_signatures_are_verified():
    async def scenario(bot, fake, slack):
        fake.history[CHANNEL] = [image_message(fake, "F0A")]
        status, _ = await slack.command("tiny", secret="not-the-signing-secret")
        assert status == 401
        status, _ = await slack.command("tiny", ts=int(time.time()) - 3600)  # replayed
        assert status == 401
        status, _ = await slack.event({"type": "app_mention", "user": "U0A", "channel": CHANNEL, "text": "hi",
                                          "ts": "1.2"}, secret="wrong")  # fmt: skip
        assert status == 401
        # A correctly signed request afterwards, in another channel, as a sentinel: once its answer is in, any
        # work the refused requests had started would have shown up too (no fixed sleep before a negative check).
        status, _ = await slack.command("tiny", channel="C0EMPTY")
        assert status == 200
        await fake.wait_for("respond", timeout=30)
        history = fake.of("conversations.history")
        assert [h["params"].get("channel") for h in history] == ["C0EMPTY"], history
        assert not fake.of("chat.postEphemeral")

    run(scenario)


def test_malformed_requests_are_client_errors_without_a_traceback(caplog):
    """A non-numeric timestamp header and signed bodies that are not what Slack sends: 4xx, one log line at most."""

    async def scenario(bot, fake, slack):
        for stamp in ("soon", "\u00b2"):  # "²" passes str.isdigit() yet int() refuses it
            headers = {
                "Content-Type": "application/json",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": "v0",
            }
            async with slack.http.post(slack.url, data=b"{}", headers=headers) as resp:
                assert 400 <= resp.status < 500, (stamp, resp.status)
        for body, kind in [
            ("{not json", "application/json"),
            ("[1, 2]", "application/json"),
            ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
            ("payload=%5B%5D", "application/x-www-form-urlencoded"),
        ]:
            status, _ = await slack.post(body, kind)  # correctly signed
            assert 400 <= status < 500, (body, status)
        status, _ = await slack.command("help")  # and it keeps serving
        assert status == 200

    caplog.set_level(logging.INFO)
    run(scenario)
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info], caplog.text


def test_message_shortcut_opens_a_modal_then_uploads_in_thread():
    gate = GatedStylize()

    async def scenario(bot, fake, slack):
        message = image_message(fake, "F0SHORT", ts="1690000000.000500", w=80, h=120)
        status, _ = await slack.interactive(
            {
                "type": "message_action",
                "callback_id": "stylize_image",
                "trigger_id": "trig.1",
                "response_url": slack.response_url(),
                "user": {"id": "U0ALICE", "username": "alice", "team_id": SLACK_TEAM},
                "channel": {"id": CHANNEL, "name": "photos"},
                "message_ts": message["ts"],
                "message": message,
            }
        )
        assert status == 200
        opened = await fake.wait_for("views.open")
        view = (
            json.loads(opened["params"]["view"])
            if isinstance(opened["params"]["view"], str)
            else (opened["params"]["view"])
        )
        assert view["callback_id"] == "nst_stylize_modal"
        select = view["blocks"][0]["element"]
        assert {"tiny", "tiny_b"} <= {o["value"] for o in select["options"]}

        def submission(values: dict[str, Any], user: str = "U0ALICE") -> dict[str, Any]:
            return {
                "type": "view_submission",
                "trigger_id": "trig.2",
                "user": {"id": user, "username": user.lower(), "team_id": SLACK_TEAM},
                "view": {**view, "id": "V1", "state": {"values": values}},
            }

        bad = {"style": {"value": {"type": "static_select", "selected_option": {"value": "tiny"}}},
               "size": {"value": {"type": "number_input", "value": "5"}}}  # fmt: skip
        status, body = await slack.interactive(submission(bad))
        assert status == 200 and json.loads(body)["response_action"] == "errors"
        assert "size" in json.loads(body)["errors"]

        good = {
            "style": {"value": {"type": "static_select", "selected_option": {"value": "tiny"}}},
            "strength": {"value": {"type": "number_input", "value": "0.5"}},
            "size": {"value": {"type": "number_input", "value": None}},
            "colors": {"value": {"type": "checkboxes", "selected_options": []}},
        }
        status, body = await slack.interactive(submission(good))
        assert status == 200 and body == "" and not fake.of("files.getUploadURLExternal")  # acked, job held
        gate.release()
        params, img = await uploaded(fake)
        assert params["channel_id"] == CHANNEL and params["thread_ts"] == message["ts"]
        assert img.size == (80, 120)  # no size given: the picture is not enlarged

        # The picture was deleted before the form was sent: a private answer through the shortcut's response_url.
        meta = json.loads(view["private_metadata"])
        view["private_metadata"] = json.dumps({**meta, "file": "F0DELETED"})
        status, body = await slack.interactive(submission(good, user="U0BOB"))  # Alice may still be busy
        assert status == 200 and body == ""
        reply = await fake.wait_for("respond", lambda c: "no longer exists" in c["body"]["text"])
        assert reply["path"] == "/response/1" and reply["body"]["response_type"] == "ephemeral"

    run(scenario, stylize=gate)


def test_mention_with_an_attached_image():
    gate = GatedStylize()

    async def scenario(bot, fake, slack):
        msg = image_message(fake, "F0MENTION", ts="1690000000.000700")
        event = {"type": "app_mention", "user": "U0ALICE", "channel": CHANNEL, "ts": msg["ts"],
                 "text": f"<@{SLACK_BOT_USER}> tiny size=64", "files": msg["files"], "event_ts": msg["ts"]}  # fmt: skip
        status, _ = await slack.event(event)
        assert status == 200 and not fake.of("files.getUploadURLExternal")  # acked while the job is held
        gate.release()
        params, img = await uploaded(fake)
        assert params["thread_ts"] == msg["ts"] and img.size == (64, 43)

    run(scenario, stylize=gate)


def test_a_picture_shared_with_a_mention_as_a_message_event_is_handled_once():
    """Slack may deliver the files of a post that mentions the app in a `message` event (subtype file_share) and
    the `app_mention` for the same post without them: one job, no "attach an image" complaint."""

    async def scenario(bot, fake, slack):
        msg = image_message(fake, "F0SHARE", ts="1690000000.000900")
        text = f"<@{SLACK_BOT_USER}> tiny size=64"
        share = {**msg, "subtype": "file_share", "channel": CHANNEL, "text": text, "event_ts": msg["ts"]}
        mention = {"type": "app_mention", "user": "U0ALICE", "channel": CHANNEL, "ts": msg["ts"], "text": text,
                   "event_ts": msg["ts"]}  # fmt: skip
        assert (await slack.event(mention))[0] == 200
        assert (await slack.event(share))[0] == 200
        params, img = await uploaded(fake)
        assert params["thread_ts"] == msg["ts"] and img.size == (64, 43)
        chatter = {**msg, "ts": "1690000000.000950", "text": "no mention here", "event_ts": "1690000000.000950"}
        assert (await slack.event(chatter))[0] == 200
        await asyncio.sleep(MENTION_GRACE + 0.5)  # past the mention's grace period: nothing more happens
        assert len(fake.of("files.completeUploadExternal")) == 1
        assert not fake.of("chat.postEphemeral"), fake.of("chat.postEphemeral")

    run(scenario)


def test_bad_input_gets_messages_and_the_app_keeps_serving():
    async def scenario(bot, fake, slack):
        async def ack_text(text: str, **kw) -> str:
            status, body = await slack.command(text, **kw)
            assert status == 200
            return json.loads(body)["text"]

        async def later_reply(text: str, **kw) -> str:
            before = len(fake.of("respond"))
            status, body = await slack.command(text, **kw)
            assert status == 200 and body == "", body
            for _ in range(1500):
                replies = fake.of("respond")
                if len(replies) > before:
                    return replies[-1]["body"]["text"]
                await asyncio.sleep(0.02)
            raise AssertionError("no reply via response_url")

        users = (f"U0USER{i}" for i in itertools.count())
        assert "Usage" in await ack_text("help")
        assert "don't know the style `nope`" in await ack_text("nope")
        assert "strength" in await ack_text("tiny strength=9")
        assert "Unknown option" in await ack_text("tiny zoom=2")
        assert "size" in await ack_text("tiny size=huge")

        fake.history[CHANNEL] = [{"type": "message", "user": "U0OTHER", "ts": "1.1", "text": "hi"}]
        assert "couldn't find an image" in await later_reply("tiny", user=next(users))
        assert "Invite me" in await later_reply("tiny", user=next(users), channel="C0PRIVATE")
        assert "hosted by the chat platform" in await later_reply("tiny https://example.com/cat.png", user=next(users))
        fake.add_file("F0TEXT", "notes.txt", b"hello", "text/plain", channels=(CHANNEL,))
        link = f"{fake.base}/files-pri/{SLACK_TEAM}-F0TEXT/notes.txt"
        assert "not an image" in await later_reply(f"tiny <{link}>", user=next(users))
        huge = fake.add_file("F0HUGE", "huge.png", png_bytes(), channels=(CHANNEL,))
        huge["size"] = 50 * 1024 * 1024
        assert "the limit is 2 MB" in await later_reply(f"tiny {fake.base}/files/U0X/F0HUGE/huge.png", user=next(users))
        fake.add_file("F0FAKE", "fake.png", b"not really a png", "image/png", channels=(CHANNEL,))
        reply = await later_reply(f"tiny {fake.base}/files-pri/{SLACK_TEAM}-F0FAKE/fake.png", user=next(users))
        assert reply and "logged" not in reply  # nst_core's ImageError explains the problem
        assert "no longer exists" in await later_reply(f"tiny {fake.base}/files/U0X/F0GONE/x.png", user=next(users))
        fake.add_file("F0DOT", "dot.png", png_bytes(1, 1), channels=(CHANNEL,))
        reply = await later_reply(f"tiny {fake.base}/files-pri/{SLACK_TEAM}-F0DOT/dot.png", user=next(users))
        assert "Your picture is only 1x1 pixels, too small to paint" in reply, reply

        # Mentions: wrong or missing attachment get a private (ephemeral) answer.
        text_file = fake.files["F0TEXT"]
        await slack.event({"type": "app_mention", "user": "U0M", "channel": CHANNEL, "ts": "2.1",
                           "text": f"<@{SLACK_BOT_USER}> tiny", "files": [text_file]})  # fmt: skip
        await slack.event({"type": "app_mention", "user": "U0N", "channel": CHANNEL, "ts": "2.2",
                           "text": f"<@{SLACK_BOT_USER}> tiny"})  # fmt: skip
        eph = [
            await fake.wait_for("chat.postEphemeral", lambda c, u=u: c["params"]["user"] == u) for u in ("U0M", "U0N")
        ]
        assert "not an image" in eph[0]["params"]["text"]
        assert "Attach an image" in eph[1]["params"]["text"]

        # Concurrent spam from one user: one job, four "wait" answers; another user is still served.
        fake.history[CHANNEL] = [image_message(fake, "F0SPAM", user="U0SPAM"), image_message(fake, "F0OK", user="U0OK")]
        results = await asyncio.gather(*(slack.command("tiny size=64", user="U0SPAM") for _ in range(5)))
        bodies = sorted(body for status, body in results if status == 200)
        assert len(bodies) == 5 and bodies[0] == ""
        assert all("already have an image" in json.loads(b)["text"] for b in bodies[1:])
        status, body = await slack.command("tiny size=64", user="U0OK")
        assert status == 200 and body == ""
        _, img1 = await uploaded(fake, lambda c: "U0SPAM" in c["params"]["initial_comment"])
        _, img2 = await uploaded(fake, lambda c: "U0OK" in c["params"]["initial_comment"])
        assert img1.size == img2.size == (64, 43)
        assert len(fake.of("files.completeUploadExternal")) == 2

    run(scenario)


def test_file_links_only_for_files_the_user_may_see_here():
    """The bot's token reads files in channels the user is not in: a link must not leak them into this one."""

    async def scenario(bot, fake, slack):
        async def later_reply(text: str, user: str) -> str:
            before = len(fake.of("respond"))
            status, body = await slack.command(text, user=user)
            assert status == 200 and body == "", body
            await fake.wait_for("respond", lambda _c: len(fake.of("respond")) > before)
            return fake.of("respond")[before]["body"]["text"]

        fake.add_file("F0SECRET", "secret.png", png_bytes(), user="U0CAROL", groups=("G0PRIVATE",))
        link = f"{fake.base}/files-pri/{SLACK_TEAM}-F0SECRET/secret.png"
        assert "shared in this channel" in await later_reply(f"tiny size=64 <{link}>", user="U0MALLORY")
        assert "doesn't look like a Slack file link" in await later_reply(
            f"tiny {fake.base}/media/secret.png", user="U0MALLORY"
        )
        assert not fake.of("download") and not fake.of("files.getUploadURLExternal")  # nothing fetched or posted
        # The same file is fine for its uploader, and for anyone once it is shared in this channel.
        status, _ = await slack.command(f"tiny size=64 <{link}>", user="U0CAROL")
        _, img = await uploaded(fake, lambda c: "U0CAROL" in c["params"]["initial_comment"])
        assert status == 200 and img.size == (64, 43)
        fake.files["F0SECRET"]["channels"] = [CHANNEL]
        await slack.command(f"tiny size=64 <{link}>", user="U0MALLORY")
        await uploaded(fake, lambda c: "U0MALLORY" in c["params"]["initial_comment"])

    run(scenario)


def test_plain_http_file_hosts_only_on_loopback():
    async def scenario(bot, fake, slack):
        with pytest.raises(FetchError, match="https"):
            await file_from_url(bot, "http://cdn.example.net/files-pri/T1-F1/x.png", channel=CHANNEL, user="U0A")
        assert not fake.of("files.info")

    run(scenario, NST_BOT_ALLOWED_MEDIA_HOSTS="cdn.example.net")


def test_socket_mode_receives_a_slash_command_over_the_websocket(caplog):
    """`python -m bots.slack` with SLACK_APP_TOKEN: Bolt's own Socket Mode handler opens the WebSocket that
    apps.connections.open hands out, acknowledges the envelope on it, and the job runs as in HTTP mode."""
    from bots.slack.__main__ import serve_socket_mode

    caplog.set_level(logging.DEBUG)
    app_token = "xapp-1-A0NST-do-not-log-me-either"

    async def main() -> None:
        fake = await FakeSlack(BOT_TOKEN, app_token=app_token).start()
        common = CommonConfig.from_env(
            {"NST_BOT_USER_COOLDOWN": "0", "NST_BOT_DEVICE": "cpu", "NST_BOT_DEFAULT_STYLE": "tiny"}
        )
        config = SlackConfig.from_env(
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": app_token, "SLACK_API_URL": f"{fake.base}/api/"}
        )
        assert config.socket_mode
        bot = build_app(config, common)
        serving = asyncio.create_task(serve_socket_mode(bot, app_token))
        try:
            ws = await asyncio.wait_for(fake.sockets.get(), 30)
            assert fake.of("apps.connections.open")[0]["auth"] == f"Bearer {app_token}"
            fake.history[CHANNEL] = [image_message(fake, "F0SOCK", w=96, h=64)]

            async def send(envelope_id: str, text: str) -> dict[str, Any]:
                command = {
                    "token": "legacy", "team_id": SLACK_TEAM, "team_domain": "test", "channel_id": CHANNEL,
                    "channel_name": "photos", "user_id": "U0ALICE", "user_name": "alice", "command": "/stylize",
                    "text": text, "api_app_id": "A0NST", "is_enterprise_install": "false",
                    "response_url": f"{fake.base}/response/{envelope_id}", "trigger_id": f"trig.{envelope_id}",
                }  # fmt: skip
                await ws.send_json({"envelope_id": envelope_id, "type": "slash_commands",
                                    "accepts_response_payload": True, "payload": command})  # fmt: skip
                return await fake.wait_for("socket_ack", lambda c: c["envelope_id"] == envelope_id, timeout=30)

            bad = await send("env-0", "tiny size=60")  # bad input: the reason comes back in the ack itself
            assert "`size` must be between 64" in bad["payload"]["text"]
            assert bad["payload"]["response_type"] == "ephemeral"
            ok = await send("env-1", "tiny size=64")
            assert not ok["payload"]  # an empty ack: the picture follows as an upload
            params, img = await uploaded(fake)
            assert params["channel_id"] == CHANNEL and "<@U0ALICE>" in params["initial_comment"]
            assert img.size == (64, 43) and img.format == "PNG"
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            await fake.stop()

    aio.run(main())
    assert app_token not in caplog.text and BOT_TOKEN not in caplog.text
