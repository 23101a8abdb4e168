"""The Slack app under test: `run` starts the fake Slack and the app's HTTP server on 127.0.0.1 and runs a scenario
with a `Slack` that signs and sends what Slack would; `image_message` and `uploaded` put a picture in and read the
result back."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bots.config import CommonConfig, SlackConfig
from bots.jobs import StylizeService
from bots.slack import build_app

from . import aio
from .bots import SLACK_BOT_USER, SLACK_TEAM, FakeSlack, decode, png_bytes, slack_signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-1234-5678-do-not-log-me"
CHANNEL = "C0PHOTOS"


class Slack:
    """Plays Slack's side: signs and sends what Slack would send to the app's Request URL."""

    def __init__(self, http: aiohttp.ClientSession, url: str, fake: FakeSlack) -> None:
        self.http, self.url, self.fake = http, url, fake
        self._n = itertools.count(1)

    async def post(self, body: str, content_type: str, *, secret: str = SECRET, ts: int | None = None):
        stamp = str(ts if ts is not None else int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": slack_signature(secret, body, stamp),
        }
        async with self.http.post(self.url, data=body.encode(), headers=headers) as resp:
            return resp.status, await resp.text()

    def response_url(self) -> str:
        return f"{self.fake.base}/response/{next(self._n)}"

    async def command(self, text: str, *, user: str = "U0ALICE", channel: str = CHANNEL, **kw):
        form = {
            "token": "legacy-verification-token",
            "team_id": SLACK_TEAM,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "photos",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/stylize",
            "text": text,
            "api_app_id": "A0NST",
            "is_enterprise_install": "false",
            "response_url": self.response_url(),
            "trigger_id": f"trig.{next(self._n)}",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)

    async def interactive(self, payload: dict[str, Any], **kw):
        payload = {"team": {"id": SLACK_TEAM, "domain": "test"}, "api_app_id": "A0NST", "token": "legacy", **payload}
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kw)

    async def event(self, event: dict[str, Any], **kw):
        body = {
            "token": "legacy",
            "team_id": SLACK_TEAM,
            "api_app_id": "A0NST",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._n):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": SLACK_TEAM, "user_id": SLACK_BOT_USER, "is_bot": True}],
        }
        return await self.post(json.dumps(body), "application/json", **kw)


def run(scenario, *, stylize=None, **env: str) -> None:
    """`stylize` replaces nst_core.stylize in the app's worker pool (e.g. a GatedStylize)."""

    async def main() -> None:
        fake = await FakeSlack(BOT_TOKEN).start()
        common = CommonConfig.from_env(
            {
                "NST_BOT_USER_COOLDOWN": "0",
                "NST_BOT_DEVICE": "cpu",
                "NST_BOT_DEFAULT_STYLE": "tiny",
                "NST_BOT_PROGRESS_INTERVAL": "0.05",
                "NST_BOT_MAX_DOWNLOAD_MB": "2",
                **env,
            }
        )
        config = SlackConfig.from_env(
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": f"{fake.base}/api/"}
        )
        bot = build_app(config, common, service=StylizeService(common, stylize=stylize) if stylize else None)
        runner = web.AppRunner(bot.web_app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with aiohttp.ClientSession() as http:
                await scenario(bot, fake, Slack(http, f"http://127.0.0.1:{port}/slack/events", fake))
        finally:
            if stylize is not None and hasattr(stylize, "release"):
                stylize.release()  # a failed test must not leave a worker thread parked on the gate
            await runner.cleanup()
            await fake.stop()

    aio.run(main())


def image_message(fake: FakeSlack, fid: str, *, user: str = "U0ALICE", ts: str = "1690000000.000100",
                  w: int = 96, h: int = 64, **extra) -> dict[str, Any]:  # fmt: skip
    info = fake.add_file(fid, f"{fid.lower()}.png", png_bytes(w, h), user=user, channels=(CHANNEL,))
    return {"type": "message", "user": user, "ts": ts, "text": "", "files": [info], **extra}


async def uploaded(fake: FakeSlack, pred=lambda c: True, timeout: float = 90) -> tuple[dict, Any]:
    """The completed upload (files.completeUploadExternal) and the uploaded picture."""
    done = await fake.wait_for("files.completeUploadExternal", pred, timeout=timeout)
    fid = json.loads(done["params"]["files"])[0]["id"]
    return done["params"], decode(fake.uploads[fid])


def elements(post: dict[str, Any]) -> dict[str, dict[str, Any]]:
    blocks = post["params"]["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


def press(fake, post: dict[str, Any], action_id: str, *, user: str, value: str | None = None) -> dict[str, Any]:
    """A block_actions payload: a click on a control of the message `post` created."""
    action: dict[str, Any] = {"action_id": action_id, "block_id": "nst_again", "action_ts": "1700000001.0"}
    if value is not None:
        action |= {"type": "static_select", "selected_option": {"value": value}}
    else:
        action |= {"type": "button"}
    ts, thread = post["result"]["ts"], post["params"].get("thread_ts")
    in_thread = {"thread_ts": thread} if thread else {}
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": SLACK_TEAM},
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
        "channel": {"id": CHANNEL, "name": "photos"},
        "message": {"type": "message", "ts": ts, "text": "Same picture again", **in_thread},
        "trigger_id": "trig.click",
        "response_url": f"{fake.base}/response/{user}",
        "actions": [action],
    }
