"""The controls under a Slack result: an "Another style" menu and Re-roll / Stronger / Weaker buttons.

A file upload cannot carry Block Kit elements, so they come in a small message right after the picture; that
message (channel, ts) is the key of the picture in the bot's in-memory `RecentImages`. The action IDs name only
what to do. The clicks are a listener of the app (`SlackBot.on_again`): acknowledged at once, admitted through the
shared pipeline like any request, and answered privately when they cannot run (expired, busy, at full strength).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError

from bots.options import JobSpec, installed_styles
from bots.variations import can_strengthen, can_weaken

log = logging.getLogger("bots.slack")

ACTION_RE = re.compile(r"^nst_again_(style|reroll|stronger|weaker)$")
BLOCK_ID = "nst_again"
MAX_OPTIONS = 100  # Slack's limit for a static select


def again_blocks(spec: JobSpec) -> list[dict[str, Any]]:
    """The menu and buttons for a result made with `spec` (Gatys results have no strength to change)."""
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
