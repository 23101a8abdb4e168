"""Training the arbitrary-style network: `python -m nst_core.train arbitrary --dataset photos/ ...`.

Read `loop` first (the story); `config` holds every option once, `data` the seeded crop stream, `output` the
weights, the JSON record and the preview sheets.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ...errors import NSTError
from ..install import portable_command
from .config import ArbitraryTrainConfig, build_parser, parse_args
from .loop import decoder_loss, distill_loss, train

__all__ = ["ArbitraryTrainConfig", "build_parser", "decoder_loss", "distill_loss", "main", "parse_args", "train"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[2:] if argv is None else argv)
    try:
        cfg = parse_args(argv)
    except SystemExit as exc:  # a mistyped option (one line already printed) or --help
        return int(exc.code or 0)
    cfg.command = portable_command(["arbitrary", *(",".join(Path(p).name for p in a.split(",")) if "," in a and os.sep
                                                   in a else a for a in argv)])  # fmt: skip
    try:
        train(cfg)
    except NSTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
