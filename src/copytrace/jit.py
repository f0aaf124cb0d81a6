"""``njit`` for copytrace's compiled kernels: Numba's, with a cache that a change to any kernel invalidates.

Numba keeps a compiled function in its cache (``cache=True``) keyed by the stamp of the file that defines
it, and a kernel that calls a kernel of another module holds that one compiled in.  So when only the callee's
file changes (an upgrade from a checkout that touches one module, a kernel edited by hand) the caller's cached
code still runs the old callee: it reads arrays laid out the new way with the old code, and answers wrong
without a word.  Every kernel of copytrace is compiled through this module, and the cache files of a kernel
defined inside a package given to ``stamp_kernels_of`` carry a stamp of the sources of every kernel of that
package (the content of each file that imports this module), so a change to any of them compiles them all
again.  copytrace's own package is stamped when this module is imported.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from typing import Any

from numba import njit
from numba.core import caching

__all__ = ["njit", "stamp_kernels_of"]

_MARK = b"from ..jit import njit"  # how a module of copytrace's subpackages takes its kernels from here


@cache
def _sources_stamp(package: str, mark: bytes) -> str:
    """A digest of the name and content of every ``.py`` file under ``package`` that contains ``mark``."""
    digest = hashlib.sha256()
    root = Path(package)
    for path in sorted(root.rglob("*.py")):
        data = path.read_bytes()
        if mark in data:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()


def _stamped(base: type, package: str, mark: bytes) -> type:
    """Numba's locator ``base`` for the functions of files under ``package`` only, its stamp joined with
    the stamp of all the package's kernel sources."""

    class Locator(base):  # type: ignore[misc]
        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if not os.path.abspath(py_file).startswith(package + os.sep):
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self) -> Any:
            return (super().get_source_stamp(), _sources_stamp(package, mark))

    Locator.__name__ = Locator.__qualname__ = f"Stamped{base.__name__}"
    return Locator


def stamp_kernels_of(package: str | os.PathLike[str], mark: bytes = _MARK) -> None:
    """Make the cached kernels of the files under ``package`` (a folder) depend on every file there that
    contains ``mark``: a change to any of them compiles the package's kernels again.  Call it before the
    package's kernels are defined (``njit(cache=True)`` picks its cache's locator then)."""
    root = os.path.abspath(package)
    locators: list[type[object]] = caching.CacheImpl._locator_classes
    if any(getattr(loc, "_copytrace_package", None) == root for loc in locators):
        return
    mine: list[type[object]] = []
    for base in (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator):
        locator = _stamped(base, root, mark)
        locator._copytrace_package = root  # type: ignore[attr-defined]
        mine.append(locator)
    locators[:0] = mine


stamp_kernels_of(Path(__file__).parent)
