"""The quote pass's first check, compiled: how long a shared run each candidate chain can grow to.

A quote candidate is a chain of shared fingerprints between a query and an item (``quotes``).  Most are a
few words in common by chance: in prose against a large bank, a third of the queries that match nothing
carry one.  Verifying each in Python (its item's tokens, the run grown on both sides, the information
of its words) cost seven times the whole long-text search.  This kernel does the part that rejects them,
for every candidate of a batch of queries in one call: at each end anchor of a chain, check that the
k-gram is the same tokens in both texts (not a hash collision) and grow it over the tokens both texts
share, as ``quotes.text_run`` does, returning the longest run.  Only chains whose run reaches
``QuoteParams.min_tokens`` go on to the exact verification, which gives the same answer it gave before.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def longest_runs(
    chain_query: np.ndarray,
    chain_slot: np.ndarray,
    anchors: np.ndarray,
    q_hashes: np.ndarray,
    q_offsets: np.ndarray,
    i_hashes: np.ndarray,
    i_offsets: np.ndarray,
    k: int,
    max_run: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """For each chain ``c`` (query slot ``chain_query[c]``, item slot ``chain_slot[c]``, ``anchors[c]`` =
    first query token, last query token, first item token, last item token of its k-gram starts), the
    longest exact shared run of tokens through one of its two end anchors: grown at most ``max_run``
    tokens either side of the anchor's k-gram; 0 where neither anchor's k-gram is the same tokens.
    Token hashes of query slot ``s`` are ``q_hashes[q_offsets[s]:q_offsets[s + 1]]``, of item slot
    ``t`` ``i_hashes[i_offsets[t]:i_offsets[t + 1]]``."""
    n = len(chain_query)
    out = np.zeros(n, dtype=np.int64)
    for c in range(n):
        qb = q_offsets[chain_query[c]]
        qn = q_offsets[chain_query[c] + 1] - qb
        ib = i_offsets[chain_slot[c]]
        inn = i_offsets[chain_slot[c] + 1] - ib
        best = 0
        for end in range(2):
            qa = anchors[c, 0] if end == 0 else anchors[c, 1]
            ia = anchors[c, 2] if end == 0 else anchors[c, 3]
            if end == 1 and qa == anchors[c, 0] and ia == anchors[c, 2]:
                break  # one anchor: checked already
            if qa < 0 or ia < 0 or qa + k > qn or ia + k > inn:
                continue
            same = True
            for t in range(k):
                if q_hashes[qb + qa + t] != i_hashes[ib + ia + t]:
                    same = False
                    break
            if not same:
                continue  # a hash collision, or a keyed hash of other tokens
            back = 0
            while back < max_run and qa - back > 0 and ia - back > 0:
                if q_hashes[qb + qa - back - 1] != i_hashes[ib + ia - back - 1]:
                    break
                back += 1
            ahead = 0
            while ahead < max_run and qa + k + ahead < qn and ia + k + ahead < inn:
                if q_hashes[qb + qa + k + ahead] != i_hashes[ib + ia + k + ahead]:
                    break
                ahead += 1
            run = back + k + ahead
            best = max(best, run)
        out[c] = best
    return out


def runs_of(
    chain_query: np.ndarray,
    chain_item: np.ndarray,
    anchors: np.ndarray,
    query_hashes: list[np.ndarray],
    item_hashes: dict[int, np.ndarray],
    k: int,
    max_run: int,
) -> np.ndarray:
    """``longest_runs`` for chains given by query slot (into ``query_hashes``) and item number (a key of
    ``item_hashes``): the token hashes are laid end to end once, each text once."""
    q_offsets = np.zeros(len(query_hashes) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in query_hashes], out=q_offsets[1:])
    numbers = np.fromiter(item_hashes.keys(), dtype=np.int64, count=len(item_hashes))
    order = np.argsort(numbers)
    numbers = numbers[order]
    held = list(item_hashes.values())
    held = [held[j] for j in order.tolist()]
    i_offsets = np.zeros(len(held) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in held], out=i_offsets[1:])
    empty = np.zeros(0, dtype=np.uint64)
    return longest_runs(
        chain_query.astype(np.int64),
        np.searchsorted(numbers, chain_item).astype(np.int64),
        np.ascontiguousarray(anchors, dtype=np.int64),
        np.concatenate(query_hashes) if query_hashes else empty,
        q_offsets,
        np.concatenate(held) if held else empty,
        i_offsets,
        k,
        max_run,
    )
