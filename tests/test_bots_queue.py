"""The bots with NST_QUEUE_URL set: their jobs run on separate `python -m nst_core.worker` processes (a real Redis,
real workers: tests/support/queue.py). Admission stays the bots' own (per-user limit, queue cap, FIFO): a burst of
50 jobs from 5 users is served in a fair order, within the limits, each answered once; Discord and Slack (their
local fakes) get their pictures from a worker."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict

import pytest
from PIL import Image
from support import aio
from support.bots import decode
from support.discord_bot import final_edit, slash
from support.discord_bot import run as run_discord
from support.queue import needs_redis
from support.slack_bot import CHANNEL, image_message, uploaded
from support.slack_bot import run as run_slack

from bots.config import CommonConfig
from bots.jobs import StylizeService
from bots.messages import Busy
from bots.options import JobSpec

pytestmark = needs_redis


@pytest.fixture
def queue_url(redis_server, queue_workers, queue_weights, monkeypatch) -> str:
    monkeypatch.setenv("NST_WEIGHTS_DIR", str(queue_weights))  # the bot lists the styles the workers paint with
    return redis_server.url


def done_jobs(workers) -> int:
    return workers.log_text().count(": picture done in")


def test_a_burst_of_50_jobs_from_5_users_is_fair_limited_and_each_answered_once(queue_url):
    limits = {"NST_BOT_WORKERS": "2", "NST_BOT_MAX_PER_USER": "2", "NST_BOT_USER_COOLDOWN": "0"}
    config = CommonConfig.from_env({"NST_QUEUE_URL": queue_url, "NST_BOT_MAX_QUEUE": "50", **limits})
    service = StylizeService(config)
    assert service.remote is not None
    answers: dict[int, list[object]] = defaultdict(list)
    finished: list[str] = []
    widths = itertools.count(64)  # each request its own width: its result says which request it answers

    async def request(user: str, rid: int) -> None:
        width = next(widths)
        try:
            ticket = service.admit(user)
        except Busy as exc:
            answers[rid].append(str(exc))
            return
        assert service._active[user] <= 2
        async with ticket:
            img = await ticket.run(JobSpec("tiny", "Tiny"), Image.new("RGB", (width, 40), (width, 90, 30)))
        answers[rid].append(img.width == width)
        finished.append(user)

    async def lane(user: str, rids: range) -> None:
        for rid in rids:
            await request(user, rid)

    async def burst() -> None:
        users = [f"discord:{n}" for n in range(5)]
        lanes = [asyncio.ensure_future(lane(u, range(i * 10 + j * 5, i * 10 + j * 5 + 5)))
                 for i, u in enumerate(users) for j in range(2)]  # fmt: skip
        await asyncio.sleep(0)  # every lane has its first job admitted: two per user, the limit
        await asyncio.gather(*(request(u, 100 + i) for i, u in enumerate(users)))  # a third each: refused
        await asyncio.gather(*lanes)
        await service.close()

    aio.run(asyncio.wait_for(burst(), 60))
    assert sorted(answers) == [*range(50), *range(100, 105)]  # nothing lost
    assert all(len(a) == 1 for a in answers.values())  # each answered once
    assert all(answers[rid] == [True] for rid in range(50))  # with its own picture
    assert all("You already have 2 images" in answers[100 + i][0] for i in range(5))
    for n in range(10, 51):  # fair: no user runs ahead of another by more than its two places in line
        counts = Counter(finished[:n])
        assert max(counts.values()) - min(counts.get(u, 0) for u in {f"discord:{k}" for k in range(5)}) <= 3


def test_discord_gets_its_result_from_a_queue_worker(monkeypatch, queue_url, queue_workers):
    before = done_jobs(queue_workers)

    async def scenario(bot, fake):
        assert bot.service.remote is not None
        payload = slash(fake, style="tiny_b", size=64)
        bot._connection.parse_interaction_create(payload)
        done = await final_edit(fake, payload, timeout=30)
        assert len(done["files"]) == 1, done["payload"]
        assert decode(done["files"][0][2]).size == (64, 43)

    run_discord(monkeypatch, scenario, NST_QUEUE_URL=queue_url)
    assert done_jobs(queue_workers) == before + 1  # painted by a worker process, not by the bot


def test_slack_gets_its_result_from_a_queue_worker(queue_url, queue_workers):
    before = done_jobs(queue_workers)

    async def scenario(bot, fake, slack):
        fake.history[CHANNEL] = [image_message(fake, "F0ALICE", w=120, h=80)]
        status, _ = await slack.command("tiny size=64")
        assert status == 200
        params, img = await uploaded(fake, timeout=30)
        assert img.size == (64, 43) and "<@U0ALICE>" in params["initial_comment"]

    run_slack(scenario, NST_QUEUE_URL=queue_url)
    assert done_jobs(queue_workers) == before + 1
