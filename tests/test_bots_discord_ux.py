"""Discord bot experience: commands synced only when they change, user installs (DMs and group DMs), /styles with
previews, and the buttons under a result. Real discord.py against the local fake of Discord (127.0.0.1)."""

from __future__ import annotations

import pytest
from _bots_support import (
    decode,
    private_interaction,
    tiny_styles,  # noqa: F401 - pytest fixture
    weights_dir,  # noqa: F401 - pytest fixture
)
from test_bots_discord import final_edit, run, slash

from bots.discord.sync import STATE_FILE

pytestmark = pytest.mark.usefixtures("tiny_styles")


def test_commands_are_synced_only_when_they_changed_or_when_forced(monkeypatch, tmp_path):
    state = str(tmp_path / "state")
    syncs: list[list[dict]] = []

    async def count_syncs(bot, fake):
        syncs.append([c["commands"] for c in fake.of("sync")])

    def start(discord_env: dict | None = None, **env: str) -> list[dict]:
        run(monkeypatch, count_syncs, discord_env={"DISCORD_STATE_DIR": state, **(discord_env or {})}, **env)
        return syncs[-1]

    first = start()
    assert len(first) == 1 and (tmp_path / "state" / STATE_FILE).is_file()
    assert start() == []  # same commands: Discord's bulk-overwrite endpoint is not called
    changed = start(NST_BOT_GATYS="false")  # /stylize loses its style_image option
    stylize = next(c for c in changed[0] if c["name"] == "stylize")
    assert len(changed) == 1 and "style_image" not in [o["name"] for o in stylize["options"]]
    assert start(NST_BOT_GATYS="false") == []
    assert len(start({"DISCORD_SYNC_COMMANDS": "always"}, NST_BOT_GATYS="false")) == 1  # forced
    assert start({"DISCORD_SYNC_COMMANDS": "never"}) == []  # changed back, but told not to
    assert len(start()) == 1  # ... so the next start registers the change

    # Every command may be used through a user install, in DMs and group DMs.
    for command in first[0]:
        assert sorted(command["integration_types"]) == [0, 1], command["name"]
        assert sorted(command["contexts"]) == [0, 1, 2], command["name"]


def test_sync_state_in_a_folder_that_cannot_be_written_still_syncs(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    seen = []

    async def scenario(bot, fake):
        seen.append(len(fake.of("sync")))

    for _ in range(2):
        run(monkeypatch, scenario, discord_env={"DISCORD_STATE_DIR": str(blocker / "state")})
    assert seen == [1, 1]


def test_stylize_works_in_a_group_dm_through_a_user_install(monkeypatch):
    async def scenario(bot, fake):
        for group in (False, True):
            uid = 7100 + group
            payload = private_interaction(slash(fake, user_id=uid, style="tiny", size=64)["data"], user_id=uid,
                                          group=group)  # fmt: skip
            bot._connection.parse_interaction_create(payload)
            done = await final_edit(fake, payload)
            assert done["files"], done["payload"]
            assert decode(done["files"][0][2]).size == (64, 43)

    run(monkeypatch, scenario)
