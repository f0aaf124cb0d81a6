"""Numba's start-up without the optional-library probes copytrace does not need.

Numba probes for optional libraries as its CPU target starts, at the first compiled function a process calls,
even one loaded from its cache: where SciPy is installed it imports ``scipy.linalg.cython_blas`` for BLAS (all
of ``scipy.linalg``, with ``numpy.testing`` and ``numpy.f2py``: about 0.25 s of CPU, a quarter of a ``bank
add`` of one file; its import checks SciPy's version too), and where CFFI is, CFFI and its C parser (0.05 s)
to type CFFI functions.  copytrace's compiled code calls no BLAS (no ``np.dot``, no ``np.linalg``) and no CFFI
function, so it runs as it does where neither is installed.

``load_kernel_support`` is called before the first compiled function by a command that runs compiled code
(``kernels=True`` among its parser's defaults), by a live index's follower and by the service's supervisor
before it forks its workers.
"""

from __future__ import annotations

import sys

__all__ = ["load_kernel_support"]


def load_kernel_support() -> None:
    """Load Numba's array support and its CFFI typing with SciPy and CFFI hidden from them.  Only these
    probes are answered "absent": SciPy and CFFI import as usual afterwards, for any library that wants
    them.  Does nothing once Numba's array support is loaded."""
    if "numba.np.arraymath" in sys.modules:
        return
    hidden = [name for name in ("scipy", "scipy.linalg.cython_blas", "cffi") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # an import of it fails at once
    try:
        import numba.core.typing.cffi_utils  # (finds no CFFI)
        import numba.np.arraymath  # noqa: F401  (Numba's version check and BLAS probe find no SciPy)
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
