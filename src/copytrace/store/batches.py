"""Stored fingerprints read in batches: the bulk input of an index built from the store.

``Store.iter_fingerprint_batches`` reads the rows in chunks and parses each chunk's fingerprint strings in
one compiled pass (``fingerprint_batch.parse_many``), with the acceptance rules of ``Fingerprint.parse``: a
million stored items are read without parsing each one in Python.  Here the chunks are cut into runs of one
bank, as ``Index.add_batch`` and ``SnapshotBuilder.add`` take them.  A row that does not parse is handed to
``on_bad`` and left out; the rest keep their order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..errors import CopytraceError
from ..fingerprint import FingerprintParams
from ..fingerprint_batch import FingerprintBatch

if TYPE_CHECKING:
    from .store import Store

Batch = tuple[str, list[str], FingerprintBatch, list[list[str]]]
OnBad = Callable[[str, str, CopytraceError], None]


def fingerprint_batches(
    store: Store, banks: Iterable[str], params: FingerprintParams, *, on_bad: OnBad, size: int = 50_000
) -> Iterator[Batch]:
    """(bank, item ids, fingerprints, links as stored) of the items of ``banks``, made with ``params``, in
    runs of one bank of at most ``size`` items, in the order added (``Store.iter_fingerprint_batches``)."""
    for bank_names, ids, batch, links in store.iter_fingerprint_batches(
        banks, params, size=size, on_bad=on_bad
    ):
        at = 0
        while at < len(ids):
            end = at
            while end < len(ids) and bank_names[end] == bank_names[at]:
                end += 1
            lo, hi = int(batch.offsets[at]), int(batch.offsets[end])
            run = FingerprintBatch(
                params,
                batch.hashes[lo:hi],
                batch.positions[lo:hi],
                batch.offsets[at : end + 1] - lo,
                batch.n_tokens[at:end],
            )
            yield bank_names[at], ids[at:end], run, links[at:end]
            at = end
