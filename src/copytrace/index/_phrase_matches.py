"""The phrases of an index found in a query, as matches, and how they join the query's text matches.

The phrase table (``copytrace.phrases``) finds phrase items by their folded letters; this module names
them (bank, item, copy family), places them in the item's text where it is known, and merges them with the
long-text and quote matches of the same query: an item found both ways is reported once, as a phrase.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..phrases import PhraseFingerprint, PhraseHits
from ..text.phrase_fold import phrase_tokens_many
from ._contents import Contents
from .match import Match, Span


def phrase_hits(
    contents: Contents,
    texts: Sequence[str],
    html: bool | None,
    banks: Iterable[str] | None,
    queries: Sequence[str | None] | None,
) -> PhraseMatches:
    """The phrases found in each of ``texts``, as columns."""
    contents.flush()
    hits = contents.phrases.hits(texts, html=html, allowed=contents.allowed(banks))
    numbers, inverse = np.unique(hits.item, return_inverse=True)
    found = numbers.tolist()
    _phrase_spans(contents, found)
    names = [_names(contents, idx) for idx in found]
    return PhraseMatches(
        replace(hits, item=inverse.reshape(-1).astype(np.int64)),
        tuple(n[0] for n in names),
        tuple(n[1] for n in names),
        tuple(n[2] for n in names),
        tuple(n[3] for n in names),
        tuple(contents.phrase_spans[idx] for idx in found),
        None if queries is None else tuple(queries),
    )


def phrase_matches(
    contents: Contents,
    texts: Sequence[str],
    html: bool | None,
    banks: Iterable[str] | None,
    queries: Sequence[str | None] | None,
) -> list[list[Match]]:
    """The phrases found in each of ``texts``, as matches."""
    return phrase_hits(contents, texts, html, banks, queries).lists()


@dataclass(frozen=True, eq=False)
class PhraseMatches:
    """The phrase matches of a batch of queries (``Index.match_phrases``), as columns: a few arrays for
    the batch, and a ``Match`` only for the queries asked for.

    ``hits`` holds the matches (``copytrace.phrases.PhraseHits``: query, item, coverage and spans of each,
    the matches of query ``q`` from ``hits.text_first[q]`` up to ``hits.text_first[q + 1]``); its ``item``
    column numbers the items found in this batch, whose bank, id, copy family and family size are
    ``banks[i]``, ``item_ids[i]``, ``families[i]`` and ``family_sizes[i]``, and whose phrase lies at
    ``item_spans[i]`` of its text (``None`` when the text is not known).

    >>> from copytrace import Index
    >>> index = Index()
    >>> _ = index.add_many([("a", "no more war"), ("b", "burn their homes")], phrase=True)
    >>> found = index.match_phrases(["peace now", "BURN their h0mes, no more war"])
    >>> found.matched().tolist(), [m.item_id for m in found.matches(1)]
    ([1], ['a', 'b'])
    """

    hits: PhraseHits
    banks: tuple[str, ...]
    item_ids: tuple[str, ...]
    families: tuple[str, ...]
    family_sizes: tuple[int, ...]
    item_spans: tuple[tuple[int | None, int | None], ...]
    queries: tuple[str | None, ...] | None = None

    def __len__(self) -> int:
        """The number of (query, item) matches."""
        return len(self.hits)

    def matched(self) -> np.ndarray:
        """The numbers of the queries with a match, in order."""
        return np.flatnonzero(np.diff(self.hits.text_first))

    def matches(self, q: int) -> list[Match]:
        """Query ``q``'s matches, as ``Index.match`` gives them for a bank of phrases (by bank and item
        id: every score is 1)."""
        hits = self.hits
        a, b = int(hits.text_first[q]), int(hits.text_first[q + 1])
        return self._build(range(a, b))

    def lists(self) -> list[list[Match]]:
        """Every query's matches, in order of first occurrence (as ``Index.match_many`` merges them)."""
        hits = self.hits
        first = hits.text_first.tolist()
        return [self._build(range(first[q], first[q + 1]), by_name=False) for q in range(hits.n_texts)]

    def _build(self, rows: range, *, by_name: bool = True) -> list[Match]:
        if not len(rows):
            return []
        hits = self.hits
        a, b = rows.start, rows.stop
        s0, s1 = int(hits.span_first[a]), int(hits.span_first[b])
        starts, ends = hits.starts[s0:s1].tolist(), hits.ends[s0:s1].tolist()
        first = (hits.span_first[a : b + 1] - s0).tolist()
        query = None if self.queries is None else self.queries[int(hits.query[a])]
        out = []
        for m, (i, cov) in enumerate(zip(hits.item[a:b].tolist(), hits.coverage[a:b].tolist(), strict=True)):
            item_start, item_end = self.item_spans[i]
            spans = tuple(
                Span(x, y, item_start, item_end)
                for x, y in zip(starts[first[m] : first[m + 1]], ends[first[m] : first[m + 1]], strict=True)
            )
            out.append(
                Match(
                    self.banks[i],
                    self.item_ids[i],
                    1.0,
                    cov,
                    1.0,
                    spans,
                    query,
                    self.families[i],
                    self.family_sizes[i],
                    kind="phrase",
                )
            )
        if by_name:
            out.sort(key=lambda m: (m.bank, m.item_id))
        return out


