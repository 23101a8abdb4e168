"""What this server can paint with, found once at start-up, so the page offers only what works.

Why at start-up and not on first use: a visitor who picks a method whose network is missing waits, then gets an
error they cannot fix (issue #24: the default "Fast preview" failed on a server that had only VGG-19). The core
says what loads (`lossnets.loss_net_status`, which never downloads, and `load_arbitrary`); this module only keeps
the answers, picks defaults among what loads and words the reasons for the page. The operator's detail (paths,
settings, fixes) goes to the log, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from nst_core.arbitrary import load_arbitrary
from nst_core.errors import WeightsError
from nst_core.lossnets import loss_net_status

log = logging.getLogger("nst.demo")

INSTANT, BEST = "arbitrary", "gatys"
METHOD_CHOICES = [("Instant", INSTANT), ("Best quality", BEST)]


@dataclass(frozen=True)
class Availability:
    """Which methods and loss networks load here; `reasons` says why not, in plain words, per method or net."""

    instant: bool = True
    loss_nets: tuple[str, ...] = ("squeezenet", "vgg19")  # the ones that load, in the page's order
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def best_quality(self) -> bool:
        return bool(self.loss_nets)

    def methods(self) -> list[str]:
        return [m for m in (INSTANT, BEST) if (self.instant if m == INSTANT else self.best_quality)]

    def default_method(self) -> str:
        """Instant when it loads (about a second), else Best quality."""
        return INSTANT if self.instant or not self.best_quality else BEST

    def default_loss_net(self, preferred: str) -> str:
        """The operator's choice when it loads, else the first one that does (the preferred one when none does)."""
        return preferred if preferred in self.loss_nets or not self.loss_nets else self.loss_nets[0]

    def refusal(self, method: str, loss_net: str | None = None) -> str | None:
        """Why a request cannot run here (None: it can), for API callers who bypass the page's choices."""
        if method == INSTANT and not self.instant:
            return self.reasons.get(INSTANT, "The Instant method is not available on this server.")
        if method == BEST and loss_net not in self.loss_nets:
            return self.reasons.get(str(loss_net), "That quality is not available on this server.")
        return None


def check_availability(loss_nets: Sequence[tuple[str, str]], download: bool = False) -> Availability:
    """Ask the core about the arbitrary network and each (label, name) loss network (downloading a missing one
    only when `download`: NST_DEMO_FETCH_LOSS_NETS); log what is missing."""
    reasons: dict[str, str] = {}
    try:
        load_arbitrary()
        instant = True
    except WeightsError as exc:
        instant = False
        reasons[INSTANT] = f"Instant is off: {_continued(exc.visitor_message)}"
        log.warning("Instant (the arbitrary method) is off: %s", exc)
    usable = []
    for label, name in loss_nets:
        status = loss_net_status(name, download=download)
        if status.available:
            usable.append(name)
            log.info("loss network %s: %s", name, status.source)
        else:
            reasons[name] = f"{label.split(' (')[0]} is off: {status.reason}"
            log.warning("loss network %s is off: %s\n%s", name, status.reason, status.detail)
    if not usable:
        reasons[BEST] = "Best quality is off: it needs VGG-19 or SqueezeNet, and neither is on this server."
    return Availability(instant, tuple(usable), reasons)


def method_note(available: Availability) -> str:
    """The line under the method choice: what each method is, and why one is missing."""
    missing = [available.reasons[m] for m in (INSTANT, BEST) if m not in available.methods() and m in available.reasons]
    base = "Instant: about a second. Best quality: minutes, closer to the painting."
    return " ".join([base, *missing]) if missing else base


def quality_note(available: Availability, choices: Sequence[tuple[str, str]]) -> str:
    """The line under Best quality's levels: which levels are missing and why."""
    missing = [available.reasons[n] for _, n in choices if n not in available.loss_nets and n in available.reasons]
    return " ".join(["Fast preview suits a CPU; full quality wants a GPU.", *missing])


def _continued(sentence: str) -> str:
    """A sentence continued after a colon: "The network is..." -> "the network is..." (names keep their capital)."""
    return sentence[0].lower() + sentence[1:] if sentence.startswith("The ") else sentence
