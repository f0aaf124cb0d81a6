"""The bank layer, between "a bank" and "an index".

Below it the store persists banks and items and knows no index (``copytrace.store``); above it the CLI, the
service, ``scan``, ``cluster`` and the plugins call it.  One module per job:

- ``selection``: choosing the banks a search may use;
- ``build``: building the index of banks from the stored fingerprints, as a snapshot file or in memory;
- ``cache`` (with ``cache_dir``): caching, identifying and pruning those snapshots;
- ``linking``: linking a new item to its versions, before it is stored;
- ``live`` (with ``live_snapshots``): following the store's change feed into a live index;
- ``store``: ``Store``, the store with all of the above.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .selection import BankSelection
from .store import Store

if TYPE_CHECKING:
    from .live import IndexNotReadyError, LiveIndex

__all__ = ["BankSelection", "IndexNotReadyError", "LiveIndex", "Store"]


def __getattr__(name: str) -> Any:
    """The live index (the service's, ``live``) is imported when first named: a command never uses it."""
    if name in ("IndexNotReadyError", "LiveIndex"):
        from . import live

        return getattr(live, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
