"""Evidence spans: the kernel's chains of shared fingerprints, as half-open character offsets into both texts.

A chain names the first and last query and item token of a run of shared k-grams.  Winnowing keeps only
some k-grams, so the passage is grown over the tokens the two texts share on either side, then mapped to
the original characters (``Tokens.starts``/``ends``: offsets into the text before normalisation), and
overlapping passages are merged.  Without the item's text the spans carry query offsets only.

>>> from copytrace.text.normalize import tokenize
>>> q, i = tokenize("so: we will continue our endeavors, always"), tokenize("We WILL continue our endeavors.")
>>> evidence_spans([[0, 2, 2, 1, 1, 1]], 3, q, i)
(Span(query_start=4, query_end=34, item_start=0, item_end=30),)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..jit import njit
from ..text.normalize import Tokens
from .match import Span


def _opt(f: Callable[[int, int], int], a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else f(a, b)


def _shared_run(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the common prefix of ``a`` and ``b``, compared in doubling chunks: a short run costs a
    few elements, a run through a whole repetitive text costs linear numpy work, never a Python loop."""
    n = min(len(a), len(b))
    done, step = 0, 16
    while done < n:
        size = min(step, n - done)
        differ = np.flatnonzero(a[done : done + size] != b[done : done + size])
        if len(differ):
            return done + int(differ[0])
        done += size
        step *= 2
    return n


def _continues(last: Span, span: Span) -> bool:
    """Whether ``span`` overlaps ``last`` in the query and, where known, in the item: one passage."""
    if span.query_start > last.query_end:
        return False
    if span.item_start is None or last.item_start is None or last.item_end is None or span.item_end is None:
        return True
    return span.item_start <= last.item_end and span.item_end >= last.item_start


@njit(cache=True, nogil=True)
def grown_chains(q_hashes, i_hashes, chains, k):  # type: ignore[no-untyped-def]
    """Each chain's first and last query and item token (``[first query, last query, first item, last
    item]``, the last ones inclusive), grown over the tokens ``q_hashes`` and ``i_hashes`` share on either
    side of it (``_shared_run``'s comparisons, compiled: one call per match, not numpy calls per chain)."""
    n = chains.shape[0]
    nq = q_hashes.shape[0]
    ni = i_hashes.shape[0]
    out = np.empty((n, 4), dtype=np.int64)
    for c in range(n):
        q0 = chains[c, 1]
        q1 = chains[c, 2] + k - 1
        i0 = chains[c, 3]
        i1 = chains[c, 4] + k - 1
        while q0 > 0 and i0 > 0 and q_hashes[q0 - 1] == i_hashes[i0 - 1]:
            q0 -= 1
            i0 -= 1
        while q1 + 1 < nq and i1 + 1 < ni and q_hashes[q1 + 1] == i_hashes[i1 + 1]:
            q1 += 1
            i1 += 1
        out[c, 0] = q0
        out[c, 1] = q1
        out[c, 2] = i0
        out[c, 3] = i1
    return out


def evidence_spans(
    chains: np.ndarray | Sequence[Sequence[int]], k: int, query_tokens: Tokens, item_tokens: Tokens | None
) -> tuple[Span, ...]:
    """Spans of the chains ``[result, first query token, last query token, first item token, last item
    token, anchors]`` (k-gram starts; rows of an array, or lists), sorted and merged where they overlap
    in both texts."""
    chains = np.asarray(chains, dtype=np.int64).reshape(-1, 6)
    q_starts, q_ends = query_tokens.starts, query_tokens.ends
    raw: list[tuple[int, int, int | None, int | None]]
    if item_tokens is None:
        qs = q_starts[chains[:, 1]].tolist()
        qe = q_ends[chains[:, 2] + (k - 1)].tolist()
        raw = [(a, b, None, None) for a, b in zip(qs, qe, strict=True)]
    else:
        # Winnowing keeps some k-grams only: grow the passage over the tokens the two texts share.
        grown = grown_chains(query_tokens.hashes, item_tokens.hashes, np.ascontiguousarray(chains), k)
        raw = list(
            zip(
                q_starts[grown[:, 0]].tolist(),
                q_ends[grown[:, 1]].tolist(),
                item_tokens.starts[grown[:, 2]].tolist(),
                item_tokens.ends[grown[:, 3]].tolist(),
                strict=True,
            )
        )
    if len(raw) > 1:
        raw.sort(key=lambda s: (s[0], -1 if s[2] is None else s[2]))
    merged: list[Span] = []
    for span in (Span(*r) for r in raw):
        if merged and _continues(merged[-1], span):
            last = merged[-1]
            merged[-1] = Span(
                last.query_start,
                max(last.query_end, span.query_end),
                _opt(min, last.item_start, span.item_start),
                _opt(max, last.item_end, span.item_end),
            )
            continue
        merged.append(span)
    return tuple(merged)
