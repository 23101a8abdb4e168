"""Slack front end (Bolt, asyncio): `/stylize`, a "Stylize image" message shortcut, `@mention` with an image.

Run with `python -m bots.slack`: Socket Mode when SLACK_APP_TOKEN is set, otherwise an HTTP server that
verifies Slack's request signatures. `import slack_bolt` / `slack_sdk` are unaffected by this package's name.
"""

from .app import SlackBot, build_app

__all__ = ["SlackBot", "build_app"]
