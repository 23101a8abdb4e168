"""Discord front end: `/stylize` slash command and a "Stylize image" message context menu.

Run with `python -m bots.discord`. Everything Discord-specific lives here; the shared pieces (download, queue,
encoding, messages) are in the parent `bots` package. Inside this package, `import discord` still means
discord.py: Python 3 imports are absolute, and this package is only ever imported as `bots.discord`.
"""

from .app import StylizeBot, build_bot

__all__ = ["StylizeBot", "build_bot"]
