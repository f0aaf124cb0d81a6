"""Phrases: short banked items found by their folded letters, in one compiled pass over many queries.

A phrase is found when its skeleton (``copytrace.text.phrase_fold``: evasive spellings folded, word breaks
ignored) occurs in a query's skeleton **starting where a query token starts and ending where a query token
ends**: ``death to the occupiers`` is found in ``D3ATH to the occupiers``, ``d e a t h to the occupiers``,
``deathtotheoccupiers`` and ``death to the occu-\\npiers``, and not inside ``bathe occupiers``.

The phrase fingerprint (its hashes and string form) is a fingerprint format, in
``copytrace.fingerprints.phrase``, re-exported here; ``rules`` says which texts may be banked as phrases
(which items become phrases is the index's rule: ``copytrace.index.phrase_rules``); ``table`` is the
matcher, over the compiled search (``_search``), the pass for repeated words (``_repeats``) and the one for
numbers glued to letters (``_numbers``); ``hits`` holds what it finds in a batch of queries as columns.
"""

from ..fingerprints.phrase import (
    PhraseFingerprint,
    PhraseParams,
    looks_like_phrase_fingerprint,
    phrase_fingerprint,
    phrase_fingerprints,
)
from .hits import PhraseHits, PhraseMatch
from .rules import check_phrase_text, phrase_problem
from .table import PhraseTable

__all__ = [
    "PhraseFingerprint",
    "PhraseHits",
    "PhraseMatch",
    "PhraseParams",
    "PhraseTable",
    "check_phrase_text",
    "looks_like_phrase_fingerprint",
    "phrase_fingerprint",
    "phrase_fingerprints",
    "phrase_problem",
]
