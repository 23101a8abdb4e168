"""Register the command list with Discord only when it changed since this bot last did, or when told to.

Discord rate-limits command registration (and global changes take a while to reach every client), so pushing
the same list on every start is wasteful. The list's JSON payload, exactly as discord.py would send it, is hashed
together with the application and the target (a guild or global); the hash of the last successful sync is kept in
`DISCORD_STATE_DIR/discord-commands.json`. `DISCORD_SYNC_COMMANDS=always` (or `python -m bots.discord
--sync-commands`) forces a sync; `never` skips it. If the state folder cannot be written, every start syncs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from nst_core.atomic import atomic_write

log = logging.getLogger("bots.discord")

STATE_FILE = "discord-commands.json"


def command_payload(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None) -> list[dict[str, Any]]:
    """What `tree.sync(guild=...)` would send (no translator is used by this bot)."""
    return [command.to_dict(tree) for command in tree.get_commands(guild=guild)]


def payload_hash(payload: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class SyncState:
    """The hashes of the last synced command lists, one per application and target."""

    def __init__(self, folder: str) -> None:
        self.path = Path(folder).expanduser() / STATE_FILE

    def read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable command-sync state %s (%s)", self.path, type(exc).__name__)
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def write(self, key: str, digest: str) -> None:
        data = {**self.read(), key: digest}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, lambda p: p.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n"))
        except OSError as exc:
            log.warning("could not save the command-sync state in %s (%s): every start will sync", self.path, exc)


async def sync_commands(client: discord.Client, tree: app_commands.CommandTree, *, mode: str, guild_id: int | None,
                        state_dir: str) -> bool:  # fmt: skip
    """Sync `tree` to the guild (development) or globally if `mode` and the saved hash say so; True if it did."""
    if mode == "never":
        return False
    guild = discord.Object(id=guild_id) if guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    target = f"guild:{guild_id}" if guild_id else "global"
    key = f"{client.application_id}:{target}"
    digest = payload_hash(command_payload(tree, guild))
    state = SyncState(state_dir)
    if mode != "always" and state.read().get(key) == digest:
        log.info("commands unchanged since the last sync (%s): not registering them again", target)
        return False
    synced = await tree.sync(guild=guild)
    state.write(key, digest)
    if guild is not None:
        log.info("synced %d commands to guild %s (development mode)", len(synced), guild_id)
    else:
        log.info("synced %d global commands (may take up to an hour to appear)", len(synced))
    return True
