"""Test support for the bot tests: tiny styles, test pictures, and local fakes of Discord's and Slack's servers.

Only the platforms' *servers* are faked (aiohttp apps on 127.0.0.1); the bots run through discord.py's and
slack_bolt's real parsing, signature checks, HTTP clients and upload code.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import itertools
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import WSMsgType, web
from PIL import Image


# ----------------------------------------------------------------------------------------------- pictures
def picture(w: int = 96, h: int = 64, seed: int = 0) -> Image.Image:
    """A small photo-like picture (gradients + noise) so encoders behave as on real content."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 127 / max(w + h, 1)], -1)
    arr = (arr + rng.normal(0, 12, arr.shape)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def png_bytes(w: int = 96, h: int = 64, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    picture(w, h, seed).save(buf, "PNG")
    return buf.getvalue()


DURATIONS = [80, 120, 160, 200]  # milliseconds per frame of `gif_bytes`: kept in the result


def gif_bytes(w: int = 48, h: int = 32, durations: list[int] = DURATIONS) -> bytes:
    frames = [picture(w, h, seed=i) for i in range(len(durations))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buf.getvalue()


def gif_frames(data: bytes) -> tuple[str, tuple[int, int], list[int]]:
    """Format, size and each frame's duration of an uploaded animation."""
    with Image.open(io.BytesIO(data)) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            durations.append(im.info.get("duration"))
        return im.format, im.size, durations


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def make_styles(out_dir: Path, names: tuple[str, ...] = ("tiny", "tiny_b")) -> None:
    """Random-init, very small TransformerNets saved through the real registry (no bundled weights needed)."""
    import torch

    from nst_core.fast.transformer_net import TransformerConfig, TransformerNet
    from nst_core.styles import save_style

    for i, name in enumerate(names):
        torch.manual_seed(i)
        model = TransformerNet(TransformerConfig((4, 8, 8), 1))
        save_style(model, name, out_dir, {"display_name": name.replace("_", " ").title(), "artist": "Test"})


class GatedStylize:
    """Wraps the real `nst_core.stylize` so it cannot finish before the test calls `release()`: a test can then
    check what the platform saw (the acknowledgement) while the job is provably still running."""

    def __init__(self, timeout: float = 120.0) -> None:
        import nst_core

        self._stylize = nst_core.stylize
        self._gate = threading.Event()
        self.timeout = timeout
        self.calls = 0

    def release(self) -> None:
        self._gate.set()

    def __call__(self, *args: Any, **kwargs: Any) -> Image.Image:
        self.calls += 1
        if not self._gate.wait(self.timeout):
            raise AssertionError("the test never released the stylisation job")
        return self._stylize(*args, **kwargs)


class RecordingStylize:
    """The real `nst_core.stylize`, with the keyword arguments of every call kept (`calls`): what the bot asked
    the engine for (method, strength, size), whatever the result looks like."""

    def __init__(self) -> None:
        import nst_core

        self._stylize = nst_core.stylize
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Image.Image:
        self.calls.append(kwargs)
        return self._stylize(*args, **kwargs)


# ----------------------------------------------------------------------------------------------- servers
class FakeServer:
    """An aiohttp app on 127.0.0.1 with a request log the test can wait on."""

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.calls: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeServer:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    def record(self, kind: str, **data: Any) -> dict[str, Any]:
        entry = {"kind": kind, "t": time.monotonic(), **data}
        self.calls.append(entry)
        return entry

    def of(self, kind: str, pred: Callable[[dict[str, Any]], bool] = lambda c: True) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["kind"] == kind and pred(c)]

    async def wait_for(
        self, kind: str, pred: Callable[[dict[str, Any]], bool] = lambda c: True, timeout: float = 60.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(kind, pred)
            if found:
                return found[0]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {kind!r} call matched within {timeout}s; calls: {self.summary()}")

    def summary(self) -> list[str]:
        return [f"{c['kind']} {c.get('path', '')}" for c in self.calls]


class MediaRoutes:
    """Serves registered files under /media/NAME; also a chunked 'endless' file and a slow one."""

    def __init__(self, server: FakeServer, auth: str | None = None) -> None:
        self.server = server
        self.auth = auth
        self.files: dict[str, tuple[bytes, str]] = {}
        server.app.router.add_get("/media/{name}", self.serve)
        server.app.router.add_get("/files-pri/{team_file}/{name}", self.serve)
        server.app.router.add_get("/stream/endless", self.endless)
        server.app.router.add_get("/stream/slow", self.slow)

    def add(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        self.files[name] = (data, content_type)
        return f"{self.server.base}/media/{name}"

    async def serve(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        self.server.record("download", path=request.path, auth=auth)
        if self.auth is not None and auth != f"Bearer {self.auth}":
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        name = request.match_info["name"]
        if name not in self.files:
            return web.Response(status=404)
        data, ctype = self.files[name]
        return web.Response(body=data, headers={"Content-Type": ctype})

    async def endless(self, request: web.Request) -> web.StreamResponse:
        """No Content-Length, just keeps sending: only a streaming byte cap stops this."""
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        chunk = b"\x89PNG" + b"\0" * (256 * 1024 - 4)
        try:
            for _ in range(4096):  # 1 GiB at most
                await resp.write(chunk)
        except (ConnectionError, RuntimeError):
            pass
        return resp

    async def slow(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "image/png"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            await resp.write(b"\x89PNG")
            await asyncio.sleep(3)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        return resp


# ------------------------------------------------------------------------------------------------ Discord
def jres(obj: Any) -> web.Response:
    """JSON with exactly `Content-Type: application/json`, as Discord sends (discord.py compares it literally)."""
    return web.Response(body=json.dumps(obj).encode(), headers={"Content-Type": "application/json"})


APP_ID = 111111111111111111
BOT_ID = 222222222222222222
GUILD_ID = 333333333333333333
CHANNEL_ID = 444444444444444444
COMMAND_ID = 555555555555555555


def discord_user(uid: int, name: str = "alice") -> dict[str, Any]:
    return {"id": str(uid), "username": name, "discriminator": "0", "avatar": None, "global_name": name.title()}


class FakeDiscord(FakeServer):
    """The slice of Discord's REST API and CDN that a slash-command bot touches."""

    def __init__(self) -> None:
        super().__init__()
        self.media = MediaRoutes(self)
        self._ids = itertools.count(900000000000000000)
        self.thinking: set[str] = set()  # tokens whose reply is still the deferred "thinking…" placeholder
        r = self.app.router
        r.add_get("/api/v10/users/@me", self.me)
        r.add_get("/api/v10/oauth2/applications/@me", self.application)
        r.add_put("/api/v10/applications/{app}/guilds/{guild}/commands", self.bulk_commands)
        r.add_put("/api/v10/applications/{app}/commands", self.bulk_commands)
        r.add_post("/api/v10/interactions/{iid}/{token}/callback", self.callback)
        r.add_patch("/api/v10/webhooks/{app}/{token}/messages/@original", self.edit_original)
        r.add_post("/api/v10/webhooks/{app}/{token}", self.followup)
        r.add_delete("/api/v10/webhooks/{app}/{token}/messages/@original", self.delete_original)

    async def _body(self, request: web.Request) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        """JSON body, or multipart (payload_json + files[n]) as discord.py sends attachments."""
        if request.content_type.startswith("multipart/"):
            payload: dict[str, Any] = {}
            files = []
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()
                if part.name == "payload_json":
                    payload = json.loads(data)
                else:
                    files.append((part.name or "", part.filename or "", bytes(data)))
            return payload, files
        text = await request.text()
        return (json.loads(text) if text else {}), []

    async def me(self, request: web.Request) -> web.Response:
        self.record("login", path=request.path, auth=request.headers.get("Authorization"))
        return jres({**discord_user(BOT_ID, "nstbot"), "bot": True, "flags": 0, "mfa_enabled": False})

    async def application(self, request: web.Request) -> web.Response:
        return jres(
            {
                "id": str(APP_ID),
                "name": "nst",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": discord_user(1, "owner"),
                "verify_key": "00",
                "flags": 0,
                "team": None,
            }
        )

    async def bulk_commands(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.record("sync", path=request.path, commands=body, guild=request.match_info.get("guild"))
        out = [
            {"description": "", **c, "id": str(COMMAND_ID + i), "application_id": str(APP_ID), "version": "1"}
            for i, c in enumerate(body)
        ]
        if request.match_info.get("guild"):
            for c in out:
                c["guild_id"] = request.match_info["guild"]
        return jres(out)

    def message(self, payload: dict[str, Any], files: list) -> dict[str, Any]:
        attachments = [
            {
                "id": str(next(self._ids)),
                "filename": fn,
                "size": len(data),
                "url": f"{self.base}/media/{fn}",
                "proxy_url": f"{self.base}/media/{fn}",
            }
            for _, fn, data in files
        ]
        return discord_message(
            next(self._ids),
            {**discord_user(BOT_ID, "nstbot"), "bot": True},
            payload.get("content") or "",
            attachments,
            type=20,
            components=payload.get("components") or [],
            flags=payload.get("flags") or 0,
        )

    async def callback(self, request: web.Request) -> web.Response:
        payload, files = await self._body(request)
        self.record(
            "callback",
            path=request.path,
            iid=request.match_info["iid"],
            token=request.match_info["token"],
            type=payload.get("type"),
            data=payload.get("data") or {},
            files=files,
        )
        msg = self.message(payload.get("data") or {}, files)
        self.calls[-1]["message"] = msg
        kind = payload.get("type")
        if kind == 5:
            self.thinking.add(request.match_info["token"])
        flags = (payload.get("data") or {}).get("flags") or 0
        return jres(
            {
                "interaction": {
                    "id": request.match_info["iid"],
                    "type": 2,
                    "response_message_id": msg["id"],
                    "response_message_loading": kind == 5,
                    "response_message_ephemeral": bool(flags & 64),
                },
                "resource": {"type": kind, "message": msg},
            }
        )

    async def edit_original(self, request: web.Request) -> web.Response:
        payload, files = await self._body(request)
        self.thinking.discard(request.match_info["token"])
        entry = self.record("edit", path=request.path, token=request.match_info["token"], payload=payload, files=files)
        entry["message"] = self.message(payload, files)
        return jres(entry["message"])

    async def followup(self, request: web.Request) -> web.Response:
        """As Discord does: the first follow-up after a deferral replaces the "thinking…" placeholder (public like
        it, whatever the ephemeral flag says); later ones are new messages."""
        payload, files = await self._body(request)
        token = request.match_info["token"]
        replaced = token in self.thinking
        self.thinking.discard(token)
        self.record("followup", path=request.path, token=token, payload=payload, files=files,
                    replaced_placeholder=replaced)  # fmt: skip
        return jres(self.message(payload, files))

    async def delete_original(self, request: web.Request) -> web.Response:
        self.record("delete", path=request.path, token=request.match_info["token"])
        return web.Response(status=204)


def attachment(
    att_id: int,
    url: str,
    *,
    filename: str = "photo.png",
    size: int = 1000,
    content_type: str | None = "image/png",
    width: int = 96,
    height: int = 64,
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(att_id), "filename": filename, "size": size, "url": url, "proxy_url": url}
    if content_type is not None:
        data["content_type"] = content_type
    if content_type and content_type.startswith("image/"):
        data.update(width=width, height=height)
    return data


_interaction_seq = itertools.count(1)


def interaction(
    data: dict[str, Any], *, user_id: int = 1001, kind: int = 2, message: dict[str, Any] | None = None,
    age: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    """An INTERACTION_CREATE payload as Discord's gateway delivers it (guild context). Its id is a real snowflake
    of a moment `age` seconds ago: discord.py derives created_at and the token's expiry (15 min) from it."""
    import discord.utils

    created = datetime.now(timezone.utc) - timedelta(seconds=age)
    iid = discord.utils.time_snowflake(created) + next(_interaction_seq) % (1 << 22)
    payload: dict[str, Any] = {
        "id": str(iid),
        "application_id": str(APP_ID),
        "type": kind,
        "token": f"tok{iid}",
        "version": 1,
        "guild_id": str(GUILD_ID),
        "channel_id": str(CHANNEL_ID),
        "channel": {
            "id": str(CHANNEL_ID),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "flags": 0,
        },
        "member": {
            "user": discord_user(user_id, f"user{user_id}"),
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": "2248473465835073",
        },
        "app_permissions": "2248473465835073",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "authorizing_integration_owners": {"0": str(GUILD_ID)},
        "context": 0,
        "data": data,
    }
    if message is not None:
        payload["message"] = message
    return payload


def private_interaction(data: dict[str, Any], *, user_id: int = 1001, group: bool = False, **kw: Any) -> dict[str, Any]:
    """The same interaction from a DM with the bot, or a group DM (`group`), through a user install: no guild, a
    `user` instead of a `member`, and the user as the authorising owner."""
    payload = interaction(data, user_id=user_id, **kw)
    for key in ("guild_id", "member", "guild_locale"):
        payload.pop(key)
    payload["data"].pop("guild_id", None)
    payload["user"] = discord_user(user_id, f"user{user_id}")
    payload["channel"] = {"id": str(CHANNEL_ID), "type": 3 if group else 1, "flags": 0,
                          "recipients": [discord_user(user_id, f"user{user_id}")]}  # fmt: skip
    payload["authorizing_integration_owners"] = {"1": str(user_id)}
    payload["context"] = 2 if group else 1
    return payload


def slash_data(options: list[dict[str, Any]], attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(COMMAND_ID),
        "name": "stylize",
        "type": 1,
        "guild_id": str(GUILD_ID),
        "options": options,
        "resolved": {"attachments": {a["id"]: a for a in attachments}},
    }


def discord_message(
    msg_id: int, author: dict[str, Any], content: str, attachments: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    """A MESSAGE object as Discord's API sends it (type 0 unless `extra` says otherwise)."""
    return {
        "id": str(msg_id),
        "channel_id": str(CHANNEL_ID),
        "author": author,
        "content": content,
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        **extra,
    }


def channel_message(msg_id: int, attachments: list[dict[str, Any]], author_id: int = 1001) -> dict[str, Any]:
    return discord_message(msg_id, discord_user(author_id, f"user{author_id}"), "look at this", attachments)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    """Tiny random-init styles, so bot tests never depend on the bundled weights."""
    weights = tmp_path_factory.mktemp("weights")
    make_styles(weights)
    return weights


@pytest.fixture
def tiny_styles(weights_dir, monkeypatch):
    monkeypatch.setenv("NST_WEIGHTS_DIR", str(weights_dir))


# -------------------------------------------------------------------------------------------------- Slack
SLACK_TEAM = "T0TEST"
SLACK_BOT_USER = "U0BOT"


class FakeSlack(FakeServer):
    """The Web API methods the app calls, the file host, the upload URL and response_url webhooks."""

    def __init__(self, bot_token: str, app_token: str | None = None) -> None:
        super().__init__()
        self.bot_token, self.app_token = bot_token, app_token
        self.sockets: asyncio.Queue[web.WebSocketResponse] = asyncio.Queue()  # Socket Mode connections
        self.socket_acks: dict[str, dict[str, Any]] = {}  # envelope_id -> the app's acknowledgement
        self.media = MediaRoutes(self, auth=bot_token)
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, bytes] = {}
        self._ts = itertools.count(1)
        self._fids = itertools.count(1)
        r = self.app.router
        r.add_post("/api/{method}", self.api)
        r.add_get("/api/{method}", self.api)  # slack_sdk reads (history, files.info) with GET + query
        r.add_post("/upload/{fid}", self.upload)
        r.add_post("/response/{n}", self.response_url)
        r.add_get("/socket", self.socket)

    def add_file(self, fid: str, name: str, data: bytes, mimetype: str = "image/png", *, user: str = "U0UPLOADER",
                 channels: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
        """A file as files.info describes it: its uploader and where it is shared (public/private channels)."""
        self.media.files[name] = (data, mimetype)
        url = f"{self.base}/files-pri/{SLACK_TEAM}-{fid}/{name}"
        info = {
            "id": fid,
            "name": name,
            "user": user,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data),
            "url_private": url,
            "url_private_download": url + "?download",
            "channels": list(channels),
            "groups": list(groups),
            "ims": [],
        }
        self.files[fid] = info
        return info

    async def _params(self, request: web.Request) -> dict[str, Any]:
        """slack_sdk sends arguments as query parameters, a form or JSON depending on the method: merge them."""
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        return params

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization")
        entry = self.record(method, path=request.path, params=params, auth=auth)
        if method == "apps.connections.open":  # Socket Mode: the app-level token buys a WebSocket URL
            if self.app_token is None or auth != f"Bearer {self.app_token}":
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"})
        if auth != f"Bearer {self.bot_token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        entry["result"] = handler(params)  # what the app was told (the ts of a posted message...)
        return web.json_response(entry["result"])

    def m_auth_test(self, p: dict) -> dict:
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "nst", "team_id": SLACK_TEAM,
                "user_id": SLACK_BOT_USER, "bot_id": "B0BOT"}  # fmt: skip

    def m_conversations_history(self, p: dict) -> dict:
        channel = p.get("channel")
        if channel not in self.history:
            return {"ok": False, "error": "not_in_channel"}
        return {"ok": True, "messages": self.history[channel], "has_more": False}

    def m_files_info(self, p: dict) -> dict:
        f = self.files.get(p.get("file", ""))
        return {"ok": True, "file": f} if f else {"ok": False, "error": "file_not_found"}

    def _msg(self, p: dict) -> dict:
        return {"ok": True, "channel": p.get("channel"), "ts": f"1700000000.{next(self._ts):06d}"}

    m_chat_postMessage = _msg
    m_chat_postEphemeral = _msg
    m_chat_update = _msg
    m_chat_delete = _msg

    def m_views_open(self, p: dict) -> dict:
        return {"ok": True, "view": {"id": "V1"}}

    def m_files_getUploadURLExternal(self, p: dict) -> dict:
        fid = f"FUP{next(self._fids)}"
        return {"ok": True, "upload_url": f"{self.base}/upload/{fid}", "file_id": fid}

    def m_files_completeUploadExternal(self, p: dict) -> dict:
        files = json.loads(p["files"]) if isinstance(p.get("files"), str) else p.get("files")
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    async def upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        fid = request.match_info["fid"]
        self.uploads[fid] = data
        self.record("upload", path=request.path, fid=fid, size=len(data))
        return web.Response(text=f"OK - {len(data)}")

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        """Slack's Socket Mode end: says hello, then records every acknowledgement the app sends back."""
        ws = web.WebSocketResponse()  # answers the client's pings itself, as Slack does
        await ws.prepare(request)
        self.record("socket", path=request.path)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0NST"}})
        await self.sockets.put(ws)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                ack = json.loads(msg.data)
                self.socket_acks[ack.get("envelope_id", "")] = ack
                self.record("socket_ack", envelope_id=ack.get("envelope_id"), payload=ack.get("payload"))
        return ws

    async def response_url(self, request: web.Request) -> web.Response:
        self.record("respond", path=request.path, body=await request.json())
        return web.Response(text="ok")


def slack_signature(secret: str, body: str, ts: str) -> str:
    mac = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={mac}"
