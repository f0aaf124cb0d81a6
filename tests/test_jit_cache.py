"""Cached kernels compiled again when a kernel they call changes in another file (``copytrace.jit``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_RUN = """
import sys
from copytrace.jit import stamp_kernels_of
stamp_kernels_of(sys.argv[1], mark=b"from copytrace.jit import njit")
sys.path.insert(0, sys.argv[1])
import caller
print(caller.f())
"""


def _run(package: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(package)], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip()


def test_a_cached_caller_sees_its_callee_changed_in_another_file(tmp_path: Path) -> None:
    """The caller's file is untouched and its compiled code is in the cache; the callee's file changes:
    the caller answers with the new callee, where Numba's own stamp (the caller's file alone) would keep
    the old code."""
    package = tmp_path / "kernels"
    package.mkdir()
    (package / "callee.py").write_text(
        "from copytrace.jit import njit\n\n@njit(cache=True)\ndef g():\n    return 1\n"
    )
    (package / "caller.py").write_text(
        "from copytrace.jit import njit\nfrom callee import g\n\n"
        "@njit(cache=True)\ndef f():\n    return g()\n"
    )
    assert _run(package) == "1"
    assert list((package / "__pycache__").glob("caller.f-*.nbi"))  # cached
    (package / "callee.py").write_text(
        "from copytrace.jit import njit\n\n@njit(cache=True)\ndef g():\n    return 2\n"
    )
    assert _run(package) == "2"
    assert _run(package) == "2"  # and cached again under the new stamp


def test_copytraces_kernels_are_stamped() -> None:
    """Every module of copytrace with a compiled kernel takes ``njit`` from ``copytrace.jit``, so the stamp
    covers it."""
    root = Path(__file__).parents[1] / "src" / "copytrace"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "@njit" in text:
            assert "from ..jit import njit" in text, path
