"""The phrases of an index found in a query, as matches, and how they join the query's text matches.

The phrase table (``copytrace.phrases``) finds phrase items by their folded letters; this module names
them (bank, item, copy family), places them in the item's text where it is known, and merges them with the
long-text and quote matches of the same query: an item found both ways is reported once, as a phrase.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..phrases import PhraseFingerprint
from ..text.phrase_fold import phrase_tokens
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
    return [
        [
            phrase_match(contents, pm.item, pm.spans, pm.coverage, None if queries is None else queries[i])
            for pm in pms
        ]
        for i, pms in enumerate(found)
    ]


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


def phrase_match(
    contents: Contents, idx: int, spans: Sequence[tuple[int, int]], coverage: float, query: str | None
) -> Match:
    """The match of phrase item ``idx`` found at ``spans`` of the query."""
    names, families = contents.names, contents.families
    bank, item_id = names[idx]
    item_start, item_end = _phrase_span(contents, idx) if spans else (None, None)
    earliest = families.family_of(idx)
    return Match(
        bank,
        item_id,
        1.0,
        coverage,
        1.0,
        tuple(Span(a, b, item_start, item_end) for a, b in spans),
        query,
        family=item_id if earliest == idx else names[earliest][1],
        family_size=families.size(idx),
        kind="phrase",
    )


def _phrase_span(contents: Contents, idx: int) -> tuple[int | None, int | None]:
    """Where phrase item ``idx``'s tokens run in its text (None without its text); kept once found."""
    span = contents.phrase_spans.get(idx)
    if span is None:
        span = (None, None)
        held = contents.item_text(idx)
        if held is not None:
            toks = phrase_tokens(held[0], html=held[1])
            if len(toks):
                span = (int(toks.starts[0]), int(toks.ends[-1]))
        contents.phrase_spans[idx] = span
    return span


def merged(text: list[Match], phrases: list[Match], limit: int | None) -> list[Match]:
    """Text and phrase matches of one query, best first (score, then bank and item id), at most ``limit``;
    an item found both ways is reported once, as a phrase."""
    if not phrases:
        return text
    found = {(m.bank, m.item_id) for m in phrases}
    text = [m for m in text if (m.bank, m.item_id) not in found]
    out = sorted(text + phrases, key=lambda m: (-m.score, m.bank, m.item_id))
    return out if limit is None else out[:limit]
