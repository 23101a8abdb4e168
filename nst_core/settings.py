"""Front-end settings (demo, bots) declared once each: environment variable, default, range and help (no torch).

Why: the demo and the bots wrote every default twice, once as a dataclass field and again in `from_env`, and the
two drifted. Here, as `nst_core.options.option` does for the engines' options, one `setting(...)` holds it all;
`read_settings` parses the environment from it and `settings_table` writes the docs' table from it
(`python -m tools.settings_docs` rewrites the generated blocks of demo/README.md and bots/README.md).

A range may be a function, so a bound taken from the core (`field_range(FastOptions, "size")`) is read when the
settings are, not copied when the module is imported; `at_most` caps a value by another setting or such a bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, Field, field, fields
from typing import Any

from .envvars import env_number
from .errors import OptionsError
from .options import option_type, shown

__all__ = ["read_setting", "read_settings", "setting", "setting_fields", "settings_table"]

Bounds = tuple[float | None, float | None]
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def setting(
    env: str,
    default: Any,
    help: str,
    *,
    gpu: Any = MISSING,
    bounds: Bounds | Callable[[], Bounds] | None = None,
    scale: int = 1,
    at_most: Iterable[str | Callable[[], float]] = (),
    doc_default: str | None = None,
) -> Any:
    """A dataclass field read from `$env`: `default` (in the variable's units; the field holds it times `scale`,
    e.g. MiB for a `_MB` variable), `gpu` its default on a GPU server, `bounds` (lo, hi; either may be None)
    what the variable accepts, `at_most` other settings (by field name) or bounds the value is capped at;
    `doc_default` the default as the docs say it (a path relative to the repository, say)."""
    meta = {"env": env, "help": help, "cpu": default, "gpu": default if gpu is MISSING else gpu, "bounds": bounds}
    meta |= {"scale": scale, "at_most": tuple(at_most), "doc_default": doc_default}
    return field(default=default * scale if default is not None else None, metadata={"setting": meta})


def setting_fields(cls: type) -> list[Field]:
    """The fields of `cls` declared with `setting`, in order."""
    return [f for f in fields(cls) if "setting" in f.metadata]


def _bounds(m: Mapping[str, Any]) -> Bounds:
    bounds = m["bounds"]
    return (bounds() if callable(bounds) else bounds) or (None, None)


def read_setting(f: Field, env: Mapping[str, str], *, gpu: bool = False, error: type[Exception] = OptionsError,
                 default: Any = MISSING) -> Any:  # fmt: skip
    """One setting from `env`: the variable checked against its range, else the default (or `default`, when
    the caller computes it) brought into the range."""
    m = f.metadata["setting"]
    base = m["gpu" if gpu else "cpu"] if default is MISSING else default
    kind, raw = option_type(f), env.get(m["env"], "").strip()
    if kind is bool:
        if raw.lower() not in (*TRUE, *FALSE, ""):
            raise error(f"{m['env']} must be true or false (1 or 0), got {raw!r}.")
        return base if not raw else raw.lower() in TRUE
    if kind is str:
        return raw or base
    lo, hi = _bounds(m)
    value = env_number(m["env"], base, lo=lo, hi=hi, whole=kind is int, env=env, error=error)
    if value is None:
        return None
    value = min(value, hi) if hi is not None else value
    value = max(value, lo) if lo is not None else value
    return value * m["scale"]


def read_settings(cls: type, env: Mapping[str, str], *, gpu: bool = False, error: type[Exception] = OptionsError,
                  defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """Every setting of `cls` from `env` (see `read_setting`), then each capped by its `at_most`: keywords
    for `cls`. `defaults` replaces declared defaults that the caller computes (from the device, say)."""
    defaults = defaults or {}
    values = {f.name: read_setting(f, env, gpu=gpu, error=error, default=defaults.get(f.name, MISSING))
              for f in setting_fields(cls)}  # fmt: skip
    for f in setting_fields(cls):
        for cap in f.metadata["setting"]["at_most"]:
            limit = cap() if callable(cap) else values[cap]
            if values[f.name] is not None and limit is not None:
                values[f.name] = min(values[f.name], limit)
    return values


def settings_table(*classes: type) -> str:
    """The Markdown table of every setting of `classes`: what the docs show, generated so it cannot drift."""
    rows = ["| variable | default (CPU / GPU) | accepted | what |", "|---|---|---|---|"]
    for cls in classes:
        names = {f.name: f.metadata["setting"]["env"] for f in setting_fields(cls)}
        for f in setting_fields(cls):
            m = f.metadata["setting"]
            rows.append(f"| `{m['env']}` | {_default_text(m)} | {_range_text(m, names)} | {m['help']} |")
    return "\n".join(rows) + "\n"


def _default_text(m: Mapping[str, Any]) -> str:
    if m["doc_default"]:
        return m["doc_default"]
    cpu, gpu = (_shown(m[k]) for k in ("cpu", "gpu"))
    return cpu if cpu == gpu else f"{cpu} / {gpu}"


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return "1" if value else "0"
    return _number(value) if isinstance(value, (int, float)) else f"`{value}`"


def _number(value: float) -> str:
    """40000000, 0.1, 30: as an operator types it (never 4e7)."""
    return str(int(value)) if float(value).is_integer() else shown(value)


def _range_text(m: Mapping[str, Any], names: Mapping[str, str]) -> str:
    lo, hi = _bounds(m)
    if lo is not None and hi is not None:
        parts = [f"{_number(lo)} to {_number(hi)}"]
    else:
        parts = [f"at least {_number(lo)}" if lo is not None else f"at most {_number(hi)}" if hi is not None else ""]
    caps = [f"`{names[c]}`" if isinstance(c, str) else _number(c()) for c in m["at_most"]]
    caps = [c for c in caps if c != _number(hi)] if hi is not None else caps  # the range says it already
    if caps:
        parts.append("capped at " + ", ".join(caps))
    return "; ".join(p for p in parts if p)
