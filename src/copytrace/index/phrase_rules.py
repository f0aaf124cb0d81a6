"""Which banked items are phrases: the short-item rule, under the match settings.

A banked item too short for the long-text evidence rule (``is_short``: ``MatchParams`` says how much
evidence a long-text match needs) — or any item of a phrase bank — is a *phrase* (``item_phrase``), kept
with its phrase fingerprint and found by the phrase table (``copytrace.phrases``).  Which texts may be a
phrase at all is ``copytrace.phrases.rules``'s to say.
"""

from __future__ import annotations

import math

from ..errors import NoTokenError
from ..fingerprints.fingerprint import Fingerprint
from ..fingerprints.keys import Key
from ..fingerprints.phrase import PhraseFingerprint, phrase_fingerprint
from ..phrases.rules import check_phrase_text
from .match import DEFAULT_MATCH_PARAMS, MatchParams


def is_short(fp: Fingerprint, match_params: MatchParams = DEFAULT_MATCH_PARAMS) -> bool:
    """The short-item rule: True when ``fp`` (an item's long-text fingerprint) cannot be evidence on its own.

    A long-text match needs a chain of at least ``min_evidence`` shared fingerprints whose positions span
    at least ``min_tokens - k`` tokens (``MatchParams``).  An item with fewer fingerprints than that, or
    whose first and last fingerprints are closer, can never give such a chain: it is matched as a phrase.
    """
    g = fp.params.guarantee
    need = max(1, math.ceil(match_params.min_evidence - 1e-9))
    if len(fp) < need:
        return True
    return int(fp.positions[-1]) - int(fp.positions[0]) < match_params.min_tokens_for(g) - fp.params.k


def item_phrase(
    text: str | None,
    fp: Fingerprint,
    *,
    key: Key | str | bytes | None = None,
    phrase_bank: bool = False,
    match_params: MatchParams = DEFAULT_MATCH_PARAMS,
    html: bool | None = None,
) -> PhraseFingerprint | None:
    """The phrase fingerprint an item is banked with: for every item of a phrase bank, and for an item too
    short for the long-text rule (``is_short(fp)``); else None.  Needs the item's text (None without it);
    ``NoTokenError`` for a text with no token at all, ``InputError`` for one too short to be a phrase
    (``phrase_problem``)."""
    if text is None or not (phrase_bank or is_short(fp, match_params)):
        return None
    check_phrase_text(text, "the item", html=html)
    try:
        return phrase_fingerprint(text, key=key, html=html)
    except NoTokenError:
        raise NoTokenError("the item") from None
