"""A package's public names loaded on first use (PEP 562), so importing one torch-free submodule stays torch-free."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """The package's `__getattr__`: name -> the submodule (relative to `package`) that defines it.

    A name found is kept in the package's namespace, so the lookup runs once. A submodule's own name
    (`nst_core.gatys` after a bare `import nst_core`) still resolves, as it did when the package imported eagerly.
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            value = getattr(importlib.import_module(f".{exports[name]}", package), name)
            setattr(sys.modules[package], name, value)
            return value
        if not name.startswith("_") and importlib.util.find_spec(f"{package}.{name}") is not None:
            try:
                return importlib.import_module(f".{name}", package)
            except ImportError as e:  # an optional dependency missing: `hasattr` says False, as it would have
                raise AttributeError(f"module {package!r} has no attribute {name!r} ({e})") from e
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
