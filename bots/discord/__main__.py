"""`python -m bots.discord`: read the environment, log in, serve until Ctrl+C."""

import logging
import os
import sys

from bots.config import CommonConfig, ConfigError, DiscordConfig


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("NST_BOT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        common = CommonConfig.from_env()
        config = DiscordConfig.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
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
