"""Turn what a user typed or picked into nst_core options, rejecting nonsense with a message that says why.

Both bots end up with a `JobSpec`; it knows how to become `nst_core.stylize` keyword arguments, so neither bot
holds any knowledge of stylisation options beyond this translation.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import nst_core

from .config import CommonConfig
from .messages import BadOptions

TRUE = {"1", "true", "yes", "on", "y"}
FALSE = {"0", "false", "no", "off", "n"}
# Option spellings a person might type in Slack ("strength=0.5", "colors=yes", "size:512").
ALIASES = {
    "strength": "strength",
    "s": "strength",
    "preserve_colors": "preserve_colors",
    "preserve_colours": "preserve_colors",
    "colors": "preserve_colors",
    "colours": "preserve_colors",
    "keep_colors": "preserve_colors",
    "keep_colours": "preserve_colors",
    "size": "size",
    "style": "style",
}
ANY_STYLE = "any"
URL_RE = re.compile(r"^<?(https?://[^\s|>]+)(?:\|[^>]*)?>?$")


@dataclass(frozen=True)
class JobSpec:
    """One stylisation request after validation."""

    style: str | None  # installed style name; None when a custom style image is used
    label: str  # what to call the style in messages
    strength: float | None = None
    preserve_colors: bool = False
    size: int | None = None  # explicit long side; None = bot default (never upscaling small images)
    custom: bool = False
    seed: int | None = None  # custom styles: a re-roll starts from noise with this seed instead of the photo

    def resolved_size(self, content_size: tuple[int, int], config: CommonConfig) -> int:
        """Explicit sizes are honoured; the default never enlarges a small picture."""
        if self.size is not None:
            return self.size
        default = config.gatys_size if self.custom else config.default_size
        return max(config.min_size, min(default, max(content_size)))

    def stylize_kwargs(self, content_size: tuple[int, int], config: CommonConfig) -> dict[str, Any]:
        """Keyword arguments for `nst_core.stylize` (besides content, style and style_images)."""
        kwargs: dict[str, Any] = {
            "size": self.resolved_size(content_size, config),
            "preserve_colors": self.preserve_colors,
            "device": config.device,
            "precision": config.precision,
            "memory_format": config.memory_format,
        }
        if self.custom:
            kwargs["method"] = "gatys"
            kwargs["preview_every"] = 0  # chat status lines need no intermediate pictures
            if config.gatys_steps:
                kwargs["steps"] = config.gatys_steps
            if config.gatys_loss_net:
                kwargs["loss_net"] = config.gatys_loss_net
            if self.seed is not None:
                kwargs["init"], kwargs["seed"] = "noise", self.seed
        else:
            kwargs["method"] = "fast"
            if self.strength is not None:
                kwargs["strength"] = self.strength
        return kwargs


def installed_styles() -> list[Any]:
    """Installed fast styles, sorted (re-read each time so new weights show up without a restart)."""
    return list(nst_core.list_styles())


def default_style_name(config: CommonConfig, styles: list[Any]) -> str:
    """The admin's NST_BOT_DEFAULT_STYLE, else the best-scoring installed style (nst_core decides)."""
    return config.default_style or nst_core.default_style(styles).name


def find_style(name: str | None, config: CommonConfig) -> Any:
    """The installed style `name` means (id, display name, or a part of either: nst_core.match_styles), or the
    default one; a name that fits several styles asks which."""
    styles = installed_styles()
    if not styles:
        raise BadOptions("No styles are installed on this server yet; ask the bot's admin to add some.")
    if not name:
        name = default_style_name(config, styles)
    found = nst_core.match_styles(name, styles)
    if len(found) == 1:
        return found[0]
    if found:
        options = ", ".join(f"`{s.name}` ({s.display_name})" for s in found[:10])
        raise BadOptions(f"`{name[:40]}` fits several styles: {options}. Which one?")
    names = ", ".join(f"`{s.name}`" for s in styles[:15])
    more = f" and {len(styles) - 15} more" if len(styles) > 15 else ""
    raise BadOptions(f"I don't know the style `{name[:40]}`. Available styles: {names}{more}.")


