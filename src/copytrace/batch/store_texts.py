"""Item texts for a scan worker's spans and quotes, read from the store and kept for the worker's life.

The job's index is pinned, so an item's text never changes under a worker: it is read from the store once,
not once per match.  The quote pass asks for the texts of every candidate of a batch of documents; it
first names them all (``prefetch``) and they are read in one statement per bank, about eight times cheaper
per item than one statement each.  A worker that cannot reach the store (an SQLite file on another
machine) reports item offsets as null, as for an item stored as a fingerprint only, and says so in its
blocks' statistics (``problem``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import CopytraceError, UnknownBankError

TEXTS_KEPT = 256 * 1024 * 1024
"""Characters of item texts a worker keeps."""


class StoreTexts:
    """``text_lookup`` (``copytrace.index.TextLookup``) of a worker: texts from the store at ``url``,
    opened on the first request."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.problem: str | None = None
        self._store: Any = None
        self._texts: dict[tuple[str, str], str | None] = {}
        self._kept = 0

    def __call__(self, bank: str, item_id: str) -> str | None:
        key = (bank, item_id)
        if key in self._texts:
            return self._texts[key]
        store = self._open()
        if store is None:
            return None
        text: str | None = store.text(bank, item_id)
        self._keep(key, text)
        return text

    def prefetch(self, names: Sequence[tuple[str, str]]) -> None:
        """Read the texts of ``names`` not kept yet, one statement per bank (and per few hundred items)."""
        wanted: dict[str, list[str]] = {}
        for bank, item_id in names:
            if (bank, item_id) not in self._texts:
                wanted.setdefault(bank, []).append(item_id)
        if not wanted or self._kept >= TEXTS_KEPT:
            return
        store = self._open()
        if store is None:
            return
        for bank, ids in wanted.items():
            try:
                found = store.texts_of(bank, ids)
            except UnknownBankError:
                found = {}  # the bank is gone from the store: no text, as asked one by one
            except CopytraceError:
                continue  # left to be asked one by one, which reports what went wrong
            for item_id in ids:
                self._keep((bank, item_id), found.get(item_id))

    def close(self) -> None:
        """Close the store, if opened (texts kept stay served)."""
        if self._store:
            self._store.close()
        self._store = None

    def _keep(self, key: tuple[str, str], text: str | None) -> None:
        if self._kept < TEXTS_KEPT:
            self._texts[key] = text
            self._kept += len(text or "") + 100

    def _open(self) -> Any:
        if self._store is None:
            from ..store import Store

            try:
                self._store = Store(self.url)
            except CopytraceError as exc:
                self._store = False
                self.problem = str(exc)
        return None if self._store is False else self._store
