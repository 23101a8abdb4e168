"""Options as dataclass fields that carry their own default, range and help text (no torch here).

`GatysOptions` and `FastOptions` declare each knob once with `option(...)`; from that metadata come their
checks, the command line (`add_arguments`, used by `nst_core.cli`), and what front ends show: a front end asks
`field_default(GatysOptions, "size", device="cpu")` (384) or `field_range(FastOptions, "size")` ((16, 8192))
instead of writing the number again. `None` as a field's default means "filled in when the run starts", from
`auto`: a value, or a `PerDevice` pair when it depends on the device. The training config
(`nst_core.train.config`) is declared the same way and adds required options, mutually exclusive groups,
`check` tests and `run_only` settings. `check_options` is the one validation of every options type: ranges, tests,
choices and true/false from the metadata, each error naming the option as the caller wrote it (`size=` from Python,
`--size` inside `spelled(cli_flag)`, which the CLI uses); a type's own `validate` adds only cross-field checks.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import MISSING, Field, dataclass, field, fields
from numbers import Integral, Real
from typing import Any

from .errors import OptionsError

__all__ = [
    "PerDevice",
    "add_arguments",
    "api_name",
    "blend_option",
    "check_options",
    "check_value",
    "comma_floats",
    "comma_names",
    "field_choices",
    "field_default",
    "field_help",
    "field_range",
    "option",
    "option_field",
    "option_names",
    "option_type",
    "spelled",
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
    check: Callable[[Any], bool] | None = None,
    expect: str | None = None,
    required: bool = False,
    group: str | None = None,
    run_only: bool = False,
) -> Any:
    """A field and its command-line option in one place. `help` may say {default}, {cpu}, {gpu}, {lo} and {hi}; `bounds`
    (lo, hi) is the accepted range; `auto` is the value a `None` default becomes (a `PerDevice` for device
    defaults); `choices` may be a function, for registries that grow; `parse` turns the option's text into
    the value (default: the field's type); `flag=False` keeps a field off the command line. `check` (a test
    returning True for a good value) replaces the choices test where aliases or other types are accepted, and
    `expect` says in words what it accepts (default: the choices); `required` options
    must be given; options of the same `group` are mutually exclusive; `run_only` marks a setting that does
    not change a trained network (so it may differ on a training --resume)."""
    meta = {"help": help, "bounds": bounds, "auto": auto, "choices": choices, "parse": parse, "metavar": metavar}
    extra = {"check": check, "expect": expect, "required": required, "group": group, "run_only": run_only}
    return field(default=default, metadata={**meta, **extra, "flag": flag})


def option_field(cls: type, name: str) -> Field:
    """The field `name` of the options class `cls` (its declaration, for `check_value`)."""
    return _field(cls, name)


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


def _cli_help(f: Field) -> str | None:
    """The help of a command-line option, with its range where the text does not already say it."""
    text, bounds = _help(f), f.metadata.get("bounds")
    if not bounds or "{lo}" in (f.metadata.get("help") or ""):
        return text
    span = f"{shown(bounds[0])} to {shown(bounds[1])}"
    return f"{text}; {span}" if text else span


def shown(value: Any) -> str:
    """A default as people write it: 4, 0.6, 1e-3 (the shortest text that reads back as the same number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    texts = [f"{value:g}", f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")]
    return min((t for t in texts if float(t) == value), key=len, default=str(value))


def comma_floats(text: str) -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3), for options that take one number per item."""
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def is_blend(blend: object) -> bool:
    """Blend weights: finite non-negative numbers, not all zero (how many is the run's business)."""
    if not isinstance(blend, (tuple, list)) or not blend:
        return False
    numbers = all(isinstance(b, Real) and not isinstance(b, bool) and math.isfinite(b) and b >= 0 for b in blend)
    return numbers and sum(blend) > 0


def blend_option() -> Any:
    """`style_blend` of the engines that mix several paintings (Gatys, arbitrary), declared once."""
    return option(
        None, "blend weights, one per style image", parse=comma_floats, metavar="W1,W2", check=is_blend,
        expect="non-negative numbers, one per style image, not all zero",
    )  # fmt: skip


def comma_names(text: str) -> tuple[str, ...]:
    """'relu1_1, relu2_1' -> ('relu1_1', 'relu2_1')."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


Spelling = Callable[[str], str]  # a field's name as one interface writes it: `--size` (cli_flag), `size=` (api_name)


def cli_flag(name: str) -> str:
    """`--tile-size`: an option as the command line writes it."""
    return "--" + name.replace("_", "-")


def option_type(f: Field) -> type:
    """`int | None` -> int: the type an option's text is converted to (the annotation, as text or as a type)."""
    hint = (f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))).replace(" ", "")
    for kind in (bool, int, float, str):
        if hint in (kind.__name__, f"{kind.__name__}|None"):
            return kind
    raise TypeError(f"option {f.name!r} of type {f.type} needs a `parse` function")


def add_argument(parser: Any, f: Field, *, checked: bool = True, help: str | None = None) -> None:
    """One field as a command-line option on `parser` (or an argument group). The default is always None, so
    only what a person typed reaches the options and the dataclass stays the one source of defaults. `checked`:
    argparse refuses a value outside the field's range (off where several option types share the flag);
    `help` replaces the field's own."""
    m = f.metadata
    kind = None if m["parse"] else option_type(f)
    convert = m["parse"] or (kind if kind is not str else None)
    if kind is bool:
        action = argparse.BooleanOptionalAction if f.default is None else "store_true"
        parser.add_argument(cli_flag(f.name), action=action, default=None, help=_help(f))
        return
    kw = {"type": _cli_type(f, convert) if checked else convert, "metavar": m["metavar"], "help": help or _cli_help(f)}
    if m["choices"] is not None:
        kw["choices"] = m["choices"]() if callable(m["choices"]) else m["choices"]
    if m.get("required"):
        kw["required"] = True
    parser.add_argument(cli_flag(f.name), **{k: v for k, v in kw.items() if v is not None})


