"""ARCHITECTURE.md is the map a newcomer reads first: every module in the tree has a row, every row a module."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL = re.compile(r"`([^`]+)`")
MODULE = re.compile(r"[a-z_][a-z0-9_]*([./][a-z_][a-z0-9_]*)*(\.py)?")


def _rows() -> dict[str, str]:
    """ARCHITECTURE.md's table rows: each module named in the first column, as a dotted name, to its job."""
    rows = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        if not line.startswith("| `"):
            continue
        first, job = line.split("|")[1:3]
        for name in CELL.findall(first):
            if not MODULE.fullmatch(name):
                continue  # another table's keys (Redis keys, environment variables)
            if "/" in name and not name.endswith(".py"):
                assert (ROOT / name).is_file(), f"ARCHITECTURE.md names {name}, which does not exist"
                continue
            if name.endswith(".py"):
                name = name[: -len(".py")].replace("/", ".")
            elif not name.startswith(("demo", "bots")):
                name = f"nst_core.{name}"
            rows[name] = job
    return rows


def _covered(module: str, rows: dict[str, str]) -> bool:
    """A module has its own row, or its package's row names it (`train.arbitrary`'s `config`, `data`, ...)."""
    package, _, leaf = module.rpartition(".")
    return module in rows or f"`{leaf}`" in rows.get(package, "")


def _in_tree() -> set[str]:
    """Every module and package of the engine and the front ends (`__main__` and `__init__` stand for the package)."""
    names = set()
    for top in ("nst_core", "demo", "bots"):
        for path in (ROOT / top).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] in ("__init__", "__main__"):
                parts = parts[:-1]
            names.add(".".join(parts))
    return names


def test_every_module_has_a_row_and_every_row_a_module():
    rows, tree = _rows(), _in_tree()
    headings = {"nst_core", "demo", "bots", "bots.discord", "bots.slack"}  # the tables themselves
    missing = sorted(n for n in tree - headings if not _covered(n, rows))
    assert not missing, f"modules without a row in ARCHITECTURE.md: {missing}"
    assert set(rows) <= tree, f"rows for modules that do not exist: {sorted(set(rows) - tree)}"
