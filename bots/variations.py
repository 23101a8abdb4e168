"""What the buttons under a result do to its options: another style, re-roll, stronger, weaker.

A fast style is deterministic (the same picture and options give the same result), so "re-roll" there means
"surprise me": another installed style picked at random, the other options kept. For a custom style (Gatys) it
means a new take on the same painting: the optimisation starts from noise with a fresh random seed instead of from
the photo, so the brushwork comes out different (and a little looser). Stronger and weaker move the strength of an
installed style by STRENGTH_STEP (the full style is 1); custom styles have no strength, so they get no such buttons.
"""

from __future__ import annotations

import random
from dataclasses import replace

from .config import CommonConfig
from .messages import BadOptions
from .options import JobSpec, find_style, installed_styles

STRENGTH_STEP = 0.2
MIN_STRENGTH = STRENGTH_STEP  # weaker stops here: strength 0 would only give the photo back
ACTIONS = ("style", "reroll", "stronger", "weaker")


def strength_of(spec: JobSpec) -> float:
    return 1.0 if spec.strength is None else spec.strength


def can_strengthen(spec: JobSpec) -> bool:
    return not spec.custom and strength_of(spec) < 1.0


def can_weaken(spec: JobSpec) -> bool:
    return not spec.custom and strength_of(spec) > MIN_STRENGTH + 1e-9


def reroll(spec: JobSpec, rng: random.Random) -> JobSpec:
    if spec.custom:
        return replace(spec, seed=rng.randrange(1, 2**31))
    others = [s for s in installed_styles() if s.name != spec.style]
    if not others:
        raise BadOptions("Only one style is installed, so there is nothing else to try; ask the admin for more.")
    pick = rng.choice(others)
    return replace(spec, style=pick.name, label=pick.label)


def with_style(spec: JobSpec, name: str, config: CommonConfig) -> JobSpec:
    """The same picture and options in the installed style `name` (from a custom style: its default strength)."""
    info = find_style(name, config)
    return replace(spec, style=info.name, label=info.label, custom=False, seed=None)


def vary(spec: JobSpec, action: str, rng: random.Random | None = None) -> JobSpec:
    """The options for `action` ("reroll", "stronger", "weaker"), or BadOptions saying why not."""
    rng = rng or random.Random()
    if action == "reroll":
        return reroll(spec, rng)
    if action not in ("stronger", "weaker"):
        raise ValueError(f"unknown action {action!r}")
    if spec.custom:
        raise BadOptions("Strength only applies to installed styles; try Re-roll for another take on your painting.")
    if action == "stronger" and not can_strengthen(spec):
        raise BadOptions("This is already the full style (strength 1).")
    if action == "weaker" and not can_weaken(spec):
        raise BadOptions(f"This is already as weak as it goes here (strength {MIN_STRENGTH:g}).")
    step = STRENGTH_STEP if action == "stronger" else -STRENGTH_STEP
    return replace(spec, strength=round(min(1.0, max(MIN_STRENGTH, strength_of(spec) + step)), 2))
