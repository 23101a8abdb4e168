"""Training the arbitrary-style network: `python -m nst_core.train arbitrary --dataset photos/ ...`.

Read `loop` first (the story); `config` holds every option once, `data` the seeded crop stream, `output` the
weights, the JSON record and the preview sheets.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence

from ...errors import NSTError
from .config import ArbitraryTrainConfig, build_parser, parse_args
from .loop import decoder_loss, distill_loss, train

__all__ = ["ArbitraryTrainConfig", "build_parser", "decoder_loss", "distill_loss", "main", "parse_args", "train"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[2:] if argv is None else argv)
    try:
        cfg = parse_args(argv)
    except SystemExit as exc:  # a mistyped option (one line already printed) or --help
        return int(exc.code or 0)
    cfg.command = "python -m nst_core.train arbitrary " + shlex.join(argv)
    try:
        train(cfg)
    except NSTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
