"""The Slack app: `/stylize`, a "Stylize image" message shortcut, `@mention` with an attached image, and the
controls under a result.

Built on Bolt's AsyncApp so the shared asyncio worker pool serves Slack exactly as it serves Discord. Every
listener acknowledges first (Slack's 3-second deadline) and keeps working afterwards: with
`process_before_response=False`, Bolt sends the HTTP response as soon as `ack()` is called. A listener only turns
Slack's payload into a request and a `SlackReply` (reply.py); the shared pipeline (bots/pipeline.py) admits,
fetches, runs and reports.

Slash commands carry no files, so `/stylize` uses the caller's most recent image in the channel (or a Slack
file link given as an argument). Files are downloaded with the bot token, and only from Slack's own hosts.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bots.config import SLACK_FILE_HOSTS, CommonConfig, SlackConfig, is_loopback
from bots.jobs import StylizeService
from bots.messages import BadOptions, BotError
from bots.options import BEST, JobSpec, TextRequest, build_spec, installed_styles, parse_text
from bots.pipeline import Request, serve
from bots.recent import RecentImages
from bots.variations import vary, with_style

from .again import ACTION_RE
from .gallery import answer_styles
from .media import api_error, file_from_url, file_info, first_image, images_in, latest_user_image
from .modal import MODAL_ID, stylize_modal
from .reply import SlackReply, ephemeral, safe

log = logging.getLogger("bots.slack")

MENTION_RE = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
MENTION_GRACE = 2.0  # seconds a mention without files waits for the same post's file_share message event


def help_text(command: str, styles: list[Any], common: CommonConfig) -> str:
    names = ", ".join(f"`{s.name}`" for s in styles[:30]) or "(none installed yet)"
    return (
        f"*Usage:* `{command} [style] [strength=0..1] [colors=yes] [size=512] [file link]`\n"
        "I repaint your most recent image in this channel (or the Slack file you link). "
        "You can also use the message shortcut *Stylize image* on any message with a picture, "
        f"or mention me in a message with an image, a GIF or a short video attached{painting_help(common)}. "
        f"`{command} styles` shows every style's preview.\n"
        f"*Styles:* {names}"
    )


def painting_help(common: CommonConfig) -> str:
    """What the help says of a second picture, a painting to copy: only what this server can do with it."""
    if not common.custom_enabled:
        return ""
    text = " (attach a second picture, a painting, to have the first painted like it"
    if common.arbitrary_enabled and common.gatys_enabled:
        return text + f" in seconds; add `{BEST}` for the slower, finer optimisation)"
    return text + (" in seconds)" if common.arbitrary_enabled else "; this takes a minute or more)")


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

        async def refuse(exc: BotError) -> None:  # in the acknowledgement itself: instant and private
            await ack(text=str(exc), response_type="ephemeral")

        reply = SlackReply(self, channel, None, user, ephemeral(respond), on_accept=ack, on_refuse=refuse)
        try:
            req = parse_text(body.get("text", ""))
        except BotError as exc:
            await reply.refuse(exc)
            return
        if req.word == "help":
            await ack(text=help_text(self.config.command, installed_styles(), self.common), response_type="ephemeral")
            return
        if req.word == "styles":
            await ack()
            await answer_styles(self, channel=channel, thread_ts=None, user=user, tell=reply.tell)
            return
        if req.url:
            locate = functools.partial(file_from_url, self, req.url, channel=channel, user=user)
        else:
            locate = functools.partial(latest_user_image, self, channel, user)
        await serve(
            self.service, reply, lambda: Request(f"slack:{team}:{user}", self.spec_from_text(req), locate=locate)
        )

    def spec_from_text(self, req: TextRequest, *, custom: bool = False) -> JobSpec:
        opts = req.options
        return build_spec(
            self.common,
            style=req.style,
            custom=custom,
            quality=opts.get("quality"),
            strength=opts.get("strength"),
            preserve_colors=opts.get("preserve_colors", False),
            size=opts.get("size"),
        )

    # ----- message shortcut + modal ----------------------------------------------------------------------
    async def on_shortcut(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id")
        message = body.get("message") or {}
        tell = functools.partial(safe, ephemeral(respond))
        if not self.allowed_channel(channel):
            await tell("I'm not enabled in this channel.")
            return
        file = first_image(message.get("files"))
        if file is None:
            await tell("That message has no image I can use.")
            return
        styles = installed_styles()
        if not styles:
            await tell("No styles are installed on this server yet; ask the bot's admin to add some.")
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
            await tell("I couldn't open the style picker; please try again.")

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

        def request() -> Request:
            spec = build_spec(
                self.common,
                style=(value("style").get("selected_option") or {}).get("value"),
                strength=value("strength").get("value"),
                size=value("size").get("value"),
                preserve_colors=bool(value("colors").get("selected_options")),
            )
            return Request(f"slack:{team}:{user}", spec, locate=functools.partial(file_info, self, file_id))

        async def refuse(exc: BotError) -> None:  # under the form field it is about
            field = getattr(exc, "field", None)
            block = field if field in ("size", "strength") else "style"
            await ack(response_action="errors", errors={block: str(exc)[:150]})

        response_url = meta.get("response_url")

        async def private(text: str) -> None:
            if response_url:
                await AsyncWebhookClient(response_url).send(
                    text=text, response_type="ephemeral", replace_original=False
                )
            else:
                await self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)

        reply = SlackReply(self, channel, thread_ts, user, private, on_accept=ack, on_refuse=refuse)
        await serve(self.service, reply, request)

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

        async def private(text: str) -> None:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=text, thread_ts=thread_ts)

        async def accepted() -> None:  # admitted: this post is handled, its other event stays quiet
            if message not in self._seen_messages:
                self._seen_messages.append(message)

        reply = SlackReply(self, channel, thread_ts, user, private, on_accept=accepted)
        if not self.allowed_channel(channel):
            await reply.tell("I'm not enabled in this channel.")
            return
        try:
            req = parse_text(MENTION_RE.sub(" ", event.get("text", "")))
            if req.word == "styles":
                await answer_styles(self, channel=channel, thread_ts=thread_ts, user=user, tell=reply.tell)
                return
            if req.word:
                await reply.tell(help_text(self.config.command, installed_styles(), self.common))
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
        except BotError as exc:
            await reply.tell(str(exc))
            return
        locate = None if file else functools.partial(file_from_url, self, req.url or "", channel=channel, user=user)
        await serve(self.service, reply, lambda: Request(f"slack:{team}:{user}", spec, file, painting, locate))

    # ----- the controls under a result (bots/slack/again.py) ---------------------------------------------
    async def on_again(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        """A click on a control under a result: the same picture, varied, through the queue like any request."""
        await ack()
        action = (body.get("actions") or [{}])[0]
        match = ACTION_RE.match(action.get("action_id", ""))
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id", "")
        thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")  # the result's thread
        reply = SlackReply(self, channel, thread_ts, user, ephemeral(respond))
        if match is None:
            return
        if not self.allowed_channel(channel):
            await reply.tell("I'm not enabled in this channel.")
            return
        entry = self.recent.get((channel, container.get("message_ts")))
        if entry is None:
            await reply.tell(self.recent.expired_text())
            return

        def request() -> Request:
            if match[1] == "style":
                spec = with_style(entry.spec, (action.get("selected_option") or {}).get("value") or "", self.common)
            else:
                spec = vary(entry.spec, match[1])
            return Request(f"slack:{team}:{user}", spec, entry.content, entry.style_image)

        await serve(self.service, reply, request)


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
