"""Bot settings, read only from the environment so that no token ever sits in a file or a command line.

Every setting has a safe default except the platform tokens. Tokens are wrapped in `Secret`, whose repr and
str never show the value, so logging a config object (or an exception that mentions one) cannot leak it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from nst_core.arbitrary import arbitrary_status
from nst_core.device import make_profile
from nst_core.envvars import env_number
from nst_core.errors import OptionsError
from nst_core.fast import FastOptions
from nst_core.gatys import GatysOptions
from nst_core.lossnets import get_spec
from nst_core.options import field_default, field_range, option_field
from nst_core.queue_protocol import QueueSettings
from nst_core.settings import read_setting, read_settings, setting
from nst_core.video.container import VideoLimits

log = logging.getLogger("bots.config")

MIB = 1024 * 1024
CORE_GATYS_CPU_SIZE = field_default(GatysOptions, "size", "cpu")  # the core's one definition (384)
CORE_GATYS_GPU_SIZE = field_default(GatysOptions, "size", "cuda")

# Hosts a bot may download user images from; extra hosts (tests, gateways): NST_BOT_ALLOWED_MEDIA_HOSTS.
DISCORD_MEDIA_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")
# A leading dot means "this domain and every subdomain".
SLACK_FILE_HOSTS = ("files.slack.com", ".slack.com", ".slack-edge.com")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts a token or a download may reach over plain http."""
    host = (host or "").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable (never its secret value)."""


class Secret:
    """A token that refuses to print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def _get(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in _get(env, name).replace(";", ",").split(",") if p.strip())


def _ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    out = set()
    for part in _list(env, name):
        if not part.isdigit():
            raise ConfigError(f"{name} must be a comma-separated list of numeric IDs, got {part!r}.")
        out.add(int(part))
    return frozenset(out)


def _arbitrary(wanted: bool) -> bool:
    """NST_BOT_ARBITRARY, and whether the one-pass network loads here (nst_core reads $NST_ARBITRARY_WEIGHTS from
    the process's environment, as the jobs will): asked once at start, so that a missing network is one line in
    the log and a plain answer to people (or Gatys in its place), never a failing job."""
    if not wanted:
        return False
    ok, why = arbitrary_status()
    if not ok:
        log.warning("instant custom paintings are off: %s", why)
    return ok


def _queue_url(env: Mapping[str, str]) -> Secret:
    """NST_QUEUE_URL, checked at start by the core's one definition (it may hold Redis's password: a Secret)."""
    try:
        return Secret(QueueSettings.from_env(env).url)
    except OptionsError as exc:
        raise ConfigError(str(exc)) from None


SYNC_MODES = {
    "auto": "auto",
    "true": "auto",
    "yes": "auto",
    "on": "auto",
    "1": "auto",
    "always": "always",
    "force": "always",
    "never": "never",
    "false": "never",
    "no": "never",
    "off": "never",
    "0": "never",
}


def _sync_mode(env: Mapping[str, str], name: str) -> str:
    """auto: register the commands when they changed since the last start; always; never (true/false still work)."""
    raw = _get(env, name).lower() or "auto"
    if raw not in SYNC_MODES:
        raise ConfigError(f"{name} must be auto, always or never, got {raw!r}.")
    return SYNC_MODES[raw]


