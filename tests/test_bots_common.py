"""Shared bot machinery: configuration, safe downloads, option parsing, encoding under limits, the job queue."""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import pytest
from aiohttp import web
from support import aio
from support.bots import FakeServer, MediaRoutes, decode, picture, png_bytes, tiny_styles, weights_dir  # noqa: F401

import nst_core
from bots.config import MIB, CommonConfig, ConfigError, DiscordConfig, Secret, SlackConfig
from bots.encode import encode_under_limit
from bots.fetch import check_url, download, fetch_image, host_allowed
from bots.jobs import StylizeService
from bots.messages import BadOptions, Busy, FetchError, JobTimeout, friendly_error, progress_text, queue_text
from bots.options import JobSpec, check_size, check_strength, find_style, parse_text
from nst_core.gatys import MAX_SIZE as GATYS_MAX_SIZE


# ------------------------------------------------------------------------------------------------ config
def test_config_defaults_and_env():
    cfg = CommonConfig.from_env({})
    assert cfg.workers == 1 and cfg.max_per_user == 1 and cfg.upload_limit == 8 * MIB
    cfg = CommonConfig.from_env(
        {"NST_BOT_WORKERS": "2", "NST_BOT_MAX_QUEUE": "3", "NST_BOT_ALLOWED_MEDIA_HOSTS": "127.0.0.1, Localhost"}
    )
    assert (cfg.workers, cfg.max_queue, cfg.extra_media_hosts) == (2, 3, ("127.0.0.1", "localhost"))


@pytest.mark.parametrize(
    "env, name",
    [
        ({"NST_BOT_WORKERS": "two"}, "NST_BOT_WORKERS"),
        ({"NST_BOT_WORKERS": "0"}, "NST_BOT_WORKERS"),
        ({"NST_BOT_USER_COOLDOWN": "-1"}, "NST_BOT_USER_COOLDOWN"),
        ({"NST_BOT_GATYS": "maybe"}, "NST_BOT_GATYS"),
    ],
)
def test_config_errors_name_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        CommonConfig.from_env(env)


