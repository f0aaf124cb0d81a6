"""Linking a batch of new items to their versions, each against the items added before it, in compiled calls.

``Index.add`` links an item by matching it against its bank (``Search.versions_of``); items added together
are linked in order, each against the items before it, with the families as the links before it left them.
One ``versions_of`` per item costs a Python round trip and a kernel call each: most of the time of a bulk
add of items without versions.  Here one compiled call matches the items one after another, each bounded
to the items numbered before it, and stops at the first that has a version: its links change the families
(which weigh the fingerprints of the items after it), so they are recorded before the next call goes on
from the item after it.  The links are those of ``versions_of`` item by item.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..jit import njit
from ._contents import Contents
from ._matching import match_query
from .families import MAX_LINKS, VERSION_CONTAINMENT


@njit(cache=True, nogil=True)
def _next_with_version(index, q_hashes, q_pos, q_starts, q_end, start, params, containment):  # type: ignore[no-untyped-def]
    """From query ``start`` on, the first query that is a version of an item numbered below its ``q_end``:
    (query, its results' items, query and item fingerprints matched), or -1 and empty arrays."""
    nfp = index[17]
    for i in range(start, q_starts.shape[0] - 1):
        a = q_starts[i]
        b = q_starts[i + 1]
        if b == a:
            continue
        bounded = (
            index[0], index[1], index[2], index[3], index[4], index[5], index[6], index[7], index[8],
            index[9], index[10], index[11], index[12], index[13], q_end[i], index[15], index[16], index[17],
        )  # fmt: skip
        r_item, r_qm, r_im, _ev, _segs = match_query(bounded, q_hashes[a:b], q_pos[a:b], params)
        for t in range(r_item.shape[0]):
            qc = r_qm[t] / (b - a)
            ic = r_im[t] / max(1, nfp[r_item[t]])
            if min(qc, ic) >= containment:
                return i, r_item, r_qm, r_im
    empty = np.empty(0, dtype=np.int64)
    return -1, empty, empty, empty


def link_batch(
    contents: Contents,
    params: tuple[object, ...],
    bank: str,
    item_ids: Sequence[str],
    first: int,
    hashes: np.ndarray,
    positions: np.ndarray,
    offsets: np.ndarray,
) -> None:
    """Link items ``first .. first + len(item_ids) - 1`` of ``bank`` (added already, without links; their
    fingerprints in flat arrays cut at ``offsets``) to their versions among the items before each, as
    ``Index.versions_of(..., added_before=...)`` of each in order would (``params``: the kernel's
    parameters with ``LINK_ANCHORS``)."""
    n = len(item_ids)
    if n == 0:
        return
    q_hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    q_pos = np.ascontiguousarray(positions, dtype=np.int64)
    q_starts = np.ascontiguousarray(offsets, dtype=np.int64)
    contents.flush()  # before the main level is lent: a merge now goes to the file
    main = contents.main
    held = None if contents.in_file is None else contents.in_file.held(main, q_hashes)
    if held is not None:
        contents.main = held  # the postings these items look up, read from the file, not mapped
    try:
        _link(contents, params, bank, item_ids, first, q_hashes, q_pos, q_starts)
    finally:
        contents.main = main


def _link(
    contents: Contents,
    params: tuple[object, ...],
    bank: str,
    item_ids: Sequence[str],
    first: int,
    q_hashes: np.ndarray,
    q_pos: np.ndarray,
    q_starts: np.ndarray,
) -> None:
    n = len(item_ids)
    q_end = np.arange(first, first + n, dtype=np.int64)
    names = contents.names
    start = 0
    while start < n:
        index = contents.kernel_index((bank,), None)
        i, items, qm, im = _next_with_version(
            index, q_hashes, q_pos, q_starts, q_end, start, params, VERSION_CONTAINMENT
        )
        if i < 0:
            return
        # as Search.versions_of: largest smaller containment first, then the earliest added
        qc = qm / int(q_starts[i + 1] - q_starts[i])
        ic = im / np.maximum(1, contents.nfp[items])
        both = np.minimum(qc, ic)
        ok = np.flatnonzero(both >= VERSION_CONTAINMENT)
        ok = ok[np.lexsort((items[ok], -both[ok]))][:MAX_LINKS]
        found = [names[j][1] for j in items[ok].tolist()]
        if found:
            contents.families.link(first + i, (bank, item_ids[i]), [(bank, other) for other in found])
        start = i + 1
