"""Numba's start-up without the optional-library probes copytrace does not need.

Numba probes for optional libraries as its CPU target starts, at the first compiled function a process calls,
even one loaded from its cache: where SciPy is installed it imports ``scipy.linalg.cython_blas`` for BLAS (all
of ``scipy.linalg``, with ``numpy.testing`` and ``numpy.f2py``: about 0.25 s of CPU, a quarter of a ``bank
add`` of one file; its import checks SciPy's version too), and where CFFI is, CFFI and its C parser (0.05 s)
to type CFFI functions.  copytrace's compiled code calls no BLAS (no ``np.dot``, no ``np.linalg``) and no CFFI
function, so it runs as it does where neither is installed.

Numba also sets its CPU target up in full before it loads a kernel from its cache (``refresh``: importing
and installing every typing and lowering registry it has, 0.13 s of CPU at the first kernel), though a cached
kernel is machine code that needs none of them: only Numba's runtime (NRT, for arrays) and the C symbols
the code links to (Numba's helpers, installed with the target; the hash secrets, installed by importing
``numba.cpython.hashing``).  ``load_kernel_support`` makes cached loads set up just those.  Compiling a
kernel (one not in the cache) still sets the target up in full: Numba's compiler refreshes it itself.

``load_kernel_support`` is called before the first compiled function by a command that runs compiled code
(``kernels=True`` among its parser's defaults), by a live index's follower and by the service's supervisor
before it forks its workers.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["load_kernel_support"]


def load_kernel_support() -> None:
    """Load Numba's array support and its CFFI typing with SciPy and CFFI hidden from them.  Only these
    probes are answered "absent": SciPy and CFFI import as usual afterwards, for any library that wants
    them.  Kernels are then loaded from Numba's cache without setting its whole CPU target up first
    (``_load_cached``).  Does nothing the second time."""
    if "numba.np.arraymath" not in sys.modules:
        hidden = [name for name in ("scipy", "scipy.linalg.cython_blas", "cffi") if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # an import of it fails at once
        try:
            import numba.core.typing.cffi_utils  # (finds no CFFI)
            import numba.cpython.hashing  # (the hash secrets' symbols, for cached code)
            import numba.np.arraymath  # noqa: F401  (Numba's version check and BLAS probe find no SciPy)
        finally:
            for name in hidden:
                if name in sys.modules and sys.modules[name] is None:
                    del sys.modules[name]
    _light_cache_loads()


def _light_cache_loads() -> None:
    """Make Numba load a cached kernel after setting up its runtime only, not its whole CPU target
    (``Cache.load_overload`` refreshes the target, then loads): once for the process."""
    import numba.cpython.hashing  # noqa: F401  (loaded above: the symbols installed before any load)
    from numba.core.caching import Cache

    if getattr(Cache.load_overload, "_copytrace", False):
        return
    if not hasattr(Cache, "_load_overload") or not hasattr(Cache, "_guard_against_spurious_io_errors"):
        return  # another Numba than the one this was written for: its own way
    Cache.load_overload = _load_cached  # type: ignore[method-assign]


def _load_cached(self: Any, sig: Any, target_context: Any) -> Any:
    """``Cache.load_overload`` of Numba 0.6x with Numba's runtime initialised in place of ``refresh``."""
    from numba.core.runtime.nrt import rtsys

    rtsys.initialize(target_context)
    with self._guard_against_spurious_io_errors():
        return self._load_overload(sig, target_context)
    return None  # the guard swallowed an error: not loaded (Numba then compiles the kernel)


_load_cached._copytrace = True  # type: ignore[attr-defined]
