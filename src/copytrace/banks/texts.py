"""Item texts for an index over a store whose texts can change: read a batch's at once, never kept longer.

An index built from a store's fingerprints gets the texts of its matched items (for their spans) and of
its quote candidates from the store.  One statement per item cost a quarter of a millisecond, about what
the match itself cost.  The index names the items a batch of queries is about to ask for
(``TextLookup``'s ``prefetch``); ``BatchTexts`` reads them in one statement per bank and serves them until
the thread's next batch names others.  Nothing is kept beyond that: an item replaced in the store is read
anew by the next batch that needs it.  Threads (a service worker's) each hold their own batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..errors import UnknownBankError
from ..store import Store as PersistenceStore


class BatchTexts:
    """``text_lookup`` of an index over ``store`` (``copytrace.index.TextLookup``), with ``prefetch``."""

    def __init__(self, store: PersistenceStore) -> None:
        self.store = store
        self._local = threading.local()

    def __call__(self, bank: str, item_id: str) -> str | None:
        held: dict[tuple[str, str], str | None] | None = getattr(self._local, "texts", None)
        if held is not None and (bank, item_id) in held:
            return held[bank, item_id]
        return self.store.text(bank, item_id)

    def prefetch(self, names: Sequence[tuple[str, str]]) -> None:
        """Read the texts of ``names`` (one statement per bank and few hundred items), to serve until this
        thread's next ``prefetch``."""
        wanted: dict[str, list[str]] = {}
        for bank, item_id in names:
            wanted.setdefault(bank, []).append(item_id)
        texts: dict[tuple[str, str], str | None] = {}
        for bank, ids in wanted.items():
            try:
                found = self.store.texts_of(bank, ids)
            except UnknownBankError:
                found = {}  # the bank is gone: no text, as asked one by one
            for item_id in ids:
                texts[bank, item_id] = found.get(item_id)
        self._local.texts = texts
