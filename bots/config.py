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
from nst_core.fast.run import MAX_SIZE as FAST_MAX_SIZE
from nst_core.gatys import MAX_SIZE as GATYS_MAX_SIZE
from nst_core.gatys import GatysOptions
from nst_core.lossnets import get_spec
from nst_core.options import field_default
from nst_core.queue_protocol import QueueSettings
from nst_core.video.container import VideoLimits

log = logging.getLogger("bots.config")

MIB = 1024 * 1024
CORE_GATYS_CPU_SIZE = field_default(GatysOptions, "size", "cpu")  # the core's one definition (384)

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


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int | None = None) -> int:
    return int(env_number(name, default, lo=lo, hi=hi, env=env, error=ConfigError))


def _float(env: Mapping[str, str], name: str, default: float, lo: float) -> float:
    return float(env_number(name, default, lo=lo, whole=False, env=env, error=ConfigError))


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in _get(env, name).replace(";", ",").split(",") if p.strip())


def _ids(env: Mapping[str, str], name: str) -> frozenset[int]:
    out = set()
    for part in _list(env, name):
        if not part.isdigit():
            raise ConfigError(f"{name} must be a comma-separated list of numeric IDs, got {part!r}.")
        out.add(int(part))
    return frozenset(out)


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name).lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}.")


def _arbitrary(env: Mapping[str, str]) -> bool:
    """NST_BOT_ARBITRARY, and whether the one-pass network loads here (nst_core reads $NST_ARBITRARY_WEIGHTS from
    the process's environment, as the jobs will): asked once at start, so that a missing network is one line in
    the log and a plain answer to people (or Gatys in its place), never a failing job."""
    if not _bool(env, "NST_BOT_ARBITRARY", True):
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


