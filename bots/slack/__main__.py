"""`python -m bots.slack`: Socket Mode if SLACK_APP_TOKEN is set, else HTTP on SLACK_HOST:SLACK_PORT."""

import asyncio
import contextlib
import logging
import sys

from bots.config import SlackConfig, startup


async def serve_socket_mode(bot, app_token: str) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(bot.app, app_token)
    try:
        await handler.start_async()
    finally:  # also on cancel / Ctrl-C: close the WebSocket and its HTTP session, then the bot's workers
        try:
            await handler.close_async()
        finally:
            await bot.close()


def main() -> int:
    loaded = startup(SlackConfig)
    if loaded is None:
        return 2
    common, config = loaded
    from .app import build_app, check_token

    bot = build_app(config, common)
    log = logging.getLogger("bots.slack")
    problem = asyncio.run(check_token(bot))
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if config.socket_mode:
        log.info("starting in Socket Mode")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_socket_mode(bot, config.app_token.get()))
        return 0
    log.info("starting HTTP mode on %s:%d%s", config.host, config.port, config.path)
    from aiohttp import web

    web.run_app(bot.web_app(), host=config.host, port=config.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
