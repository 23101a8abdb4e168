"""The message shortcut's form (a Slack modal): style, strength, size and colours."""

from __future__ import annotations

import json
from typing import Any

from bots.config import CommonConfig
from bots.options import default_style_name

MODAL_ID = "nst_stylize_modal"


def stylize_modal(common: CommonConfig, styles: list[Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The form of the message shortcut: style, strength, size, colours; `meta` travels in private_metadata."""
    default = default_style_name(common, styles)
    options = [{"text": {"type": "plain_text", "text": s.label[:75]}, "value": s.name} for s in styles[:100]]
    initial = next((o for o in options if o["value"] == default), options[0])
    return {
        "type": "modal",
        "callback_id": MODAL_ID,
        "title": {"type": "plain_text", "text": "Stylize image"},
        "submit": {"type": "plain_text", "text": "Stylize"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(meta),
        "blocks": [
            {
                "type": "input",
                "block_id": "style",
                "label": {"type": "plain_text", "text": "Style"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": options,
                    "initial_option": initial,
                },
            },
            {
                "type": "input",
                "block_id": "strength",
                "optional": True,
                "label": {"type": "plain_text", "text": "Strength (0 to 1)"},
                "element": {
                    "type": "number_input",
                    "action_id": "value",
                    "is_decimal_allowed": True,
                    "min_value": "0",
                    "max_value": "1",
                },
            },
            {
                "type": "input",
                "block_id": "size",
                "optional": True,
                "label": {
                    "type": "plain_text",
                    "text": f"Size (long side, {common.min_size}-{common.max_size} px)",
                },
                "element": {
                    "type": "number_input",
                    "action_id": "value",
                    "is_decimal_allowed": False,
                    "min_value": str(common.min_size),
                    "max_value": str(common.max_size),
                },
            },
            {
                "type": "input",
                "block_id": "colors",
                "optional": True,
                "label": {"type": "plain_text", "text": "Colours"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        {
                            "text": {"type": "plain_text", "text": "Keep my picture's colours"},
                            "value": "keep",
                        }
                    ],
                },
            },
        ],
    }
