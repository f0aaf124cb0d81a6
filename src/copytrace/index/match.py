"""What a match is: the typed result of a query against the index, and the settings that decide it.

A ``Match`` names the bank and item, a ``score`` in [0, 1] (the larger of the two containments), the
*query containment* (share of the query's fingerprints found in order in the item: the query is an excerpt
of it) and the *item containment* (share of the item's fingerprints found in the query: the query contains
the item), and ``spans``: half-open character offsets of each matched passage in the original query and,
where the item's text is known, in the item.  ``text[span.query_start:span.query_end]`` is the passage.
``kind`` says how the item was found: ``"text"`` (shared fingerprints, the long-text rule) or ``"phrase"``
(a short item or an item of a phrase bank, found by its folded letters: ``copytrace.phrases``; its score and
item containment are 1, its query containment the share of the query's tokens it covers) or ``"quote"`` (a
short run of a banked text, too short for the long-text rule, found in full and judged distinctive by the
background model: ``copytrace.index.quotes``; ``quote`` then holds the run's length and information, and the
containments are the run's share of each text's tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Span:
    """One matched passage: ``[query_start, query_end)`` in the query, ``[item_start, item_end)`` in the
    item (``None`` when the item was stored as a fingerprint only)."""

    query_start: int
    query_end: int
    item_start: int | None = None
    item_end: int | None = None


@dataclass(frozen=True)
class QuoteEvidence:
    """The shared run a quote rests on: its length in tokens and the bits it carries beyond ordinary
    language (``copytrace.text.background``)."""

    tokens: int
    bits: float


@dataclass(frozen=True)
class Match:
    """A banked item found in a query.

    ``family`` is the id of the earliest-added version of the item's copy family in its bank (the item's own
    id when it has no other version), ``family_size`` how many versions the bank holds.
    """

    bank: str
    item_id: str
    score: float
    query_containment: float
    item_containment: float
    spans: tuple[Span, ...] = field(default_factory=tuple)
    query: str | None = None
    family: str | None = None
    family_size: int = 1
    kind: str = "text"
    quote: QuoteEvidence | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by the CLI and the service (``quote``: only for a quote)."""
        out: dict[str, Any] = {
            "query": self.query,
            "bank": self.bank,
            "item_id": self.item_id,
            "score": round(self.score, 6),
            "query_containment": round(self.query_containment, 6),
            "item_containment": round(self.item_containment, 6),
            "spans": [  # as ``asdict`` gives them, without its deep copy (a batch's matches add up)
                {
                    "query_start": s.query_start,
                    "query_end": s.query_end,
                    "item_start": s.item_start,
                    "item_end": s.item_end,
                }
                for s in self.spans
            ],
            "family": self.family if self.family is not None else self.item_id,
            "family_size": self.family_size,
            "kind": self.kind,
        }
        if self.quote is not None:
            out["quote"] = {"tokens": self.quote.tokens, "bits": round(self.quote.bits, 3)}
        return out


@dataclass(frozen=True)
class QuoteParams:
    """When a short shared run is reported as a quote (``copytrace.index.quotes``).

    ``min_tokens``: the run, grown over both texts' tokens, must be at least this long (at least the
    winnowing guarantee, 8 tokens at the defaults, is needed to find it at all; 10 chosen by measurement,
    ``docs/matching.md``).  ``min_bits``: its words must carry at least this information beyond ordinary
    language (``background.Background.information``).  ``max_candidates``: items verified per query, those
    whose shared fingerprints carry the most information first.  ``language``: the ``wordfreq`` language of
    the background; ``reference``: a file of stock phrases (``python -m copytrace.evaluation.reference``).
    """

    min_tokens: int = 10
    min_bits: float = 20.0
    max_candidates: int = 32
    language: str = "en"
    reference: str | None = None

    def __post_init__(self) -> None:
        if self.min_tokens < 1 or self.min_bits < 0 or self.max_candidates < 1:
            raise ValueError(
                f"quote parameters need min_tokens >= 1, min_bits >= 0 and max_candidates >= 1, got {self}"
            )

    def __str__(self) -> str:
        ref = "" if self.reference is None else f":ref={self.reference}"
        return f"quote1:t{self.min_tokens}:b{self.min_bits:g}:c{self.max_candidates}:{self.language}{ref}"


@dataclass(frozen=True)
class MatchParams:
    """How anchors (shared fingerprints) become a match.

    ``min_evidence``: a chain of in-order anchors counts when its weights sum to this (two distinctive
    shared fingerprints).  ``common_df``: a fingerprint held by more copy families than this weighs
    ``(common_df / df) ** 2``, so boilerplate shared across many unrelated items (a licence footer, a
    salutation) cannot make a match by itself.  Versions of one text are one family
    (``families``), so a bank that holds a text many times over still finds its excerpts.  10 is
    MOSS's default for the same purpose.
    ``max_gap`` / ``max_skew`` (tokens; ``None`` derives them from the fingerprint parameters): how far apart
    consecutive anchors of one chain may be, and how much the two texts' advances may differ.
    ``min_tokens``: a chain must run over at least this many query tokens (first to last distinctive shared
    k-gram), so a stock phrase of a few words ("the president of the united states"), alone or running into
    boilerplate, is not a copy.  ``min_score``: drop
    matches
    scoring below it.  ``quotes``: how shorter shared runs are reported as quotes (``QuoteParams``);
    ``None`` reports none.
    """

    min_evidence: float = 2.0
    common_df: int = 10
    max_gap: int | None = None
    max_skew: int | None = None
    min_tokens: int | None = 10
    min_score: float = 0.0
    max_postings: int = 20000
    quotes: QuoteParams | None = QuoteParams()

    def gap_for(self, guarantee: int) -> int:
        return self.max_gap if self.max_gap is not None else 3 * guarantee

    def min_tokens_for(self, guarantee: int) -> int:
        return self.min_tokens if self.min_tokens is not None else guarantee

    def skew_for(self, guarantee: int) -> int:
        return self.max_skew if self.max_skew is not None else guarantee


DEFAULT_MATCH_PARAMS = MatchParams()
