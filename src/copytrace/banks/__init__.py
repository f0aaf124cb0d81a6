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

from .live import IndexNotReadyError, LiveIndex
from .selection import BankSelection
from .store import Store

__all__ = ["BankSelection", "IndexNotReadyError", "LiveIndex", "Store"]
