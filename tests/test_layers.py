"""The store is persistence only: nothing in ``copytrace.store`` imports an index, the bank layer or anything
above them, and no module of it imports ``store.py`` back (the helpers that keep keys, audit, reviews and
the change feed take anything that opens sessions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STORE = Path(__file__).resolve().parents[1] / "src" / "copytrace" / "store"
ABOVE = ("copytrace.index", "copytrace.banks", "copytrace.service", "copytrace.cli", "copytrace.batch")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as an absolute name (relative imports resolved within the package)."""
    package = ["copytrace", "store"]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


MODULES = sorted(p for p in STORE.glob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_the_store_imports_nothing_above_it(path: Path) -> None:
    above = {m for m in _imports(path) if m.startswith(ABOVE)}
    assert not above, f"{path.name} imports {sorted(above)}"


HELPERS = [p for p in MODULES if p.name not in ("store.py", "__init__.py")]


@pytest.mark.parametrize("path", HELPERS, ids=[p.name for p in HELPERS])
def test_no_module_of_the_store_imports_store_py_back(path: Path) -> None:
    assert "copytrace.store.store" not in _imports(path)
