"""Options as dataclass fields that carry their own default, range and help text (no torch here).

`GatysOptions` and `FastOptions` declare each knob once with `option(...)`; from that metadata come their
checks, the command line (`add_arguments`, used by `nst_core.cli`), and what front ends show: a front end asks
`field_default(GatysOptions, "size", device="cpu")` (384) or `field_range(FastOptions, "size")` ((16, 8192))
instead of writing the number again. `None` as a field's default means "filled in when the run starts", from
`auto`: a value, or a `PerDevice` pair when it depends on the device.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

__all__ = [
    "PerDevice",
    "add_arguments",
    "comma_floats",
    "comma_names",
    "field_choices",
    "field_default",
    "field_help",
    "field_range",
    "option",
    "option_names",
]


@dataclass(frozen=True)
class PerDevice:
    """A default that depends on the device: `cpu` on a CPU, `gpu` on CUDA or MPS."""

    cpu: Any
    gpu: Any

    def on(self, device_type: str) -> Any:
        return self.cpu if device_type == "cpu" else self.gpu


def option(
    default: Any = MISSING,
    help: str | None = None,
    *,
    bounds: tuple[float, float] | None = None,
    auto: Any = None,
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    parse: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    flag: bool = True,
) -> Any:
    """A field and its command-line option in one place. `help` may say {default}, {cpu}, {gpu}, {lo} and {hi}; `bounds`
    (lo, hi) is the accepted range; `auto` is the value a `None` default becomes (a `PerDevice` for device
    defaults); `choices` may be a function, for registries that grow; `parse` turns the option's text into
    the value (default: the field's type); `flag=False` keeps a field off the command line."""
    meta = {"help": help, "bounds": bounds, "auto": auto, "choices": choices, "parse": parse, "metavar": metavar}
    return field(default=default, metadata={**meta, "flag": flag})


def _field(cls: type, name: str) -> Field:
    for f in fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no option {name!r}")


def field_default(cls: type, name: str, device: str | None = None) -> Any:
    """The value a run uses when `name` is not given: the field's default, else its `auto` value, on `device`
    ("cpu", "cuda", "mps"; default: this machine's best device) for per-device defaults."""
    f = _field(cls, name)
    value = f.default if f.default is not MISSING else None
    auto = f.metadata.get("auto")
    if value is not None or auto is None:
        return value
    if isinstance(auto, PerDevice):
        if device is None:
            from .device import resolve_device

            device = resolve_device("auto").type
        return auto.on(str(device).split(":")[0].lower())
    return auto


def field_range(cls: type, name: str) -> tuple[float, float] | None:
    """The (lo, hi) a number option accepts, both included; None when it has no range."""
    return _field(cls, name).metadata.get("bounds")


def field_choices(cls: type, name: str) -> Sequence[str] | None:
    choices = _field(cls, name).metadata.get("choices")
    return choices() if callable(choices) else choices


def field_help(cls: type, name: str) -> str | None:
    """The help text, its {default}, {cpu}, {gpu}, {lo} and {hi} filled in."""
    return _help(_field(cls, name))


def _help(f: Field) -> str | None:
    text, auto = f.metadata.get("help"), f.metadata.get("auto")
    if not text:
        return text
    per_device = auto if isinstance(auto, PerDevice) else PerDevice(auto, auto)
    default = f.default if f.default not in (MISSING, None) else auto
    lo, hi = f.metadata.get("bounds") or (None, None)
    values = {"default": default, "cpu": per_device.cpu, "gpu": per_device.gpu, "lo": lo, "hi": hi}
    return text.format(**{k: shown(v) for k, v in values.items()})


def shown(value: Any) -> str:
    """A default as people write it: 4, 0.6, 1e-3 (the shortest text that reads back as the same number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    texts = [f"{value:g}", f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")]
    return min((t for t in texts if float(t) == value), key=len)


def comma_floats(text: str) -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3), for options that take one number per item."""
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def comma_names(text: str) -> tuple[str, ...]:
    """'relu1_1, relu2_1' -> ('relu1_1', 'relu2_1')."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def cli_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar(f: Field) -> type:
    """`int | None` -> int: the type an option's text is converted to (annotations are strings here)."""
    hint = str(f.type).replace(" ", "")
    for kind in (bool, int, float, str):
        if hint in (kind.__name__, f"{kind.__name__}|None"):
            return kind
    raise TypeError(f"option {f.name!r} of type {f.type} needs a `parse` function")


def add_argument(parser: Any, f: Field) -> None:
    """One field as a command-line option on `parser` (or an argument group). The default is always None, so
    only what a person typed reaches the options and the dataclass stays the one source of defaults."""
    m = f.metadata
    kind = None if m["parse"] else _scalar(f)
    if kind is bool:
        action = argparse.BooleanOptionalAction if f.default is None else "store_true"
        parser.add_argument(cli_flag(f.name), action=action, default=None, help=_help(f))
        return
    kw = {"type": m["parse"] or (kind if kind is not str else None), "metavar": m["metavar"], "help": _help(f)}
    if m["choices"] is not None:
        kw["choices"] = m["choices"]() if callable(m["choices"]) else m["choices"]
    parser.add_argument(cli_flag(f.name), **{k: v for k, v in kw.items() if v is not None})


def add_arguments(parser: Any, cls: type, skip: Sequence[str] = ()) -> list[str]:
    """Every command-line field of `cls` not in `skip` as an option on `parser`; returns their names."""
    names = [name for name in option_names(cls) if name not in skip]
    for name in names:
        add_argument(parser, _field(cls, name))
    return names


def option_names(cls: type) -> list[str]:
    """The fields of `cls` that are command-line options, in their order."""
    return [f.name for f in fields(cls) if f.metadata.get("flag")]
