"""The argument parser of both command lines: a mistake is one `error:` line, like every other user error.

argparse's default prints the whole usage block first, which buries the one line that says what is wrong.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)
