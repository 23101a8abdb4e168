"""The argument parser of both command lines: a mistake is one `error:` line, like every other user error.

argparse's default prints the whole usage block first, which buries the one line that says what is wrong.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # "argument --size: --size must be ..." (a checked option names itself): say it once
        message = re.sub(r"^argument (--[\w-]+): (?=\1 )", "", message)
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)
