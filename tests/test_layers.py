"""The layers of ``copytrace`` import only downwards.

The tree reads as the pipeline: text processing, the fingerprint format, the phrase matcher and the index,
the store, the bank layer, and on top the command line, the service, batch jobs, the ThreatExchange plugin
and the evaluation.  No module imports a layer above its own (lazy imports in functions included), the
store is persistence only, and no module of the store imports ``store.py`` back (the helpers that keep
keys, audit, reviews and the change feed take anything that opens sessions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STORE = Path(__file__).resolve().parents[1] / "src" / "copytrace" / "store"
ABOVE = (
    "copytrace.index",
    "copytrace.phrases",  # below the store in the layers, yet no part of persistence
    "copytrace.banks",
    "copytrace.service",
    "copytrace.cli",
    "copytrace.batch",
)


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


SRC = STORE.parent
TOP = 7
LAYER = {
    "errors": 0,
    "names": 0,
    "data": 0,
    "numba_start": 0,
    "jit": 0,
    "text": 1,
    "fingerprints": 2,
    "phrases": 3,
    "index": 4,  # the index builds on the phrase matcher, never the reverse
    "store": 5,
    "banks": 6,
    "cli": TOP,
    "service": TOP,
    "batch": TOP,
    "threatexchange": TOP,
    "evaluation": TOP,
    "": TOP,  # the package itself: the public surface, which names everything
}
"""Each part of ``copytrace`` and its floor: a module may import its own floor and those below."""


def _module_name(path: Path) -> list[str]:
    parts = ["copytrace", *path.relative_to(SRC).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(source: str, name: list[str], is_package: bool) -> set[str]:
    """Every ``copytrace`` module that module ``name`` (its ``source``) imports anywhere in it (in functions
    and under ``TYPE_CHECKING`` too), as an absolute name: ``from .. import x`` names ``copytrace.x`` when
    ``x`` is a module of the tree."""
    package = name if is_package else name[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = SRC.joinpath(*module.split(".")[1:], alias.name)
                is_module = sub.with_suffix(".py").is_file() or (sub / "__init__.py").is_file()
                found.add(f"{module}.{alias.name}" if is_module else module)
    return {m for m in found if m == "copytrace" or m.startswith("copytrace.")}


def _floor(module: str) -> tuple[str, int]:
    part = module.split(".")[1] if "." in module else ""
    assert part in LAYER, f"{module}: a part of copytrace with no floor in LAYER; give it one"
    return part or "copytrace", LAYER[part]


def upward_imports(source: str, name: list[str], is_package: bool = False) -> list[str]:
    """The imports of module ``name`` that point up the layers, as ``'module (part, floor n > own)'``."""
    _, own = _floor(".".join(name))
    return sorted(
        f"{m} ({part}, floor {n} > {own})"
        for m in _imported(source, name, is_package)
        for part, n in [_floor(m)]
        if n > own
    )


SOURCES = sorted(
    p
    for p in SRC.rglob("*.py")
    if "migrations" not in p.relative_to(SRC).parts and "__pycache__" not in p.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=[p.relative_to(SRC).as_posix() for p in SOURCES])
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    up = upward_imports(source, _module_name(path), path.name == "__init__.py")
    assert not up, f"{path.relative_to(SRC)} imports {up}"


def test_the_layer_check_sees_lazy_relative_and_package_imports() -> None:
    """An upward import cannot hide in a function, behind a relative name or as ``from .. import module``;
    imports of the same floor or below pass, and the index may import the phrase matcher."""
    source = (
        "from ..fingerprints.phrase import PhraseFingerprint\n"
        "from . import table\n"
        "def f():\n"
        "    from ..index.match import MatchParams\n"
        "    from .. import store\n"
        "    import copytrace.evaluation.suite\n"
    )
    assert upward_imports(source, ["copytrace", "phrases", "rules"]) == [
        "copytrace.evaluation.suite (evaluation, floor 7 > 3)",
        "copytrace.index.match (index, floor 4 > 3)",
        "copytrace.store (store, floor 5 > 3)",
    ]
    assert upward_imports("from ..phrases import PhraseTable\n", ["copytrace", "index", "_index"]) == []
    assert upward_imports("from .. import __version__\n", ["copytrace", "cli", "main"]) == []
    assert upward_imports("from .. import __version__\n", ["copytrace", "banks", "live"]) == [
        "copytrace (copytrace, floor 7 > 6)"
    ]