def default_state_dir(env: Mapping[str, str]) -> str:
    """$XDG_STATE_HOME/nst-bots, else ~/.local/state/nst-bots: small files a bot keeps between starts."""
    base = _get(env, "XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "nst-bots")


def _fast_max() -> float:
    return field_range(FastOptions, "size")[1]


def _gatys_size_max() -> float:
    return field_range(GatysOptions, "size")[1]


def _sizes() -> tuple[float, float]:
    """Sizes a setting may name: at least 64 px, at most what the fast engine accepts (the core's bound, read
    when the settings are)."""
    return (64, _fast_max())


def _gatys_steps() -> tuple[float, float]:
    return field_range(GatysOptions, "steps")


_MB = (1, 1024)


@dataclass(frozen=True)
class CommonConfig:
    """Limits shared by both bots: the worker pool, the queue, downloads, output size. Each `setting` is one
    environment variable declared once (default, range, help): `from_env` and the README's table use it."""

    workers: int = setting(
        "NST_BOT_WORKERS", 1, "stylisations running at once (1 = one GPU job at a time); with `NST_QUEUE_URL`, this "
        "bot's jobs on the queue at once (set it to the number of GPU workers); in-process on a GPU, set it to "
        "`NST_GATYS_BATCH` (8) so concurrent Gatys jobs of one size share a batch", bounds=(1, 64),
    )  # fmt: skip
    max_queue: int = setting("NST_BOT_MAX_QUEUE", 10, "jobs allowed to wait; more are told to come back later",
                             bounds=(0, 10_000))  # fmt: skip
    max_per_user: int = setting("NST_BOT_MAX_PER_USER", 1, "jobs one person may have in the queue at once",
                                bounds=(1, 100))  # fmt: skip
    user_cooldown: float = setting("NST_BOT_USER_COOLDOWN", 10.0, "seconds between two jobs of one person",
                                   bounds=(0, None))  # fmt: skip
    job_timeout: float = setting("NST_BOT_JOB_TIMEOUT", 600.0, "a running job is cancelled after this many seconds",
                                 bounds=(1, None))  # fmt: skip
    max_download: int = setting("NST_BOT_MAX_DOWNLOAD_MB", 20, "largest picture accepted, MiB", bounds=_MB, scale=MIB)
    download_timeout: float = setting("NST_BOT_DOWNLOAD_TIMEOUT", 30.0, "seconds allowed for a download",
                                      bounds=(1, None))  # fmt: skip
    max_input_pixels: int = setting("NST_BOT_MAX_INPUT_PIXELS", 40_000_000, "largest picture in pixels "
                                    "(decompression-bomb guard)", bounds=(1, None))  # fmt: skip
    max_size: int = setting("NST_BOT_MAX_SIZE", 1024, "largest output long side a user may ask for", bounds=_sizes,
                            at_most=(_fast_max,))  # fmt: skip
    default_size: int = setting("NST_BOT_DEFAULT_SIZE", 512, "output long side when the user gives none (never "
                                "enlarging)", bounds=_sizes, at_most=("max_size",))  # fmt: skip
    min_size: int = 64
    upload_limit: int = setting("NST_BOT_UPLOAD_LIMIT_MB", 8, "upload limit of both platforms, MiB (each may "
                                "override it)", bounds=_MB, scale=MIB)  # fmt: skip
    default_style: str = setting("NST_BOT_DEFAULT_STYLE", "", "style used when none is named (unset: the "
                                 "best-scoring installed one)")  # fmt: skip
    device: str = setting("NST_BOT_DEVICE", "auto", "`auto`, `cuda`, `cpu` or `mps`")
    precision: str = setting("NST_BOT_PRECISION", "auto", "autocast dtype: `auto`, `fp32`, `bf16`, `fp16`")
    memory_format: str = setting("NST_BOT_MEMORY_FORMAT", "auto", "`auto`, `channels_last` or `contiguous`")
    progress_interval: float = setting("NST_BOT_PROGRESS_INTERVAL", 2.0, "seconds between status edits (chat APIs "
                                       "rate-limit edits)", bounds=(0, None))  # fmt: skip
    gatys_enabled: bool = setting("NST_BOT_GATYS", True, "allow best-quality custom paintings (Gatys)")
    arbitrary_enabled: bool = setting("NST_BOT_ARBITRARY", True, "allow instant custom paintings (off by itself "
                                      "when the bundled network does not load)")  # fmt: skip
    recent_items: int = setting("NST_BOT_RECENT_ITEMS", 64, "results whose pictures are kept in memory for their "
                                "buttons (0: no buttons)", bounds=(0, 10_000))  # fmt: skip
    recent_minutes: float = setting("NST_BOT_RECENT_MINUTES", 60.0, "how long the buttons under a result keep "
                                    "working", bounds=(0, None))  # fmt: skip
    gatys_steps: int | None = setting("NST_BOT_GATYS_STEPS", None, "Gatys steps of a custom painting (unset or 0: "
                                      "the core's per-device default)", bounds=_gatys_steps)  # fmt: skip
    gatys_size: int = setting("NST_BOT_GATYS_SIZE", CORE_GATYS_CPU_SIZE, "default long side of a best-quality "
                              "painting (default: the core's)", gpu=CORE_GATYS_GPU_SIZE, bounds=_sizes,
                              at_most=("max_size", _gatys_size_max))  # fmt: skip
    gatys_loss_net: str = setting("NST_BOT_GATYS_LOSS_NET", "", "loss network of best quality (unset: the core's; "
                                  "an unknown one stops the bot at start)")  # fmt: skip
    extra_media_hosts: tuple[str, ...] = field(default_factory=tuple)  # NST_BOT_ALLOWED_MEDIA_HOSTS
    clips_enabled: bool = setting("NST_BOT_VIDEO", True, "accept animated GIFs/WebPs and short videos")
    clip_max_seconds: float = setting("NST_BOT_VIDEO_MAX_SECONDS", 15.0, "longest clip accepted, in seconds",
                                      bounds=(0.1, None))  # fmt: skip
    clip_max_frames: int = setting("NST_BOT_VIDEO_MAX_FRAMES", 450, "most frames accepted", bounds=(1, None))
    clip_max_pixels: int = setting("NST_BOT_VIDEO_MAX_PIXELS", 1920 * 1080, "largest frame accepted (as sent), in "
                                   "pixels", bounds=(1, None))  # fmt: skip
    clip_size: int = setting("NST_BOT_VIDEO_SIZE", 320, "largest long side of a GIF/video result (never enlarging)",
                             bounds=_sizes, at_most=("max_size",))  # fmt: skip
    queue_url: Secret = field(default_factory=lambda: Secret(""))  # NST_QUEUE_URL: jobs go to queue workers

    @property
    def custom_enabled(self) -> bool:
        """Whether a person's own painting can be used at all (by either method)."""
        return self.arbitrary_enabled or self.gatys_enabled

    @property
    def clip_limits(self) -> VideoLimits:
        """The largest GIF or video a bot accepts: shorter than the core's defaults (a chat clip, a shared GPU)."""
        return VideoLimits(self.clip_max_seconds, self.clip_max_frames, self.clip_max_pixels)

    @property
    def insecure_media_hosts(self) -> tuple[str, ...]:
        """Extra hosts that may be fetched over plain http: loopback ones only (a local test server)."""
        return tuple(h for h in self.extra_media_hosts if is_loopback(h))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CommonConfig:
        env = os.environ if env is None else env
        if env.get("NST_BOT_GATYS_STEPS", "").strip() == "0":  # 0 meant "the core's default" before the range
            env = {k: v for k, v in env.items() if k != "NST_BOT_GATYS_STEPS"}
        values = read_settings(cls, env, error=ConfigError)
        try:  # validated at start (fp16 on a CPU host too), not on every job
            device = make_profile(values["device"], values["precision"], values["memory_format"]).device.type
        except OptionsError as exc:
            raise ConfigError(f"NST_BOT_DEVICE / NST_BOT_PRECISION / NST_BOT_MEMORY_FORMAT: {exc}") from None
        if device != "cpu":
            values = read_settings(cls, env, gpu=True, error=ConfigError)  # the GPU defaults (the Gatys size)
        if values["gatys_loss_net"]:  # a typo should stop the bot at start, not fail every custom-style job later
            try:
                values["gatys_loss_net"] = get_spec(values["gatys_loss_net"]).name
            except OptionsError as exc:
                raise ConfigError(f"NST_BOT_GATYS_LOSS_NET: {exc}") from None
        values["arbitrary_enabled"] = _arbitrary(values["arbitrary_enabled"])
        hosts = tuple(h.lower() for h in _list(env, "NST_BOT_ALLOWED_MEDIA_HOSTS"))
        return cls(**values, extra_media_hosts=hosts, queue_url=_queue_url(env))


def _common_upload_mb() -> int:
    """NST_BOT_UPLOAD_LIMIT_MB's declared default: a platform's own limit defaults to the common one."""
    return option_field(CommonConfig, "upload_limit").metadata["setting"]["cpu"]


def _upload_limit(platform: type, env: Mapping[str, str]) -> int:
    """The platform's upload limit in bytes: its own variable, else NST_BOT_UPLOAD_LIMIT_MB (read once here)."""
    common = read_setting(option_field(CommonConfig, "upload_limit"), env, error=ConfigError)
    return read_setting(option_field(platform, "upload_limit"), env, error=ConfigError, default=common // MIB)


def _port(platform: type, env: Mapping[str, str]) -> int:
    """SLACK_PORT, else PORT (what hosting platforms set), checked by the same declaration."""
    f = option_field(platform, "port")
    m = f.metadata["setting"]
    if env.get(m["env"], "").strip() or not env.get("PORT", "").strip():
        return read_setting(f, env, error=ConfigError)
    lo, hi = m["bounds"]  # PORT read under its own name, so a bad one is reported as PORT
    return int(env_number("PORT", m["cpu"], lo=lo, hi=hi, env=env, error=ConfigError))


@dataclass(frozen=True)
class DiscordConfig:
    token: Secret
    guild_id: int | None = None  # DISCORD_GUILD_ID: sync commands to this guild only (instant; development)
    allowed_guilds: frozenset[int] = frozenset()  # DISCORD_ALLOWED_GUILDS (empty: all)
    allowed_channels: frozenset[int] = frozenset()  # DISCORD_ALLOWED_CHANNELS (empty: all)
    upload_limit: int = setting("DISCORD_UPLOAD_LIMIT_MB", _common_upload_mb(), "upper bound for result files, MiB "
                                "(boosted servers allow more; default: `NST_BOT_UPLOAD_LIMIT_MB`)", bounds=_MB,
                                scale=MIB)  # fmt: skip
    sync_commands: str = "auto"  # DISCORD_SYNC_COMMANDS: auto (when changed) | always | never
    state_dir: str = ""  # DISCORD_STATE_DIR: where the hash of the last synced commands is kept

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_token: bool = True) -> DiscordConfig:
        env = os.environ if env is None else env
        token = _get(env, "DISCORD_TOKEN")
        if require_token and not token:
            raise ConfigError("DISCORD_TOKEN is not set: put the bot token from the Developer Portal in it.")
        guild = _get(env, "DISCORD_GUILD_ID")
        if guild and not guild.isdigit():
            raise ConfigError(f"DISCORD_GUILD_ID must be a numeric server ID, got {guild!r}.")
        return cls(
            token=Secret(token),
            guild_id=int(guild) if guild else None,
            allowed_guilds=_ids(env, "DISCORD_ALLOWED_GUILDS"),
            allowed_channels=_ids(env, "DISCORD_ALLOWED_CHANNELS"),
            upload_limit=_upload_limit(cls, env),
            sync_commands=_sync_mode(env, "DISCORD_SYNC_COMMANDS"),
            state_dir=_get(env, "DISCORD_STATE_DIR") or default_state_dir(env),
        )


@dataclass(frozen=True)
class SlackConfig:
    bot_token: Secret
    signing_secret: Secret
    app_token: Secret = field(default_factory=lambda: Secret(""))  # SLACK_APP_TOKEN: Socket Mode when set
    api_url: str = ""  # SLACK_API_URL: Web API base (tests, enterprise gateways); "" = https://slack.com/api/
    allowed_channels: frozenset[str] = frozenset()  # SLACK_ALLOWED_CHANNELS (empty: all)
    upload_limit: int = setting("SLACK_UPLOAD_LIMIT_MB", _common_upload_mb(), "upper bound for result files, MiB "
                                "(default: `NST_BOT_UPLOAD_LIMIT_MB`)", bounds=_MB, scale=MIB)  # fmt: skip
    host: str = "0.0.0.0"  # SLACK_HOST (HTTP mode)
    port: int = setting("SLACK_PORT", 3000, "HTTP mode's port (else `PORT`, else this)", bounds=(1, 65535))
    path: str = "/slack/events"  # SLACK_PATH (HTTP mode): Request URL path for commands, events, shortcuts
    command: str = "/stylize"  # SLACK_COMMAND
    shortcut_id: str = "stylize_image"  # SLACK_SHORTCUT_ID: callback ID of the message shortcut
    history_limit: int = setting("SLACK_HISTORY_LIMIT", 100, "messages searched for the user's latest picture",
                                 bounds=(1, 1000))  # fmt: skip

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def api_base(self) -> str:
        """Web API base URL with the trailing slash slack_sdk expects."""
        url = self.api_url or "https://slack.com/api/"
        return url if url.endswith("/") else url + "/"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlackConfig:
        env = os.environ if env is None else env
        bot_token = _get(env, "SLACK_BOT_TOKEN")
        if not bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set: use the app's Bot User OAuth Token (xoxb-...).")
        app_token = _get(env, "SLACK_APP_TOKEN")
        secret = _get(env, "SLACK_SIGNING_SECRET")
        if not secret and not app_token:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify Slack's request signatures "
                "(or set SLACK_APP_TOKEN to use Socket Mode)."
            )
        api_url = _get(env, "SLACK_API_URL")
        if api_url and not api_url.startswith(("https://", "http://")):
            raise ConfigError(f"SLACK_API_URL must be an http(s) URL, got {api_url!r}.")
        if api_url.startswith("http://") and not is_loopback(urlsplit(api_url).hostname or ""):
            # Every Web API call carries the bot token: plain http only to a local test server.
            raise ConfigError("SLACK_API_URL must use https (plain http is only allowed for 127.0.0.1/localhost).")
        path = _get(env, "SLACK_PATH", "/slack/events") or "/slack/events"
        command = _get(env, "SLACK_COMMAND", "/stylize") or "/stylize"
        return cls(
            bot_token=Secret(bot_token),
            signing_secret=Secret(secret),
            app_token=Secret(app_token),
            api_url=api_url,
            allowed_channels=frozenset(_list(env, "SLACK_ALLOWED_CHANNELS")),
            upload_limit=_upload_limit(cls, env),
            host=_get(env, "SLACK_HOST", "0.0.0.0") or "0.0.0.0",
            port=_port(cls, env),
            path=path if path.startswith("/") else "/" + path,
            command=command if command.startswith("/") else "/" + command,
            shortcut_id=_get(env, "SLACK_SHORTCUT_ID", "stylize_image") or "stylize_image",
            history_limit=read_setting(option_field(cls, "history_limit"), env, error=ConfigError),
        )


T = TypeVar("T")


def startup(platform: type[T]) -> tuple[CommonConfig, T] | None:
    """What both `python -m bots.*` entry points do first: logging, then the environment (None + message on error)."""
    logging.basicConfig(
        level=os.environ.get("NST_BOT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return CommonConfig.from_env(), platform.from_env()
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return None
