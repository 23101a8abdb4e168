"""Turn what a user typed or picked into nst_core options, rejecting nonsense with a message that says why.

Both bots end up with a `JobSpec`; it knows how to become `nst_core.stylize` keyword arguments, so neither bot
holds any knowledge of stylisation options beyond this translation.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import nst_core
from nst_core.options import field_default, field_range

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
    "quality": "quality",
    "q": "quality",
}
# A custom painting's quality, as a person asks for it, and the nst_core method each one means.
INSTANT, BEST = "instant", "best"
QUALITY_METHODS = {INSTANT: "arbitrary", BEST: "gatys"}
UNAVAILABLE = "Custom paintings are unavailable on this server right now; pick one of the installed styles."
NO_BEST = f"Best quality (the slow optimisation) is turned off on this server; leave out `{BEST}` for instant quality."
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
    method: str = "fast"  # nst_core's: "fast" (installed style); a painting: "arbitrary" (instant), "gatys" (best)
    seed: int | None = None  # Gatys: a re-roll starts from noise with this seed instead of the photo

    @property
    def custom(self) -> bool:
        """Painted like the user's own picture (either method) rather than with an installed style."""
        return self.method != "fast"

    @property
    def quality_label(self) -> str:
        """How the result's caption names a custom painting's method ("" for an installed style)."""
        return {"arbitrary": INSTANT, "gatys": f"{BEST} quality"}.get(self.method, "")

    def resolved_size(self, content_size: tuple[int, int], config: CommonConfig) -> int:
        """Explicit sizes are honoured; the default never enlarges a small picture (Gatys has its own, smaller
        default: it is slow; the one-pass methods share the bot's)."""
        if self.size is not None:
            return self.size
        default = config.gatys_size if self.method == "gatys" else config.default_size
        return max(config.min_size, min(default, max(content_size)))

    def stylize_kwargs(self, content_size: tuple[int, int], config: CommonConfig) -> dict[str, Any]:
        """Keyword arguments for `nst_core.stylize` (besides content, style and style_images)."""
        kwargs: dict[str, Any] = {
            "method": self.method,
            "size": self.resolved_size(content_size, config),
            "preserve_colors": self.preserve_colors,
            "device": config.device,
            "precision": config.precision,
            "memory_format": config.memory_format,
        }
        if self.method == "gatys":
            kwargs["preview_every"] = 0  # chat status lines need no intermediate pictures
            if config.gatys_steps:
                kwargs["steps"] = config.gatys_steps
            if config.gatys_loss_net:
                kwargs["loss_net"] = config.gatys_loss_net
            if self.seed is not None:
                kwargs["init"], kwargs["seed"] = "noise", self.seed
        elif self.strength is not None:
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


# Each method's options class: the engine's own rules and defaults for what a person typed.
OPTIONS: dict[str, type] = {
    "fast": nst_core.FastOptions,
    "arbitrary": nst_core.ArbitraryOptions,
    "gatys": nst_core.GatysOptions,
}


def has_strength(method: str) -> bool:
    """Whether `method` takes a strength (Gatys has none: its style weight is no 0..1 blend)."""
    return any(f.name == "strength" for f in dataclasses.fields(OPTIONS[method]))


def default_strength(method: str) -> float:
    """The strength a run of `method` uses when none is given (the engine's default, the full style)."""
    return float(field_default(OPTIONS[method], "strength"))


def full_strength(method: str) -> float:
    """The strongest `method` goes (the top of the engine's range)."""
    bounds = field_range(OPTIONS[method], "strength")
    return float(bounds[1]) if bounds else default_strength(method)


def _core_check(method: str, field: str, **values: Any) -> None:
    """The engine's own rules decide what is valid; its message (it names the option) goes to the user."""
    # Any non-empty style name passes FastOptions' style check; the real style is looked up by find_style.
    extra = {"style": ANY_STYLE} if method == "fast" else {}
    try:
        OPTIONS[method](**extra, **values).validate()
    except nst_core.OptionsError as exc:
        raise BadOptions(str(exc), field) from None


def check_strength(value: Any, method: str = "fast") -> float | None:
    """Parse the user's text; the bounds are those of `method`'s options."""
    if value is None or value == "":
        return None
    try:
        strength = float(value)
    except (TypeError, ValueError):
        raise BadOptions(f"`strength` must be a number, not `{str(value)[:20]}`.", "strength") from None
    _core_check(method, "strength", strength=strength)
    return strength


def check_size(value: Any, config: CommonConfig, *, method: str = "fast") -> int | None:
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
    _core_check(method, "size", size=size)  # NST_BOT_MAX_SIZE may allow more than the Gatys engine does
    return size


def custom_method(config: CommonConfig, quality: Any = None) -> str:
    """The nst_core method for a custom painting: instant (one pass) unless `best` is asked for, and Gatys anyway
    where the one-pass network did not load at start-up (`config.arbitrary_enabled`)."""
    text = str(quality or "").strip().lower()
    if text and text not in QUALITY_METHODS:
        raise BadOptions(f"`quality` must be {INSTANT} or {BEST}, not `{text[:20]}`.", "quality")
    if not (config.arbitrary_enabled or config.gatys_enabled):
        raise BadOptions(UNAVAILABLE)
    if text == BEST:
        if not config.gatys_enabled:
            raise BadOptions(NO_BEST, "quality")
        return QUALITY_METHODS[BEST]
    return QUALITY_METHODS[INSTANT] if config.arbitrary_enabled else QUALITY_METHODS[BEST]


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
    quality: Any = None,
    strength: Any = None,
    preserve_colors: Any = False,
    size: Any = None,
) -> JobSpec:
    """Validate everything before any download or queueing, so bad requests fail fast and for free. `quality`
    only matters with a custom painting; a strength only where the method has one (not Gatys)."""
    method = custom_method(config, quality) if custom else "fast"
    strength_v = check_strength(strength, method) if has_strength(method) else None
    size_v = check_size(size, config, method=method)
    colors = check_bool(preserve_colors)
    if custom:
        return JobSpec(None, "your style image", strength_v, colors, size_v, method=method)
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
    """Parse `starry_night strength=0.5 colors=yes size=512 <https://...>` (and `best` / `quality=best` for a
    custom painting); raises BadOptions on junk."""
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
                raise BadOptions(f"Unknown option `{key[:20]}`; use strength=, colors=, size= or quality=.")
            if name == "style":
                req.style = value
            else:
                req.options[name] = value
            continue
        if low in ("preserve_colors", "preserve_colours", "colors", "colours", "keep_colors"):
            req.options["preserve_colors"] = "yes"
            continue
        if low in QUALITY_METHODS:  # "@stylize best" with a painting: the slow optimisation
            req.options["quality"] = low
            continue
        req.style = tok if req.style is None else f"{req.style} {tok}"  # "starry night": a display name
    return req