def test_tokens_are_required_and_never_printed():
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        DiscordConfig.from_env({})
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        SlackConfig.from_env({"SLACK_SIGNING_SECRET": "s"})
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        SlackConfig.from_env({"SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(ConfigError, match="DISCORD_GUILD_ID"):
        DiscordConfig.from_env({"DISCORD_TOKEN": "abc", "DISCORD_GUILD_ID": "general"})
    cfg = DiscordConfig.from_env({"DISCORD_TOKEN": "super-secret-token", "DISCORD_GUILD_ID": "42"})
    assert cfg.guild_id == 42 and cfg.token.get() == "super-secret-token"
    assert "super-secret-token" not in repr(cfg) and "super-secret-token" not in str(cfg.token)
    slack = SlackConfig.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-secret", "SLACK_APP_TOKEN": "xapp-secret", "SLACK_API_URL": "http://127.0.0.1:1/api"}
    )
    assert slack.socket_mode and slack.api_base == "http://127.0.0.1:1/api/"
    assert "xoxb-secret" not in repr(slack) and "xapp-secret" not in repr(slack)
    assert repr(Secret("")) == "Secret('')"


# ------------------------------------------------------------------------------------------------- fetch
def test_host_allow_list():
    hosts = ("files.slack.com", ".slack.com", ".slack-edge.com")
    assert host_allowed("files.slack.com", hosts)
    assert host_allowed("acme.slack.com", hosts) and host_allowed("a.b.slack-edge.com", hosts)
    assert not host_allowed("slack.com.evil.org", hosts)
    assert not host_allowed("evilslack.com", hosts)
    assert not host_allowed("slack.com", (".slack.com",))
    with pytest.raises(FetchError, match="hosted by the chat platform"):
        check_url("https://example.org/cat.png", hosts)
    with pytest.raises(FetchError, match="https"):
        check_url("http://files.slack.com/cat.png", hosts)
    with pytest.raises(FetchError, match="https"):
        check_url("file:///etc/passwd", hosts)
    assert check_url("http://127.0.0.1:9/x.png", hosts, insecure_hosts=("127.0.0.1",)) == "127.0.0.1"


def test_plain_http_only_for_loopback_hosts():
    loopback = ("127.0.0.1", "127.8.9.10", "localhost", "::1")
    for url in ("http://127.0.0.1:9/x.png", "http://127.8.9.10/x.png", "http://localhost:9/x.png", "http://[::1]:9/x"):
        assert check_url(url, (), insecure_hosts=loopback)
    # A listed extra host that is not loopback is still allowed, but only over https: tokens never go out in clear.
    with pytest.raises(FetchError, match="https"):
        check_url("http://cdn.example.net/x.png", (), insecure_hosts=("cdn.example.net",))
    with pytest.raises(FetchError, match="https"):
        check_url("http://10.0.0.1/x.png", (), insecure_hosts=("10.0.0.1",))
    assert check_url("https://cdn.example.net/x.png", (), insecure_hosts=("cdn.example.net",)) == "cdn.example.net"
    cfg = CommonConfig.from_env({"NST_BOT_ALLOWED_MEDIA_HOSTS": "cdn.example.net, 127.0.0.1, ::1, localhost"})
    assert cfg.insecure_media_hosts == ("127.0.0.1", "::1", "localhost")
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    with pytest.raises(ConfigError, match="SLACK_API_URL must use https"):
        SlackConfig.from_env({**env, "SLACK_API_URL": "http://gateway.example.net/api/"})
    assert SlackConfig.from_env({**env, "SLACK_API_URL": "https://gateway.example.net/api"}).api_url
    assert SlackConfig.from_env({**env, "SLACK_API_URL": "http://localhost:8080/api"}).api_url


async def _with_media(scenario):
    server = FakeServer()
    media = MediaRoutes(server)

    async def redirect(request: web.Request) -> web.Response:
        server.record("redirect", auth=request.headers.get("Authorization"))
        raise web.HTTPFound(request.query["to"])

    server.app.router.add_get("/redirect", redirect)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            await scenario(server, media, session)
    finally:
        await server.stop()


def _dl(session, url, **kw):
    kw.setdefault("allowed_hosts", ())
    kw.setdefault("insecure_hosts", ("127.0.0.1", "localhost"))
    kw.setdefault("max_bytes", 2 * MIB)
    kw.setdefault("timeout", 10)
    return download(session, url, **kw)


def test_download_checks():
    async def scenario(server, media, session):
        ok = media.add("ok.png", png_bytes())
        assert await _dl(session, ok) == png_bytes()
        img = await fetch_image(
            session, ok, allowed_hosts=(), insecure_hosts=("127.0.0.1",), max_bytes=MIB, timeout=5, max_pixels=10**6
        )
        assert img.size == (96, 64) and img.mode == "RGB"
        # Declared size over the cap: rejected before the body is read.
        big = media.add("big.png", b"\x89PNG" + b"\0" * (300 * 1024))
        with pytest.raises(FetchError, match="the limit is 100 KB"):
            await _dl(session, big, max_bytes=100 * 1024)
        # No Content-Length and an endless body: the streaming cap stops it.
        with pytest.raises(FetchError, match="larger than the 1 MB limit"):
            await _dl(session, server.base + "/stream/endless", max_bytes=MIB)
        with pytest.raises(FetchError, match="not an image"):
            await _dl(session, media.add("notes.txt", b"hello", "text/plain"))
        with pytest.raises(FetchError, match=r"web page.*files:read"):
            await _dl(session, media.add("login.html", b"<html>", "text/html"), html_hint="files:read?")
        with pytest.raises(FetchError, match="404"):
            await _dl(session, server.base + "/media/missing.png")
        with pytest.raises(FetchError, match="longer than 1 s"):
            await _dl(session, server.base + "/stream/slow", timeout=1)
        with pytest.raises(FetchError, match="network error"):
            await _dl(session, "http://127.0.0.1:1/x.png")

    aio.run(_with_media(scenario))


def test_redirects_are_checked_and_credentials_stay_home():
    async def scenario(server, media, session):
        ok = media.add("ok.png", png_bytes())
        auth = {"Authorization": "Bearer xoxb-secret"}
        # Same host: followed, token kept.
        same = f"{server.base}/redirect?to={ok}"
        assert await _dl(session, same, headers=auth) == png_bytes()
        assert server.of("download")[-1]["auth"] == "Bearer xoxb-secret"
        # Another allowed host: followed, but the token is not sent there.
        other = ok.replace("127.0.0.1", "localhost")
        assert await _dl(session, f"{server.base}/redirect?to={other}", headers=auth) == png_bytes()
        assert server.of("download")[-1]["auth"] is None
        # A host outside the allow-list: refused, never contacted.
        before = len(server.calls)
        with pytest.raises(FetchError, match="hosted by the chat platform"):
            await _dl(session, f"{server.base}/redirect?to=https://example.invalid/x.png")
        assert [c["kind"] for c in server.calls[before:]] == ["redirect"]

    aio.run(_with_media(scenario))


def test_fake_image_gets_a_clear_message():
    async def scenario(server, media, session):
        url = media.add("fake.png", b"this is not really a png file at all", "image/png")
        with pytest.raises(nst_core.ImageError) as info:
            await fetch_image(
                session, url, allowed_hosts=(), insecure_hosts=("127.0.0.1",), max_bytes=MIB, timeout=5,
                max_pixels=10**6,
            )  # fmt: skip
        assert friendly_error(info.value) == str(info.value) and str(info.value)

    aio.run(_with_media(scenario))


# ----------------------------------------------------------------------------------------------- options
def test_parse_text():
    req = parse_text("starry_night strength=0.5 colors size:512")
    assert (req.style, req.options) == ("starry_night", {"strength": "0.5", "preserve_colors": "yes", "size": "512"})
    req = parse_text("<https://files.slack.com/files-pri/T1-F1/a.png|a.png> --strength=1")
    assert req.url == "https://files.slack.com/files-pri/T1-F1/a.png" and req.style is None
    assert parse_text("help").word == "help" and parse_text("styles").word == "styles"
    req = parse_text("Starry Night strength=0.5")  # a display name, as people type it
    assert (req.style, req.options) == ("Starry Night", {"strength": "0.5"})
    for bad, match in [
        ("zoom=3", "Unknown option"),
        ('"open', "unbalanced"),
        ("https://a/x https://b/y", "at most one"),
    ]:
        with pytest.raises(BadOptions, match=match):
            parse_text(bad)


@pytest.mark.usefixtures("tiny_styles")
def test_styles_found_by_display_name_or_part_of_it():
    cfg = CommonConfig.from_env({"NST_BOT_DEFAULT_STYLE": "tiny"})
    for typed, name in [("Tiny B", "tiny_b"), ("tiny-b", "tiny_b"), ("tiny", "tiny"), (None, "tiny")]:
        assert find_style(typed, cfg).name == name, typed
    with pytest.raises(BadOptions, match=r"fits several styles.*tiny_b"):
        find_style("tin", cfg)
    with pytest.raises(BadOptions, match="I don't know the style `monet`"):
        find_style("monet", cfg)


def test_option_checks():
    cfg = CommonConfig.from_env({})
    assert check_strength("0.25") == 0.25 and check_strength(None) is None
    for bad in ("abc", "1.5", "-0.1", float("nan"), "inf"):
        with pytest.raises(BadOptions, match="strength") as info:
            check_strength(bad)
        assert info.value.field == "strength"
    with pytest.raises(BadOptions) as info:  # the bounds and the wording are nst_core's
        check_strength("1.5")
    with pytest.raises(nst_core.OptionsError) as core:
        nst_core.FastOptions("any", strength=1.5).validate()
    assert str(info.value) == str(core.value)
    assert check_size("512px", cfg) == 512
    for bad in ("big", "10", "100000", "5.5"):
        with pytest.raises(BadOptions, match="size") as info:
            check_size(bad, cfg)
        assert info.value.field == "size"
    # The server may allow more than the Gatys engine: custom-style sizes are checked by GatysOptions too.
    big = CommonConfig.from_env({"NST_BOT_MAX_SIZE": "8192", "NST_BOT_GATYS_SIZE": "8192"})
    assert big.gatys_size == GATYS_MAX_SIZE and check_size("6000", big) == 6000
    with pytest.raises(BadOptions, match=str(GATYS_MAX_SIZE)):
        check_size("6000", big, method="gatys")
    assert check_size(str(GATYS_MAX_SIZE), big, method="gatys") == GATYS_MAX_SIZE
    assert check_size("6000", big, method="arbitrary") == 6000  # the one-pass network tiles what does not fit
    spec = JobSpec("tiny", "Tiny")
    assert spec.resolved_size((300, 200), cfg) == 300  # the default never upscales
    assert spec.resolved_size((3000, 2000), cfg) == cfg.default_size
    assert JobSpec("tiny", "Tiny", size=900).resolved_size((300, 200), cfg) == 900
    kw = JobSpec(None, "custom", method="gatys").stylize_kwargs((800, 600), cfg)
    assert kw["method"] == "gatys" and "strength" not in kw and kw["size"] == cfg.gatys_size
    kw = JobSpec(None, "custom", 0.5, method="arbitrary").stylize_kwargs((800, 600), cfg)
    assert kw["method"] == "arbitrary" and kw["strength"] == 0.5 and kw["size"] == cfg.default_size
    assert "steps" not in kw and "preview_every" not in kw  # Gatys' options are not the one-pass network's


# ------------------------------------------------------------------------------------------------ encode
def test_encode_under_limit():
    img = picture(256, 192, seed=3)
    enc = encode_under_limit(img, 8 * MIB)
    assert enc.format == "PNG" and decode(enc.data).size == (256, 192)
    png_len = len(enc.data)
    enc = encode_under_limit(img, png_len // 2, lossy="JPEG")
    assert enc.format == "JPEG" and len(enc.data) <= png_len // 2 and enc.size == (256, 192)
    enc = encode_under_limit(img, 3000, lossy="WEBP")
    assert enc.format == "WEBP" and len(enc.data) <= 3000 and enc.size[0] < 256
    assert decode(enc.data).size == enc.size and enc.filename("x") == "x.webp"
    with pytest.raises(Exception, match="too large"):
        encode_under_limit(img, 20)


# ------------------------------------------------------------------------------------------------- queue
class GatedStylize:
    """Stands in for nst_core.stylize to control timing; reports progress and honours cancel like the core."""

    def __init__(self) -> None:
        self.gates: dict[int, threading.Event] = {}
        self.started: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, content, style, *, style_images=(), callback=None, cancel=None, **kw):
        key = content.size[0]
        with self.lock:
            self.started.append(key)
        gate = self.gates.setdefault(key, threading.Event())
        for step in range(1, 1001):
            if cancel is not None and cancel.is_set():
                raise nst_core.Cancelled("Stopped on request.")
            if gate.wait(0.01):
                break
            if callback and step == 5:
                callback(nst_core.Progress(step=2, total=5))
        return content


async def wait_until(condition, timeout: float = 30.0) -> None:
    """Poll instead of sleeping a guessed time; on timeout just return and let the test's asserts say what is off."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _cfg(**kw) -> CommonConfig:
    base = {"user_cooldown": 0.0, "progress_interval": 0.01, "max_queue": 5}
    base.update(kw)
    return CommonConfig(**base)


def test_queue_positions_progress_and_fifo():
    async def scenario():
        fake = GatedStylize()
        svc = StylizeService(_cfg(), stylize=fake)
        spec = JobSpec("tiny", "Tiny")
        statuses: dict[str, list[str]] = {"a": [], "b": [], "c": []}

        async def job(user: str, width: int):
            async def on_status(text: str) -> None:
                statuses[user].append(text)

            async with svc.admit(user) as ticket:
                return await ticket.run(spec, picture(width, 8), on_status=on_status)

        ta = asyncio.create_task(job("a", 10))
        await wait_until(lambda: fake.started == [10])
        tb = asyncio.create_task(job("b", 20))
        await wait_until(lambda: svc.stats()["waiting"] == 1)
        tc = asyncio.create_task(job("c", 30))
        await wait_until(
            lambda: (
                svc.stats()["waiting"] == 2
                and statuses["b"][-1:] == ["You are next in the queue…"]
                and statuses["c"][-1:] == ["You are number 2 in the queue…"]
                and "Stylising… 40%" in statuses["a"]
            )
        )
        assert fake.started == [10] and svc.stats() == {"running": 1, "waiting": 2, "pending": 2}
        assert statuses["b"][-1] == "You are next in the queue…"
        assert statuses["c"][-1] == "You are number 2 in the queue…"
        assert "Stylising… 40%" in statuses["a"]
        fake.gates.setdefault(10, threading.Event()).set()
        assert (await ta).size == (10, 8)
        await wait_until(lambda: fake.started == [10, 20] and statuses["c"][-1] == "You are next in the queue…")
        assert fake.started == [10, 20] and statuses["c"][-1] == "You are next in the queue…"
        fake.gates.setdefault(20, threading.Event()).set()
        fake.gates.setdefault(30, threading.Event()).set()
        await asyncio.gather(tb, tc)
        assert fake.started == [10, 20, 30] and svc.stats() == {"running": 0, "waiting": 0, "pending": 0}
        await svc.close()

    aio.run(scenario())


def test_admission_limits():
    async def scenario():
        now = [100.0]
        fake = GatedStylize()
        svc = StylizeService(_cfg(max_queue=1, user_cooldown=30.0), stylize=fake, clock=lambda: now[0])
        spec = JobSpec("tiny", "Tiny")
        t1 = svc.admit("u1")
        with pytest.raises(Busy, match="already have an image"):
            svc.admit("u1")
        run1 = asyncio.create_task(t1.run(spec, picture(10, 8)))
        await wait_until(lambda: fake.started == [10])
        t2 = svc.admit("u2")  # waits: queue now holds one
        with pytest.raises(Busy, match="queue is full"):
            svc.admit("u3")
        assert t2.position == 1
        fake.gates.setdefault(10, threading.Event()).set()
        await run1
        await t1.__aexit__(None, None, None)
        with pytest.raises(Busy, match=r"wait 30 s"):
            svc.admit("u1")
        now[0] += 31
        svc.admit("u1")
        await t2.__aexit__(None, None, None)  # given back without running: no cooldown for u2
        svc.admit("u2")
        await svc.close()
        with pytest.raises(Busy, match="shutting down"):
            svc.admit("u4")

    aio.run(scenario())


def test_timeout_cancels_the_job_and_frees_the_worker():
    async def scenario():
        fake = GatedStylize()
        svc = StylizeService(_cfg(job_timeout=0.3), stylize=fake)
        spec = JobSpec("tiny", "Tiny")
        async with svc.admit("slow") as ticket:
            with pytest.raises(JobTimeout, match="stopped"):
                await ticket.run(spec, picture(10, 8))
        assert svc.stats()["running"] == 0
        fake.gates.setdefault(20, threading.Event()).set()
        async with svc.admit("next") as ticket:
            out = await ticket.run(spec, picture(20, 8))
        assert out.size == (20, 8)
        await svc.close()

    aio.run(scenario())


def test_gatys_loss_net_is_checked_at_start():
    assert CommonConfig.from_env({"NST_BOT_GATYS_LOSS_NET": "SqueezeNet"}).gatys_loss_net == "squeezenet"
    with pytest.raises(ConfigError, match=r"NST_BOT_GATYS_LOSS_NET.*vgg19"):  # names the variable and the choices
        CommonConfig.from_env({"NST_BOT_GATYS_LOSS_NET": "vgg91"})


def test_messages():
    assert queue_text(0) == "Starting…" and queue_text(3) == "You are number 3 in the queue…"
    assert progress_text(nst_core.Progress(step=2, total=5)) == "Stylising… 40%"
    assert progress_text(nst_core.Progress(step=1, total=4, scale=2, scales=3)) == (
        "Stylising… 25% (coarse-to-fine pass 2 of 3)"
    )
    # with a pace to go by: an estimate of the time left (10 s for 5 steps -> 2 s a step, 45 steps to go)
    assert progress_text(nst_core.Progress(step=5, total=50, elapsed=10.0)) == "Stylising… 10%, about 2 min left"
    assert "smaller" in friendly_error(nst_core.DeviceOutOfMemory("Out of memory."))
    assert "logged" in friendly_error(ZeroDivisionError("boom"))
    assert "boom" not in friendly_error(ZeroDivisionError("boom"))
    assert friendly_error(nst_core.StyleNotFoundError("Unknown style 'x'.")) == "Unknown style 'x'."


def test_slack_s_port_falls_back_to_port_and_a_bad_one_is_named_as_set():
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert SlackConfig.from_env({**base, "PORT": "8080"}).port == 8080
    assert SlackConfig.from_env({**base, "PORT": "abc", "SLACK_PORT": "9000"}).port == 9000  # SLACK_PORT wins
    with pytest.raises(ConfigError, match=r"^PORT must be"):
        SlackConfig.from_env({**base, "PORT": "abc"})
    with pytest.raises(ConfigError, match=r"^SLACK_PORT must be"):
        SlackConfig.from_env({**base, "SLACK_PORT": "99999"})


def test_gatys_steps_zero_still_means_the_core_s_default():
    assert CommonConfig.from_env({"NST_BOT_GATYS_STEPS": "0"}).gatys_steps is None
    assert CommonConfig.from_env({"NST_BOT_GATYS_STEPS": "40"}).gatys_steps == 40