def fingerprint_matches(
    contents: Contents,
    fps: Sequence[PhraseFingerprint],
    banks: Iterable[str] | None,
    limit: int | None,
    queries: Sequence[str | None],
) -> list[list[Match]]:
    """The phrases with the same folded letters as each of ``fps`` (no spans: no text to point into)."""
    contents.flush()
    allowed = contents.allowed(banks)
    out = []
    for numbers, query in zip(contents.phrases.match_fingerprints(list(fps)), queries, strict=True):
        live = [n for n in numbers if not len(allowed) or allowed[n]]
        out.append(merged([], [phrase_match(contents, n, (), 1.0, query) for n in live], limit))
    return out


def _names(contents: Contents, idx: int) -> tuple[str, str, str, int]:
    """Phrase item ``idx``'s bank, id, copy family (the earliest version's id) and family size."""
    names, families = contents.names, contents.families
    bank, item_id = names[idx]
    earliest = families.family_of(idx)
    return bank, item_id, item_id if earliest == idx else names[earliest][1], families.size(idx)


def phrase_match(
    contents: Contents, idx: int, spans: Sequence[tuple[int, int]], coverage: float, query: str | None
) -> Match:
    """The match of phrase item ``idx`` found at ``spans`` of the query."""
    bank, item_id, family, size = _names(contents, idx)
    if spans:
        _phrase_spans(contents, {idx})
    item_start, item_end = contents.phrase_spans[idx] if spans else (None, None)
    return Match(
        bank,
        item_id,
        1.0,
        coverage,
        1.0,
        tuple(Span(a, b, item_start, item_end) for a, b in spans),
        query,
        family=family,
        family_size=size,
        kind="phrase",
    )


def _phrase_spans(contents: Contents, items: Iterable[int]) -> None:
    """Where each phrase item of ``items`` has its tokens in its text (None without its text), into
    ``contents.phrase_spans``: the items not there yet normalised together, by their ``html`` flag."""
    spans = contents.phrase_spans
    todo: dict[bool | None, tuple[list[int], list[str]]] = {}
    for idx in items:
        if idx in spans:
            continue
        held = contents.item_text(idx)
        if held is None:
            spans[idx] = (None, None)
        else:
            numbers, texts = todo.setdefault(held[1], ([], []))
            numbers.append(idx)
            texts.append(held[0])
    for html, (numbers, texts) in todo.items():
        toks = phrase_tokens_many(texts, html=html)
        first = np.searchsorted(toks.text, np.arange(len(texts)), side="left")
        last = np.searchsorted(toks.text, np.arange(len(texts)), side="right") - 1
        for i, idx in enumerate(numbers):
            if last[i] >= first[i]:
                spans[idx] = (int(toks.starts[first[i]]), int(toks.ends[last[i]]))
            else:
                spans[idx] = (None, None)


def merged(text: list[Match], phrases: list[Match], limit: int | None) -> list[Match]:
    """Text and phrase matches of one query, best first (score, then bank and item id), at most ``limit``;
    an item found both ways is reported once, as a phrase."""
    if not phrases:
        return text
    found = {(m.bank, m.item_id) for m in phrases}
    text = [m for m in text if (m.bank, m.item_id) not in found]
    out = sorted(text + phrases, key=lambda m: (-m.score, m.bank, m.item_id))
    return out if limit is None else out[:limit]
