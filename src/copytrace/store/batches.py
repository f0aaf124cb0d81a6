"""Stored fingerprints read in batches: the bulk input of an index built from the store.

Rows are streamed in the order added, cut into runs of one bank, and each run's fingerprint strings are
parsed together in one compiled pass (``fingerprint_batch.parse_many``), with the same acceptance rules as
``Fingerprint.parse``: a million stored items are read without parsing each one in Python.  A row that does
not parse is handed to ``on_bad`` and left out; the rest keep their order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..errors import CopytraceError
from ..fingerprint import FingerprintParams
from ..fingerprint_batch import FingerprintBatch, parse_many

if TYPE_CHECKING:
    from .store import Store

Batch = tuple[str, list[str], FingerprintBatch, list[list[str]]]
OnBad = Callable[[str, str, CopytraceError], None]


def fingerprint_batches(
    store: Store, banks: Iterable[str], params: FingerprintParams, *, on_bad: OnBad, size: int = 50_000
) -> Iterator[Batch]:
    """(bank, item ids, fingerprints, links as stored) of the items of ``banks``, made with ``params``, in
    runs of one bank of at most ``size`` items, in the order added."""
    rows = store.iter_fingerprints(banks)
    while chunk := list(itertools.islice(rows, size)):
        at = 0
        while at < len(chunk):
            bank = chunk[at][0]
            end = at
            while end < len(chunk) and chunk[end][0] == bank:
                end += 1
            run = chunk[at:end]
            batch, bad = parse_many([row[2] for row in run], params)
            skipped = set()
            for i, exc in bad:
                skipped.add(i)
                on_bad(bank, run[i][1], exc)
            kept = [row for i, row in enumerate(run) if i not in skipped]
            if kept:
                yield bank, [row[1] for row in kept], batch, [row[3] for row in kept]
            at = end
