"""What the buttons under a result do to its options: another style, re-roll, stronger, weaker.

An installed style and an instant custom painting (the one-pass arbitrary network) are deterministic (the same
picture and options give the same result), so "re-roll" there means "surprise me": another installed style picked
at random, the other options kept. For a best-quality painting (Gatys) it means a new take on the same painting:
the optimisation starts from noise with a fresh random seed instead of from the photo, so the brushwork comes out
different (and a little looser). Stronger and weaker move the strength by STRENGTH_STEP up to the method's full
style; Gatys has no strength, so its results get no such buttons.
"""

from __future__ import annotations

import random
from dataclasses import replace

from .config import CommonConfig
from .messages import BadOptions
from .options import JobSpec, default_strength, find_style, full_strength, has_strength, installed_styles

STRENGTH_STEP = 0.2
MIN_STRENGTH = STRENGTH_STEP  # weaker stops here: strength 0 would only give the photo back
ACTIONS = ("style", "reroll", "stronger", "weaker")


def strength_of(spec: JobSpec) -> float:
    return default_strength(spec.method) if spec.strength is None else spec.strength


def can_strengthen(spec: JobSpec) -> bool:
    return has_strength(spec.method) and strength_of(spec) < full_strength(spec.method)


def can_weaken(spec: JobSpec) -> bool:
    return has_strength(spec.method) and strength_of(spec) > MIN_STRENGTH + 1e-9


def reroll(spec: JobSpec, rng: random.Random) -> JobSpec:
    if spec.method == "gatys":
        return replace(spec, seed=rng.randrange(1, 2**31))
    others = [s for s in installed_styles() if s.name != spec.style]
    if not others:
        raise BadOptions("Only one style is installed, so there is nothing else to try; ask the admin for more.")
    pick = rng.choice(others)
    return replace(spec, style=pick.name, label=pick.label, method="fast")


def with_style(spec: JobSpec, name: str, config: CommonConfig) -> JobSpec:
    """The same picture and options in the installed style `name` (from Gatys, which has none: the default
    strength)."""
    info = find_style(name, config)
    return replace(spec, style=info.name, label=info.label, method="fast", seed=None)


def vary(spec: JobSpec, action: str, rng: random.Random | None = None) -> JobSpec:
    """The options for `action` ("reroll", "stronger", "weaker"), or BadOptions saying why not."""
    rng = rng or random.Random()
    if action == "reroll":
        return reroll(spec, rng)
    if action not in ("stronger", "weaker"):
        raise ValueError(f"unknown action {action!r}")
    if not has_strength(spec.method):
        raise BadOptions("A best-quality painting has no strength; try Re-roll for another take on your painting.")
    full = full_strength(spec.method)
    if action == "stronger" and not can_strengthen(spec):
        raise BadOptions(f"This is already the full style (strength {full:g}).")
    if action == "weaker" and not can_weaken(spec):
        raise BadOptions(f"This is already as weak as it goes here (strength {MIN_STRENGTH:g}).")
    step = STRENGTH_STEP if action == "stronger" else -STRENGTH_STEP
    return replace(spec, strength=round(min(full, max(MIN_STRENGTH, strength_of(spec) + step)), 2))
