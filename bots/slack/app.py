"""The Slack app: `/stylize`, a "Stylize image" message shortcut, and `@mention` with an attached image.

Built on Bolt's AsyncApp so the shared asyncio worker pool serves Slack exactly as it serves Discord. Every
listener acknowledges first (Slack's 3-second deadline) and keeps working afterwards: with
`process_before_response=False`, Bolt sends the HTTP response as soon as `ack()` is called.

Slash commands carry no files, so `/stylize` uses the caller's most recent image in the channel (or a Slack
file link given as an argument). Files are downloaded with the bot token, and only from Slack's own hosts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from PIL import Image
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bots.clips import Clip
from bots.config import SLACK_FILE_HOSTS, CommonConfig, SlackConfig, is_loopback
from bots.fetch import check_url
from bots.jobs import StylizeService, Ticket, deduplicated
from bots.messages import BadOptions, BotError, FetchError, friendly_error
from bots.options import JobSpec, TextRequest, build_spec, installed_styles, parse_text
from bots.recent import RecentImages

from .again import ACTION_RE, on_again, post_again
from .gallery import answer_styles
from .media import MEDIA_TYPES, fetch_file, upload_clip
from .modal import MODAL_ID, stylize_modal

log = logging.getLogger("bots.slack")

MENTION_RE = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
# Slack file links: https://files.slack.com/files-pri/T0-F0/name.png, https://x.slack.com/files/U0/F0/name.png
FILE_ID_RE = re.compile(r"/(?:files-pri|files-tmb)/[TE][A-Z0-9]+-(F[A-Z0-9]+)|/files/[UW][A-Z0-9]+/(F[A-Z0-9]+)")
NO_HISTORY = {"not_in_channel", "channel_not_found", "missing_scope"}
MENTION_GRACE = 2.0  # seconds a mention without files waits for the same post's file_share message event

Reply = Callable[[str], Awaitable[Any]]


def api_error(exc: SlackApiError) -> str:
    """Slack's error code ('not_in_channel'...), or '' when the server did not answer with Slack's JSON."""
    data = getattr(exc.response, "data", None)
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def help_text(command: str, styles: list[Any]) -> str:
    names = ", ".join(f"`{s.name}`" for s in styles[:30]) or "(none installed yet)"
    return (
        f"*Usage:* `{command} [style] [strength=0..1] [colors=yes] [size=512] [file link]`\n"
        "I repaint your most recent image in this channel (or the Slack file you link). "
        "You can also use the message shortcut *Stylize image* on any message with a picture, "
        "or mention me in a message with an image, a GIF or a short video attached (attach a second picture, "
        f"a painting, to have the first painted like it). `{command} styles` shows every style's preview.\n"
        f"*Styles:* {names}"
    )


def request_problem(body: str, content_type: str | None, timestamp: str | None) -> tuple[int, str] | None:
    """What makes a request to the Request URL unlike anything Slack sends, as an HTTP status and reason.

    Bolt assumes well-formed requests: a non-numeric timestamp header or a body that is not the JSON or form Slack
    posts raised inside it and answered 500 with a logged traceback. They are the sender's mistakes (4xx).
    """
    if timestamp is not None and not (timestamp.strip().isascii() and timestamp.strip().isdigit()):  # not "²"
        return 401, "invalid request timestamp"
    try:
        parsed = parse_body(body, content_type)  # Bolt's own parser: the same rules it applies next
    except ValueError:
        return 400, "malformed request body"
    return None if isinstance(parsed, dict) else (400, "malformed request body")


def images_in(files: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for f in files or ():
        mimetype = (f.get("mimetype") or "").lower()
        if mimetype.startswith(MEDIA_TYPES) or (not mimetype and f.get("file_access") == "check_file_info"):
            out.append(f)
    return out


def first_image(files: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    found = images_in(files)
    return found[0] if found else None


def file_visible(info: dict[str, Any], channel: str | None, user: str) -> bool:
    """Whether `user` may see the file in `channel`: they uploaded it, or it is shared in that channel."""
    if user and info.get("user") == user:
        return True
    places: set[str] = set()
    for key in ("channels", "groups", "ims"):
        places.update(info.get(key) or ())
    for scope in (info.get("shares") or {}).values():  # {"public": {"C1": [...]}, "private": {"G2": [...]}}
        if isinstance(scope, dict):
            places.update(scope)
    return bool(channel) and channel in places


class _QuietTokenWarning(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN is unused because we hand it a client (needed for SLACK_API_URL);
    the client carries that very token, so the warning would only mislead whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_QUIET = _QuietTokenWarning()


class SlackBot:
    """The Bolt app plus the shared service, an HTTP session for downloads and the Slack-specific glue."""

    def __init__(self, config: SlackConfig, common: CommonConfig, *, service: StylizeService | None = None):
        self.config = config
        self.common = common
        self.service = service or StylizeService(common)
        self.client = AsyncWebClient(token=config.bot_token.get(), base_url=config.api_base)
        logging.getLogger("slack_bolt.AsyncApp").addFilter(_QUIET)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=config.signing_secret.get(),
            request_verification_enabled=not config.socket_mode,
            process_before_response=False,
        )
        self.session: aiohttp.ClientSession | None = None
        self.file_hosts: tuple[str, ...] = SLACK_FILE_HOSTS + common.extra_media_hosts
        self.insecure_hosts: tuple[str, ...] = common.insecure_media_hosts
        if config.api_url:  # a gateway or test fake serves the files too: trust its host (http if it is)
            api = urlsplit(config.api_url)
            self.file_hosts += (api.hostname or "",)
            if api.scheme == "http" and is_loopback(api.hostname or ""):
                self.insecure_hosts += (api.hostname or "",)
        self.recent = RecentImages(common)  # the pictures behind recent results, for the buttons under them
        self._seen_events: deque[str] = deque(maxlen=256)
        self._seen_messages: deque[tuple[str | None, str | None]] = deque(maxlen=256)  # posts already handled
        self._register()

    # ----- lifecycle -------------------------------------------------------------------------------------
    def http_session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession()
        return self.session

    async def close(self) -> None:
        await self.service.close()
        if self.session is not None:
            await self.session.close()

    def web_app(self) -> web.Application:
        """HTTP mode: Bolt's own aiohttp adapter (signature checks included), clean shutdown, /healthz."""
        application = self.app.web_app(path=self.config.path, port=self.config.port)

        @web.middleware
        async def reject_malformed(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.method == "POST" and request.path == self.config.path:
                try:
                    body = await request.text()
                except UnicodeDecodeError:
                    body = None
                ctype = request.headers.get("Content-Type", "").split(";")[0].strip() or None
                stamp = request.headers.get("X-Slack-Request-Timestamp")
                problem = (400, "malformed request body") if body is None else request_problem(body, ctype, stamp)
                if problem:
                    log.info("refused a request to %s: %s", request.path, problem[1])
                    return web.Response(status=problem[0], text=problem[1])
            return await handler(request)

        application.middlewares.append(reject_malformed)

        async def healthz(_request: web.Request) -> web.Response:
            return web.json_response({"ok": True, **self.service.stats()})

        async def cleanup(_app: web.Application) -> None:
            await self.close()

        application.router.add_get("/healthz", healthz)
        application.on_cleanup.append(cleanup)
        return application

    def _register(self) -> None:
        app = self.app
        app.command(self.config.command)(self.on_command)
        app.shortcut(self.config.shortcut_id)(self.on_shortcut)
        app.view(MODAL_ID)(self.on_modal_submit)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)  # file shares etc.: acknowledged and ignored
        app.action(ACTION_RE)(self.on_again)
        app.error(self.on_error)

    async def on_message(self, body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        """A picture shared with an @-mention may reach us as a `message` event (subtype file_share) that carries
        the files, beside an `app_mention` without them: such a message is handled as the mention. Anything
        else (plain chatter, the bot's own posts) is acknowledged and ignored."""
        bot_user = context.get("bot_user_id") if context else None
        if event.get("bot_id") or not event.get("files") or not bot_user:
            return
        if f"<@{bot_user}>" in (event.get("text") or ""):
            await self.on_mention(body, event)

    async def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener (%s)", body.get("type", "?"), exc_info=error)

    def allowed_channel(self, channel: str | None) -> bool:
        return not self.config.allowed_channels or channel in self.config.allowed_channels

    # ----- /stylize --------------------------------------------------------------------------------------
    async def on_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        channel, user, team = body.get("channel_id"), body.get("user_id", ""), body.get("team_id", "")
        if not self.allowed_channel(channel):
            await ack(text="I'm not enabled in this channel.", response_type="ephemeral")
            return

        async def reply(text: str) -> None:
            await respond(text=text, response_type="ephemeral", replace_original=False)

        try:
            req = parse_text(body.get("text", ""))
            if req.word == "help":
                await ack(text=help_text(self.config.command, installed_styles()), response_type="ephemeral")
                return
            if req.word == "styles":
                await ack()
                await answer_styles(self, channel=channel, thread_ts=None, user=user, reply=reply)
                return
            spec = self.spec_from_text(req)
            ticket = self.service.admit(f"slack:{team}:{user}")
        except BotError as exc:
            await ack(text=str(exc), response_type="ephemeral")
            return
        await ack()

        async with ticket:
            try:
                file = await (
                    self.file_from_url(req.url, channel=channel, user=user)
                    if req.url
                    else self.latest_user_image(channel, user)
                )
            except Exception as exc:
                await self.safe(reply, friendly_error(exc))
                return
            await self.run_job(ticket, spec, file, channel=channel, thread_ts=None, user=user, reply=reply)

    def spec_from_text(self, req: TextRequest, *, custom: bool = False) -> JobSpec:
        opts = req.options
        return build_spec(
            self.common,
            style=req.style,
            custom=custom,
            strength=opts.get("strength"),
            preserve_colors=opts.get("preserve_colors", False),
            size=opts.get("size"),
        )

    async def latest_user_image(self, channel: str | None, user: str) -> dict[str, Any]:
        """The newest message in `channel` from `user` that carries an image file."""
        try:
            history = await self.client.conversations_history(channel=channel, limit=self.config.history_limit)
        except SlackApiError as exc:
            if api_error(exc) in NO_HISTORY:
                raise BotError(
                    "I can't read this channel's messages. Invite me with `/invite @<my name>` and retry, "
                    "or use the *Stylize image* shortcut on a message with a picture."
                ) from None
            raise
        for msg in history.get("messages", []):
            if msg.get("user") == user:
                found = first_image(msg.get("files"))
                if found:
                    return found
        raise BotError(
            "I couldn't find an image you posted here recently. Upload a picture to this channel and run "
            f"`{self.config.command}` again, or use the *Stylize image* shortcut on a message with a picture."
        )

    async def file_from_url(self, url: str, *, channel: str | None, user: str) -> dict[str, Any]:
        """A Slack file link given as an argument: only Slack files this user may already see here.

        The bot's token can read files from channels the user is not in; without the share check anyone
        could have a private file repainted into their own channel."""
        check_url(url, self.file_hosts, self.insecure_hosts)
        m = FILE_ID_RE.search(urlsplit(url).path)
        if not m:  # no file ID: nothing to check the link against, so never fetch it with the bot token
            raise FetchError("That doesn't look like a Slack file link; upload the picture here and try again.")
        info = await self.file_info(m.group(1) or m.group(2))
        if not file_visible(info, channel, user):
            raise FetchError(
                "I can only use a file you uploaded yourself or one that was shared in this channel; "
                "share the picture here first."
            )
        return info

    async def file_info(self, file_id: str) -> dict[str, Any]:
        try:
            info = await self.client.files_info(file=file_id)
        except SlackApiError as exc:
            err = api_error(exc)
            if err in ("file_not_found", "file_deleted"):
                raise FetchError("That Slack file no longer exists.") from None
            if err == "missing_scope":
                raise FetchError("I'm missing the `files:read` scope; ask the app's admin to add it.") from None
            raise
        return info["file"]

    # ----- message shortcut + modal ----------------------------------------------------------------------
    async def on_shortcut(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}

        async def reply(text: str) -> None:
            await respond(text=text, response_type="ephemeral", replace_original=False)

        if not self.allowed_channel(channel):
            await self.safe(reply, "I'm not enabled in this channel.")
            return
        file = first_image(message.get("files"))
        if file is None:
            await self.safe(reply, "That message has no image I can use.")
            return
        styles = installed_styles()
        if not styles:
            await self.safe(reply, "No styles are installed on this server yet; ask the bot's admin to add some.")
            return
        meta = {
            "channel": channel,
            "thread_ts": message.get("thread_ts") or message.get("ts"),
            "file": file.get("id"),
            # Private replies after the form closes go here: it works even where the bot is not a member.
            "response_url": body.get("response_url"),
        }
        try:
            await self.client.views_open(trigger_id=body["trigger_id"], view=stylize_modal(self.common, styles, meta))
        except SlackApiError as exc:
            log.warning("views.open failed: %s", api_error(exc))
            await self.safe(reply, "I couldn't open the style picker; please try again.")

    async def on_modal_submit(self, ack: Any, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id", "")
        values = (view.get("state") or {}).get("values") or {}

        def value(block: str) -> Any:
            return (values.get(block) or {}).get("value") or {}

        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            channel, thread_ts, file_id = meta["channel"], meta.get("thread_ts"), meta["file"]
        except (ValueError, KeyError, TypeError):
            await ack(response_action="errors", errors={"style": "This form is out of date; please start again."})
            return
        try:
            spec = build_spec(
                self.common,
                style=(value("style").get("selected_option") or {}).get("value"),
                strength=value("strength").get("value"),
                size=value("size").get("value"),
                preserve_colors=bool(value("colors").get("selected_options")),
            )
            ticket = self.service.admit(f"slack:{team}:{user}")
        except BotError as exc:
            field = getattr(exc, "field", None)
            block = field if field in ("size", "strength") else "style"
            await ack(response_action="errors", errors={block: str(exc)[:150]})
            return
        await ack()

        response_url = meta.get("response_url")

        async def reply(text: str) -> None:
            if response_url:
                await AsyncWebhookClient(response_url).send(
                    text=text, response_type="ephemeral", replace_original=False
                )
            else:
                await self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)

        async with ticket:
            try:
                file = await self.file_info(file_id)
            except Exception as exc:
                await self.safe(reply, friendly_error(exc))
                return
            await self.run_job(ticket, spec, file, channel=channel, thread_ts=thread_ts, user=user, reply=reply)

    # ----- @mention ---------------------------------------------------------------------------------------
    async def on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        event_id = body.get("event_id")
        if event_id:
            if event_id in self._seen_events:  # Slack retries slow deliveries: never run a job twice
                return
            self._seen_events.append(event_id)
        channel, user = event.get("channel"), event.get("user", "")
        team = body.get("team_id") or event.get("team", "")
        thread_ts = event.get("thread_ts") or event.get("ts")
        message = (channel, event.get("ts"))  # the app_mention and the file_share message of one post share it
        if message in self._seen_messages:
            return
        if event.get("files"):  # handled now, whatever comes of it: the other event of this post stays quiet
            self._seen_messages.append(message)

        async def reply(text: str) -> None:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)

        if not self.allowed_channel(channel):
            await self.safe(reply, "I'm not enabled in this channel.")
            return
        try:
            req = parse_text(MENTION_RE.sub(" ", event.get("text", "")))
            if req.word == "styles":
                await answer_styles(self, channel=channel, thread_ts=thread_ts, user=user, reply=reply)
                return
            if req.word:
                await self.safe(reply, help_text(self.config.command, installed_styles()))
                return
            images = images_in(event.get("files"))  # a second picture is the painting to copy (as on Discord)
            file, painting = [*images, None, None][:2]
            spec = self.spec_from_text(req, custom=painting is not None)
            if file is None and event.get("files"):
                raise BadOptions("The attached file is not an image; attach a PNG, JPEG or WebP.")
            if file is None and req.url is None:
                await asyncio.sleep(MENTION_GRACE)  # its files may still come, in a message event for the same post
                if message in self._seen_messages:
                    return
                raise BadOptions(
                    "Attach an image to the message you mention me in (for example `@me starry_night`), "
                    f"or use `{self.config.command}`."
                )
            ticket = self.service.admit(f"slack:{team}:{user}")
        except BotError as exc:
            await self.safe(reply, str(exc))
            return
        if message not in self._seen_messages:
            self._seen_messages.append(message)
        async with ticket:
            try:
                if file is None:
                    file = await self.file_from_url(req.url or "", channel=channel, user=user)
            except Exception as exc:
                await self.safe(reply, friendly_error(exc))
                return
            await self.run_job(ticket, spec, file, style=painting, channel=channel, thread_ts=thread_ts, user=user,
                               reply=reply)  # fmt: skip

    async def on_again(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await on_again(self, ack, body, respond)

    # ----- the shared pipeline ---------------------------------------------------------------------------
    async def load(self, source: dict[str, Any] | Image.Image, label: str, *, clips: bool = False) -> Any:
        """A Slack file to download (with `clips`, maybe a GIF or video), or a picture kept from an earlier result."""
        return source if isinstance(source, Image.Image) else await self.fetch_file(source, label, clips=clips)

    async def fetch_file(self, file: dict[str, Any], label: str = "Your picture", *, clips: bool = False) -> Any:
        return await fetch_file(self, file, label, clips=clips)  # bots/slack/media.py

    async def run_job(
        self,
        ticket: Ticket,
        spec: JobSpec,
        file: dict[str, Any] | Image.Image,
        *,
        style: dict[str, Any] | Image.Image | None = None,
        channel: str | None,
        thread_ts: str | None,
        user: str,
        reply: Reply,
    ) -> None:
        """Download, stylise with a live status message, upload into the channel/thread with the buttons under
        it, tidy up. `style` is the painting of a custom style."""
        status_ts: str | None = None

        async def post_or_update(text: str) -> None:
            # No @-mention here: the finished picture mentions the user, once (one notification per job)
            nonlocal status_ts
            if status_ts is None:
                resp = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
                status_ts = resp.get("ts")
            else:
                await self.client.chat_update(channel=channel, ts=status_ts, text=text)

        status = deduplicated(post_or_update)
        try:
            content = await self.load(file, "Your picture", clips=True)
            if isinstance(content, Clip):  # a GIF or a video: a file back, without controls (bots/clips.py)
                await upload_clip(self, ticket, spec, content, channel=channel, thread_ts=thread_ts, user=user,
                                  on_status=status)  # fmt: skip
                if status_ts:
                    await self.safe(lambda _t: self.client.chat_delete(channel=channel, ts=status_ts), "")
                return
            style_img = await self.load(style, "Your style picture") if style is not None else None
            result = await ticket.run(spec, content, style_image=style_img, on_status=status)
            encoded = await self.service.encode(result, self.config.upload_limit, lossy="JPEG")
            name = encoded.filename(f"stylized-{spec.style or 'custom'}")
            await self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=encoded.data,
                filename=name,
                title=f"{spec.label} ({encoded.size[0]}×{encoded.size[1]})",
                initial_comment=f"<@{user}> here is your picture in the style of *{spec.label}*.",
            )
            if status_ts:
                await self.safe(lambda _t: self.client.chat_delete(channel=channel, ts=status_ts), "")
            await post_again(self, channel=channel, thread_ts=thread_ts, spec=spec, content=content,
                             style_image=style_img)  # fmt: skip
        except Exception as exc:
            message = friendly_error(exc)
            if isinstance(exc, SlackApiError):
                log.warning("Slack API error: %s", api_error(exc))
                if api_error(exc) in ("not_in_channel", "channel_not_found"):
                    message = "I can't post in this channel; invite me with `/invite @<my name>` and try again."
            if status_ts:
                await self.safe(
                    lambda t: self.client.chat_update(channel=channel, ts=status_ts, text=t),
                    f":warning: <@{user}> {message}",  # an edit: the mention names them without a second ping
                )
            else:
                await self.safe(reply, message)

    @staticmethod
    async def safe(send: Reply, text: str) -> None:
        """Replies about failures must not fail loudly themselves."""
        try:
            await send(text)
        except Exception as exc:
            log.warning("could not send a reply to Slack: %s", type(exc).__name__)


async def check_token(bot: SlackBot) -> str | None:
    """Fail fast at start-up with a readable reason instead of a retry loop of tracebacks."""
    try:
        auth = await bot.client.auth_test()
    except SlackApiError as exc:
        err = api_error(exc) or "unexpected answer"
        return f"Slack rejected SLACK_BOT_TOKEN ({err}); copy the Bot User OAuth Token (xoxb-...) again."
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return f"Could not reach Slack's Web API ({type(exc).__name__}); check the network or SLACK_API_URL."
    log.info("connected to workspace %s as %s", auth.get("team"), auth.get("user"))
    return None


def build_app(config: SlackConfig, common: CommonConfig, *, service: StylizeService | None = None) -> SlackBot:
    return SlackBot(config, common, service=service)
