"""The phrases of an index found in a query, as matches, and how they join the query's text matches.

The phrase table (``copytrace.phrases``) finds phrase items by their folded letters; this module names
them (bank, item, copy family), places them in the item's text where it is known, and merges them with the
long-text and quote matches of the same query: an item found both ways is reported once, as a phrase.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..phrases import PhraseFingerprint
from ..text.phrase_fold import phrase_tokens_many
from ._contents import Contents
from .match import Match, Span


def phrase_matches(
    contents: Contents,
    texts: Sequence[str],
    html: bool | None,
    banks: Iterable[str] | None,
    queries: Sequence[str | None] | None,
) -> list[list[Match]]:
    """The phrases found in each of ``texts``, as matches."""
    contents.flush()
    allowed = contents.allowed(banks)
    found = contents.phrases.match_many(texts, html=html, allowed=allowed)
    _phrase_spans(contents, {pm.item for pms in found for pm in pms})
    named: dict[int, tuple[str, str, str, int]] = {}  # an item's names, once a call
    out = []
    for i, pms in enumerate(found):
        query = None if queries is None else queries[i]
        matches = []
        for pm in pms:
            item = named.get(pm.item)
            if item is None:
                item = named[pm.item] = _names(contents, pm.item)
            bank, item_id, family, size = item
            item_start, item_end = contents.phrase_spans[pm.item]
            spans = tuple(Span(a, b, item_start, item_end) for a, b in pm.spans)
            matches.append(
                Match(bank, item_id, 1.0, pm.coverage, 1.0, spans, query, family, size, kind="phrase")
            )
        out.append(matches)
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