def _core_check(options: nst_core.FastOptions | nst_core.GatysOptions, field: str) -> None:
    """The engine's own rules decide what is valid; its message (it names the option) goes to the user."""
    try:
        options.validate()
    except nst_core.OptionsError as exc:
        raise BadOptions(str(exc), field) from None


def check_strength(value: Any) -> float | None:
    """Parse the user's text; the 0..1 bounds are FastOptions'."""
    if value is None or value == "":
        return None
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise BadOptions(f"`strength` must be a number, not `{str(value)[:20]}`.", "strength") from None
    # Any non-empty style name passes FastOptions' style check; the real style is looked up by find_style.
    _core_check(nst_core.FastOptions(style=ANY_STYLE, strength=strength), "strength")
    return strength


def check_size(value: Any, config: CommonConfig, *, custom: bool = False) -> int | None:
    """Parse the user's text; the server's range comes from its config, the engine's from nst_core."""
    if value is None or value == "":
        return None
    try:
        size = int(str(value).strip().lower().removesuffix("px"))
    except (TypeError, ValueError):
        raise BadOptions(f"`size` must be a whole number of pixels, not `{str(value)[:20]}`.", "size") from None
    if not config.min_size <= size <= config.max_size:
        raise BadOptions(
            f"`size` must be between {config.min_size} and {config.max_size} pixels (you gave {size}).", "size"
        )
    # NST_BOT_MAX_SIZE may allow more than the Gatys engine does (custom style images).
    _core_check(nst_core.GatysOptions(size=size) if custom else nst_core.FastOptions(ANY_STYLE, size=size), "size")
    return size


def check_bool(value: Any, name: str = "preserve_colors") -> bool:
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise BadOptions(f"`{name}` must be yes or no, not `{text[:20]}`.")


def build_spec(
    config: CommonConfig,
    *,
    style: str | None = None,
    custom: bool = False,
    strength: Any = None,
    preserve_colors: Any = False,
    size: Any = None,
) -> JobSpec:
    """Validate everything before any download or queueing, so bad requests fail fast and for free."""
    strength_v = check_strength(strength)
    size_v = check_size(size, config, custom=custom)
    colors = check_bool(preserve_colors)
    if custom:
        if not config.gatys_enabled:
            raise BadOptions("Custom style images are turned off on this server; pick one of the installed styles.")
        return JobSpec(None, "your style image", None, colors, size_v, custom=True)
    info = find_style(style, config)
    return JobSpec(info.name, info.label, strength_v, colors, size_v)


@dataclass
class TextRequest:
    """A Slack-style text command split into parts: `[style] [key=value ...] [url]`."""

    style: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    word: str | None = None  # "help" / "styles"


def parse_text(text: str) -> TextRequest:
    """Parse `starry_night strength=0.5 colors=yes size=512 <https://...>`; raises BadOptions on junk."""
    try:
        tokens = shlex.split(text or "")
    except ValueError:
        raise BadOptions("I could not read those options (unbalanced quotes?).") from None
    req = TextRequest()
    for tok in tokens:
        low = tok.lower()
        if low in ("help", "styles", "list", "--help", "-h"):
            req.word = "styles" if low in ("styles", "list") else "help"
            continue
        m = URL_RE.match(tok)
        if m:
            if req.url:
                raise BadOptions("Give at most one image link.")
            req.url = m.group(1)
            continue
        key, sep, value = tok.lstrip("-").partition("=")
        if not sep:
            key, sep, value = tok.lstrip("-").partition(":")
        if sep:
            name = ALIASES.get(key.lower())
            if name is None:
                raise BadOptions(f"Unknown option `{key[:20]}`; use strength=, colors= or size=.")
            if name == "style":
                req.style = value
            else:
                req.options[name] = value
            continue
        if low in ("preserve_colors", "preserve_colours", "colors", "colours", "keep_colors"):
            req.options["preserve_colors"] = "yes"
            continue
        req.style = tok if req.style is None else f"{req.style} {tok}"  # "starry night": a display name
    return req
