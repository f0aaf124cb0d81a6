"""The phrases found in a batch of queries, as columns: a few arrays for the whole batch, no object per find.

A stream of posts checked against a large phrase list finds many phrases (with 100,000 phrases from the
same texts, ordinary posts hold some twenty each), and one Python object per match and per span then
costs more than finding them.  ``PhraseHits`` keeps the batch's matches as arrays, grouped by query:

* match ``m`` (one per query and item) belongs to query ``query[m]``, names item ``item[m]`` and covers
  ``coverage[m]`` of that query's tokens; the matches of query ``q`` are ``text_first[q]`` up to
  ``text_first[q + 1]``, in order of first occurrence;
* its spans (at most ``MAX_SPANS``, in order) are ``starts[i], ends[i]`` for ``i`` from ``span_first[m]`` up
  to ``span_first[m + 1]``: half-open character offsets into the query as given.

``PhraseTable.hits`` makes them; ``PhraseTable.match_many`` is ``PhraseHits.matches``, one ``PhraseMatch``
per match, for the callers that want objects.

>>> from copytrace.phrases import PhraseTable, phrase_fingerprint
>>> table = PhraseTable()
>>> table.add(7, phrase_fingerprint("no more war"))
>>> hits = table.hits(["so: no more war. NO MORE WAR", "peace"])
>>> hits.item.tolist(), hits.query.tolist(), hits.starts.tolist(), hits.ends.tolist()
([7], [0], [4, 17], [15, 28])
>>> hits.text_first.tolist()
[0, 1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MAX_SPANS = 16
"""Occurrences of one phrase in one query reported as spans."""


@dataclass(frozen=True)
class PhraseMatch:
    """Phrase ``item`` found in query ``query``: its occurrences as ``[start, end)`` character offsets,
    and the share of the query's tokens they cover."""

    query: int
    item: int
    spans: tuple[tuple[int, int], ...]
    coverage: float


@dataclass(frozen=True, eq=False)
class PhraseHits:
    """The phrase matches of a batch of ``n_texts`` queries, as columns (see the module's docstring)."""

    n_texts: int
    text_first: np.ndarray
    query: np.ndarray
    item: np.ndarray
    coverage: np.ndarray
    span_first: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return int(self.item.shape[0])

    @classmethod
    def empty(cls, n_texts: int) -> PhraseHits:
        """No match in any of ``n_texts`` queries."""
        none = np.zeros(0, dtype=np.int64)
        return cls(
            n_texts,
            np.zeros(n_texts + 1, dtype=np.int64),
            none,
            none,
            np.zeros(0),
            np.zeros(1, np.int64),
            none,
            none,
        )

    def matches(self) -> list[list[PhraseMatch]]:
        """One ``PhraseMatch`` per match, a list per query."""
        out: list[list[PhraseMatch]] = [[] for _ in range(self.n_texts)]
        starts, ends, first = self.starts.tolist(), self.ends.tolist(), self.span_first.tolist()
        for m, (q, item, cov) in enumerate(
            zip(self.query.tolist(), self.item.tolist(), self.coverage.tolist(), strict=True)
        ):
            a, b = first[m], first[m + 1]
            out[q].append(PhraseMatch(q, item, tuple(zip(starts[a:b], ends[a:b], strict=True)), cov))
        return out

    @classmethod
    def concat(cls, parts: Sequence[PhraseHits]) -> PhraseHits:
        """The hits of consecutive batches of queries, as one batch."""
        if len(parts) == 1:
            return parts[0]
        n_texts = sum(p.n_texts for p in parts)
        text_off = np.cumsum([0] + [p.n_texts for p in parts])
        match_off = np.cumsum([0] + [len(p) for p in parts])
        span_off = np.cumsum([0] + [len(p.starts) for p in parts])
        text_first = np.concatenate(
            [np.zeros(1, np.int64)] + [p.text_first[1:] + match_off[i] for i, p in enumerate(parts)]
        )
        span_first = np.concatenate(
            [np.zeros(1, np.int64)] + [p.span_first[1:] + span_off[i] for i, p in enumerate(parts)]
        )
        return cls(
            n_texts,
            text_first,
            np.concatenate([p.query + text_off[i] for i, p in enumerate(parts)]),
            np.concatenate([p.item for p in parts]),
            np.concatenate([p.coverage for p in parts]),
            span_first,
            np.concatenate([p.starts for p in parts]),
            np.concatenate([p.ends for p in parts]),
        )


def group(
    raw: np.ndarray, n_texts: int, tok_text: np.ndarray, tok_starts: np.ndarray, tok_ends: np.ndarray
) -> PhraseHits:
    """The hits of ``raw`` rows (text, item, first token, last token) in query order, over tokens of
    ``n_texts`` texts (``tok_text``, with their character offsets): one match per (text, item), in order of
    first occurrence in its text, its first ``MAX_SPANS`` rows its spans; the coverage is the share of
    the text's tokens those spans cover.  Numpy only: the work per find is a few array elements."""
    n = len(raw)
    if not n:
        return PhraseHits.empty(n_texts)
    order = np.lexsort((np.arange(n), raw[:, 1], raw[:, 0]))  # by text and item, then query order
    g = raw[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (g[1:, 0] != g[:-1, 0]) | (g[1:, 1] != g[:-1, 1])
    g_start = np.flatnonzero(new)
    g_id = np.cumsum(new) - 1
    keep = np.arange(n) - g_start[g_id] < MAX_SPANS
    covered = np.bincount(g_id[keep], weights=(g[keep, 3] - g[keep, 2] + 1), minlength=len(g_start))
    per_text = np.maximum(1, np.bincount(tok_text, minlength=n_texts))
    coverage = np.minimum(1.0, covered / per_text[g[g_start, 0]])
    n_spans = np.minimum(np.append(g_start[1:], n) - g_start, MAX_SPANS)
    by_first = np.lexsort((order[g_start], g[g_start, 0]))  # each text's matches by first occurrence
    n_spans = n_spans[by_first]
    span_first = np.zeros(len(by_first) + 1, dtype=np.int64)
    np.cumsum(n_spans, out=span_first[1:])
    # the rows of each match, matches in their new order: its first row, then one more a span
    rows = np.repeat(g_start[by_first] - span_first[:-1], n_spans) + np.arange(span_first[-1])
    query = g[g_start[by_first], 0]
    text_first = np.searchsorted(query, np.arange(n_texts + 1), side="left").astype(np.int64)
    return PhraseHits(
        n_texts,
        text_first,
        query,
        g[g_start[by_first], 1],
        coverage[by_first],
        span_first,
        tok_starts[g[rows, 2]],
        tok_ends[g[rows, 3]],
    )
