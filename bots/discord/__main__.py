"""`python -m bots.discord [--sync-commands]`: read the environment, log in, serve until Ctrl+C."""

import dataclasses
import sys

from bots.config import DiscordConfig, startup


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args != ["--sync-commands"]:
        print("usage: python -m bots.discord [--sync-commands]  (register the commands even if unchanged)",
              file=sys.stderr)  # fmt: skip
        return 2
    loaded = startup(DiscordConfig)
    if loaded is None:
        return 2
    common, config = loaded
    if args:
        config = dataclasses.replace(config, sync_commands="always")
    import aiohttp
    import discord

    from .app import build_bot

    bot = build_bot(config, common)
    try:
        bot.run(config.token.get(), log_handler=None)
    except discord.LoginFailure:
        print(
            "Discord rejected DISCORD_TOKEN: copy the bot token again from the Developer Portal.",
            file=sys.stderr,
        )
        return 1
    except discord.PrivilegedIntentsRequired:
        print("This bot needs no privileged intents; check the Developer Portal settings.", file=sys.stderr)
        return 1
    except aiohttp.ClientError as exc:
        print(f"Could not reach Discord ({type(exc).__name__}); check the network.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
