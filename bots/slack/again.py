"""The controls under a Slack result: an "Another style" menu and Re-roll / Stronger / Weaker buttons.

A file upload cannot carry Block Kit elements, so they come in a small message right after the picture; that
message (channel, ts) is the key of the picture in the bot's in-memory `RecentImages`. The action IDs name only
what to do. Bolt routes the clicks (`app.action`); each is acknowledged at once, admitted through the shared
queue like any request, and answered privately when it cannot run (expired, busy, already at full strength).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError

from bots.messages import BotError
from bots.options import JobSpec, installed_styles
from bots.variations import can_strengthen, can_weaken, vary, with_style

log = logging.getLogger("bots.slack")

ACTION_RE = re.compile(r"^nst_again_(style|reroll|stronger|weaker)$")
BLOCK_ID = "nst_again"
MAX_OPTIONS = 100  # Slack's limit for a static select


def again_blocks(spec: JobSpec) -> list[dict[str, Any]]:
    """The menu and buttons for a result made with `spec` (custom styles have no strength to change)."""
    options = [
        {"text": {"type": "plain_text", "text": s.label[:75]}, "value": s.name}
        for s in installed_styles()[:MAX_OPTIONS]
    ]
    elements: list[dict[str, Any]] = []
    if options:
        elements.append({"type": "static_select", "action_id": "nst_again_style", "options": options,
                         "placeholder": {"type": "plain_text", "text": "Another style…"}})  # fmt: skip

    def button(action: str, text: str) -> dict[str, Any]:
        return {"type": "button", "action_id": f"nst_again_{action}", "text": {"type": "plain_text", "text": text}}

    elements.append(button("reroll", "🎲 Re-roll"))
    if can_strengthen(spec):
        elements.append(button("stronger", "Stronger"))
    if can_weaken(spec):
        elements.append(button("weaker", "Weaker"))
    return [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Same picture again:"}]},
        {"type": "actions", "block_id": BLOCK_ID, "elements": elements},
    ]


async def post_again(bot: Any, *, channel: str | None, thread_ts: str | None, spec: JobSpec, content: Any,
                     style_image: Any) -> None:  # fmt: skip
    """Post the controls under a finished result and remember its picture; a failure only loses the buttons."""
    if not bot.recent.enabled:
        return
    try:
        resp = await bot.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text="Same picture again: another style, re-roll, stronger or "
            "weaker", blocks=again_blocks(spec)
        )  # fmt: skip
    except SlackApiError as exc:
        log.warning("could not post the buttons under a result: %s", type(exc).__name__)
        return
    bot.recent.remember((channel, resp.get("ts")), content, spec, style_image)


async def on_again(bot: Any, ack: Any, body: dict[str, Any], respond: Any) -> None:
    """A click on a control under a result."""
    await ack()
    action = (body.get("actions") or [{}])[0]
    match = ACTION_RE.match(action.get("action_id", ""))
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    user = (body.get("user") or {}).get("id", "")
    team = (body.get("team") or {}).get("id", "")
    thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")  # the result's thread

    async def reply(text: str) -> None:
        await respond(text=text, response_type="ephemeral", replace_original=False)

    if match is None:
        return
    if not bot.allowed_channel(channel):
        await bot.safe(reply, "I'm not enabled in this channel.")
        return
    entry = bot.recent.get((channel, container.get("message_ts")))
    if entry is None:
        await bot.safe(reply, bot.recent.expired_text())
        return
    try:
        if match[1] == "style":
            spec = with_style(entry.spec, (action.get("selected_option") or {}).get("value") or "", bot.common)
        else:
            spec = vary(entry.spec, match[1])
        ticket = bot.service.admit(f"slack:{team}:{user}")
    except BotError as exc:
        await bot.safe(reply, str(exc))
        return
    async with ticket:
        await bot.run_job(ticket, spec, entry.content, style=entry.style_image, channel=channel,
                          thread_ts=thread_ts, user=user, reply=reply)  # fmt: skip
