"""The HTTP parser and event loop the server runs: httptools and uvloop where they are installed.

Both are dependencies of copytrace (``pyproject.toml``; uvloop on the platforms it supports), compiled
code where uvicorn's fallbacks are pure Python: h11 parses every request and writes every response in
Python, and asyncio's own loop runs its callbacks in Python (the server CPU of a request on each:
``docs/benchmarks.md``, service).  Where either cannot be imported (uvloop has no Windows build) the server
runs the fallback, and its start line says which it runs: ``(httptools on uvloop)``.
"""

from __future__ import annotations

import importlib


def server_protocols() -> tuple[str, str]:
    """uvicorn's ``http`` and ``loop`` settings: ``("httptools", "uvloop")`` where they can be imported,
    each replaced by its pure-Python fallback (``"h11"``, ``"asyncio"``) where it cannot."""
    return (
        "httptools" if _importable("httptools") else "h11",
        "uvloop" if _importable("uvloop") else "asyncio",
    )


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True