def _cli_type(f: Field, convert: Callable[[str], Any] | None) -> Callable[[str], Any] | None:
    """The text-to-value converter of a command-line option, checked against the field's range or `check`, so
    argparse refuses `--size 99999` naming `--size` (choices are argparse's own test)."""
    if not (f.metadata.get("bounds") or f.metadata.get("check")):
        return convert

    def typed(text: str) -> Any:
        value = convert(text) if convert else text
        try:
            check_value(f, value, cli_flag)
        except OptionsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    typed.__name__ = getattr(convert, "__name__", "str")  # argparse's "invalid int value" names the type
    return typed


def add_arguments(parser: Any, cls: type, skip: Sequence[str] = ()) -> list[str]:
    """Every command-line field of `cls` not in `skip` as an option on `parser`, in field order (the fields of
    one `group` in a mutually exclusive group, made where its first field is); returns their names."""
    names = [name for name in option_names(cls) if name not in skip]
    groups: dict[str, Any] = {}
    for name in names:
        f = _field(cls, name)
        group = f.metadata.get("group")
        if group and group not in groups:
            groups[group] = parser.add_mutually_exclusive_group()
        add_argument(groups[group] if group else parser, f)
    return names


def given(namespace: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The options among `names` that were typed (not None), as keywords for the dataclass."""
    values = vars(namespace)
    return {name: values[name] for name in names if values.get(name) is not None}


def bounds_table(cls: type) -> dict[str, tuple[float, float, bool]]:
    """Every bounded field of `cls`: (lo, hi, whole number?)."""
    return {f.name: (*f.metadata["bounds"], option_type(f) is int) for f in fields(cls) if f.metadata.get("bounds")}


def api_name(name: str) -> str:
    """`size=`: an option as a Python caller (the API, a bot's `size=512`) writes it."""
    return f"{name}="


_SPELLING: ContextVar[Spelling] = ContextVar("nst_option_spelling", default=api_name)


@contextlib.contextmanager
def spelled(spell: Spelling) -> Iterator[None]:
    """Inside this block the engines' option errors name options as `spell` writes them: the CLI runs the API
    under `spelled(cli_flag)`, so a person who typed `--size` reads `--size` (a Python caller reads `size=`)."""
    token = _SPELLING.set(spell)
    try:
        yield
    finally:
        _SPELLING.reset(token)


def check_bound(name: str, value: Any, lo: float, hi: float, whole: bool, spell: Spelling = cli_flag) -> None:
    """Refuse infinities, NaN, non-numbers and values outside [lo, hi] (or not whole, for int options) with one
    sentence naming the option as `spell` writes it; None (not given) passes."""
    if value is None:
        return
    ok = isinstance(value, Integral if whole else Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not lo <= value <= hi:
        kind = "a whole number" if whole else "a number"
        raise OptionsError(f"{spell(name)} must be {kind} from {shown(lo)} to {shown(hi)}, not {value!r}.")


def check_value(f: Field, value: Any, spell: Spelling | None = None) -> None:
    """One value against its field's declaration: range, `check`, choices, true/false. None passes where None
    is the field's default (\"not given\"); an OptionsError names the option as `spell` writes it."""
    m, spell = f.metadata, spell or _SPELLING.get()
    if value is None and f.default is None:
        return
    if m.get("bounds"):
        check_bound(f.name, value, *m["bounds"], option_type(f) is int, spell)
    elif m.get("check") is not None:
        if not m["check"](value):
            raise OptionsError(f"{spell(f.name)} must be {_expected(f)}, not {value!r}.")
    elif (choices := _choices(f)) is not None:
        if value not in choices:
            raise OptionsError(f"{spell(f.name)} must be one of {', '.join(choices)}, not {value!r}.")
    elif _kind(f) is bool and not isinstance(value, bool):
        raise OptionsError(f"{spell(f.name)} must be true or false, not {value!r}.")


def check_options(obj: Any, spell: Spelling | None = None) -> Any:
    """Every option field of the dataclass instance `obj` checked against its declaration (`check_value`),
    errors spelled by `spell` (default: as the caller writes them, see `spelled`); returns `obj`. The one
    validation of GatysOptions, FastOptions, ArbitraryOptions and the training configs: their own `validate`
    adds only what involves several fields or the file system."""
    for f in fields(obj):
        if _declared(f):
            check_value(f, getattr(obj, f.name), spell)
    return obj


def _declared(f: Field) -> bool:
    return "bounds" in f.metadata


def _expected(f: Field) -> str:
    expect = f.metadata.get("expect")
    if expect:
        return expect
    choices = _choices(f)
    return f"one of {', '.join(choices)}" if choices else "valid"


def _choices(f: Field) -> Sequence[str] | None:
    choices = f.metadata.get("choices")
    return choices() if callable(choices) else choices


def _kind(f: Field) -> type | None:
    try:
        return option_type(f)
    except TypeError:
        return None


def option_names(cls: type) -> list[str]:
    """The fields of `cls` that are command-line options, in their order."""
    return [f.name for f in fields(cls) if f.metadata.get("flag")]