@dataclass(frozen=True)
class CommonConfig:
    """Limits shared by both bots: the worker pool, the queue, downloads, output size."""

    workers: int = 1  # NST_BOT_WORKERS: concurrent stylisations (1 = one GPU job at a time)
    max_queue: int = 10  # NST_BOT_MAX_QUEUE: jobs allowed to wait for a worker
    max_per_user: int = 1  # NST_BOT_MAX_PER_USER: jobs one user may have admitted at once
    user_cooldown: float = 10.0  # NST_BOT_USER_COOLDOWN: seconds between two jobs of one user
    job_timeout: float = 600.0  # NST_BOT_JOB_TIMEOUT: seconds before a running job is cancelled
    max_download: int = 20 * MIB  # NST_BOT_MAX_DOWNLOAD_MB
    download_timeout: float = 30.0  # NST_BOT_DOWNLOAD_TIMEOUT
    max_input_pixels: int = 40_000_000  # NST_BOT_MAX_INPUT_PIXELS: decompression-bomb guard
    default_size: int = 512  # NST_BOT_DEFAULT_SIZE: output long side when the user gives none
    max_size: int = 1024  # NST_BOT_MAX_SIZE: largest long side a user may ask for
    min_size: int = 64
    upload_limit: int = 8 * MIB  # NST_BOT_UPLOAD_LIMIT_MB (platform-specific overrides below)
    default_style: str = ""  # NST_BOT_DEFAULT_STYLE: used when no style is named ("" = first installed)
    device: str = "auto"  # NST_BOT_DEVICE
    precision: str = "auto"  # NST_BOT_PRECISION: auto | fp32 | bf16 | fp16 (nst_core.device)
    memory_format: str = "auto"  # NST_BOT_MEMORY_FORMAT: auto | channels_last | contiguous
    progress_interval: float = 2.0  # NST_BOT_PROGRESS_INTERVAL: seconds between status edits
    gatys_enabled: bool = True  # NST_BOT_GATYS: allow "best" custom paintings (Gatys optimisation, slow on CPU)
    arbitrary_enabled: bool = True  # NST_BOT_ARBITRARY and the network loads here: "instant" custom paintings
    recent_items: int = 64  # NST_BOT_RECENT_ITEMS: source pictures kept in memory for the result buttons (0 = off)
    recent_minutes: float = 60.0  # NST_BOT_RECENT_MINUTES: how long the buttons under a result keep working
    gatys_steps: int | None = None  # NST_BOT_GATYS_STEPS (None: nst_core's per-device default)
    gatys_size: int = CORE_GATYS_CPU_SIZE  # NST_BOT_GATYS_SIZE: default long side (None there: the core's per device)
    gatys_loss_net: str = ""  # NST_BOT_GATYS_LOSS_NET ("" = nst_core default, e.g. vgg19)
    extra_media_hosts: tuple[str, ...] = field(default_factory=tuple)  # NST_BOT_ALLOWED_MEDIA_HOSTS
    clips_enabled: bool = True  # NST_BOT_VIDEO: accept animated GIFs/WebPs and short videos
    clip_max_seconds: float = 15.0  # NST_BOT_VIDEO_MAX_SECONDS
    clip_max_frames: int = 450  # NST_BOT_VIDEO_MAX_FRAMES
    clip_max_pixels: int = 1920 * 1080  # NST_BOT_VIDEO_MAX_PIXELS: per frame, as sent
    clip_size: int = 320  # NST_BOT_VIDEO_SIZE: largest long side of a GIF/video result (never enlarging)
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
        max_size = _int(env, "NST_BOT_MAX_SIZE", 1024, 64, FAST_MAX_SIZE)
        steps = _int(env, "NST_BOT_GATYS_STEPS", 0, 0, 100_000)
        precision = _get(env, "NST_BOT_PRECISION", "auto") or "auto"
        memory_format = _get(env, "NST_BOT_MEMORY_FORMAT", "auto") or "auto"
        try:  # validated at start (fp16 on a CPU host too), not on every job
            device = make_profile(_get(env, "NST_BOT_DEVICE", "auto") or "auto", precision, memory_format).device.type
        except OptionsError as exc:
            raise ConfigError(f"NST_BOT_DEVICE / NST_BOT_PRECISION / NST_BOT_MEMORY_FORMAT: {exc}") from None
        loss_net = _get(env, "NST_BOT_GATYS_LOSS_NET")
        if loss_net:  # a typo should stop the bot at start, not fail every custom-style job later
            try:
                loss_net = get_spec(loss_net).name
            except OptionsError as exc:
                raise ConfigError(f"NST_BOT_GATYS_LOSS_NET: {exc}") from None
        return cls(
            workers=_int(env, "NST_BOT_WORKERS", 1, 1, 64),
            max_queue=_int(env, "NST_BOT_MAX_QUEUE", 10, 0, 10_000),
            max_per_user=_int(env, "NST_BOT_MAX_PER_USER", 1, 1, 100),
            user_cooldown=_float(env, "NST_BOT_USER_COOLDOWN", 10.0, 0.0),
            job_timeout=_float(env, "NST_BOT_JOB_TIMEOUT", 600.0, 1.0),
            max_download=_int(env, "NST_BOT_MAX_DOWNLOAD_MB", 20, 1, 1024) * MIB,
            download_timeout=_float(env, "NST_BOT_DOWNLOAD_TIMEOUT", 30.0, 1.0),
            max_input_pixels=_int(env, "NST_BOT_MAX_INPUT_PIXELS", 40_000_000, 1),
            default_size=min(_int(env, "NST_BOT_DEFAULT_SIZE", 512, 64, FAST_MAX_SIZE), max_size),
            max_size=max_size,
            upload_limit=_int(env, "NST_BOT_UPLOAD_LIMIT_MB", 8, 1, 1024) * MIB,
            default_style=_get(env, "NST_BOT_DEFAULT_STYLE"),
            device=_get(env, "NST_BOT_DEVICE", "auto") or "auto",
            precision=precision,
            memory_format=memory_format,
            progress_interval=_float(env, "NST_BOT_PROGRESS_INTERVAL", 2.0, 0.0),
            gatys_enabled=_bool(env, "NST_BOT_GATYS", True),
            arbitrary_enabled=_arbitrary(env),
            recent_items=_int(env, "NST_BOT_RECENT_ITEMS", 64, 0, 10_000),
            recent_minutes=_float(env, "NST_BOT_RECENT_MINUTES", 60.0, 0.0),
            gatys_steps=steps or None,
            # NST_BOT_MAX_SIZE may exceed what the Gatys engine accepts: the default custom size never does.
            gatys_size=min(
                _int(env, "NST_BOT_GATYS_SIZE", field_default(GatysOptions, "size", device), 64, FAST_MAX_SIZE),
                max_size,
                GATYS_MAX_SIZE,
            ),
            gatys_loss_net=loss_net,
            extra_media_hosts=tuple(h.lower() for h in _list(env, "NST_BOT_ALLOWED_MEDIA_HOSTS")),
            clips_enabled=_bool(env, "NST_BOT_VIDEO", True),
            clip_max_seconds=_float(env, "NST_BOT_VIDEO_MAX_SECONDS", 15.0, 0.1),
            clip_max_frames=_int(env, "NST_BOT_VIDEO_MAX_FRAMES", 450, 1),
            clip_max_pixels=_int(env, "NST_BOT_VIDEO_MAX_PIXELS", 1920 * 1080, 1),
            clip_size=min(_int(env, "NST_BOT_VIDEO_SIZE", 320, 64, FAST_MAX_SIZE), max_size),
            queue_url=_queue_url(env),
        )


