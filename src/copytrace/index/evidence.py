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

from collections.abc import Callable

import numpy as np

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


def evidence_spans(
    chains: list[list[int]], k: int, query_tokens: Tokens, item_tokens: Tokens | None
) -> tuple[Span, ...]:
    """Spans of the chains ``[result, first query token, last query token, first item token, last item
    token, anchors]`` (k-gram starts), sorted and merged where they overlap in both texts."""
    q_starts, q_ends = query_tokens.starts, query_tokens.ends
    raw: list[Span] = []
    q_hashes = query_tokens.hashes
    for _, q0, q1, i0, i1, _hits in chains:
        q1 += k - 1
        i1 += k - 1
        if item_tokens is None:
            raw.append(Span(int(q_starts[q0]), int(q_ends[q1])))
            continue
        i_hashes = item_tokens.hashes
        # Winnowing keeps some k-grams only: grow the passage over the tokens the two texts share.
        back = _shared_run(q_hashes[:q0][::-1], i_hashes[:i0][::-1])
        ahead = _shared_run(q_hashes[q1 + 1 :], i_hashes[i1 + 1 :])
        q0, i0, q1, i1 = q0 - back, i0 - back, q1 + ahead, i1 + ahead
        raw.append(
            Span(int(q_starts[q0]), int(q_ends[q1]), int(item_tokens.starts[i0]), int(item_tokens.ends[i1]))
        )
    raw.sort(key=lambda s: (s.query_start, -1 if s.item_start is None else s.item_start))
    merged: list[Span] = []
    for span in raw:
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