@dataclass(frozen=True)
class DiscordConfig:
    token: Secret
    guild_id: int | None = None  # DISCORD_GUILD_ID: sync commands to this guild only (instant; development)
    allowed_guilds: frozenset[int] = frozenset()  # DISCORD_ALLOWED_GUILDS (empty: all)
    allowed_channels: frozenset[int] = frozenset()  # DISCORD_ALLOWED_CHANNELS (empty: all)
    upload_limit: int = 8 * MIB  # DISCORD_UPLOAD_LIMIT_MB (boosted servers allow more)
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
        common_limit = _int(env, "NST_BOT_UPLOAD_LIMIT_MB", 8, 1, 1024)
        return cls(
            token=Secret(token),
            guild_id=int(guild) if guild else None,
            allowed_guilds=_ids(env, "DISCORD_ALLOWED_GUILDS"),
            allowed_channels=_ids(env, "DISCORD_ALLOWED_CHANNELS"),
            upload_limit=_int(env, "DISCORD_UPLOAD_LIMIT_MB", common_limit, 1, 1024) * MIB,
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
    upload_limit: int = 8 * MIB  # SLACK_UPLOAD_LIMIT_MB
    host: str = "0.0.0.0"  # SLACK_HOST (HTTP mode)
    port: int = 3000  # SLACK_PORT or PORT (HTTP mode)
    path: str = "/slack/events"  # SLACK_PATH (HTTP mode): Request URL path for commands, events, shortcuts
    command: str = "/stylize"  # SLACK_COMMAND
    shortcut_id: str = "stylize_image"  # SLACK_SHORTCUT_ID: callback ID of the message shortcut
    history_limit: int = 100  # SLACK_HISTORY_LIMIT: messages scanned for the user's latest image

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
        common_limit = _int(env, "NST_BOT_UPLOAD_LIMIT_MB", 8, 1, 1024)
        path = _get(env, "SLACK_PATH", "/slack/events") or "/slack/events"
        command = _get(env, "SLACK_COMMAND", "/stylize") or "/stylize"
        return cls(
            bot_token=Secret(bot_token),
            signing_secret=Secret(secret),
            app_token=Secret(app_token),
            api_url=api_url,
            allowed_channels=frozenset(_list(env, "SLACK_ALLOWED_CHANNELS")),
            upload_limit=_int(env, "SLACK_UPLOAD_LIMIT_MB", common_limit, 1, 1024) * MIB,
            host=_get(env, "SLACK_HOST", "0.0.0.0") or "0.0.0.0",
            port=_int(env, "SLACK_PORT", _int(env, "PORT", 3000, 1, 65535), 1, 65535),
            path=path if path.startswith("/") else "/" + path,
            command=command if command.startswith("/") else "/" + command,
            shortcut_id=_get(env, "SLACK_SHORTCUT_ID", "stylize_image") or "stylize_image",
            history_limit=_int(env, "SLACK_HISTORY_LIMIT", 100, 1, 1000),
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
