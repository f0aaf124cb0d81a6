"""Which banked items are phrases, and which texts may be banked as one.

A banked item too short for the long-text evidence rule (``is_short``) — or any item of a phrase bank — is
a *phrase* (``item_phrase``).  A phrase needs two words or more, or one word of ``MIN_WORD_LETTERS`` letters
or more (``phrase_problem``): ``a`` would be found in nearly every post.
"""

from __future__ import annotations

import math

from ..errors import InputError, NoTokenError
from ..fingerprints.fingerprint import Fingerprint
from ..fingerprints.keys import Key
from ..index.match import DEFAULT_MATCH_PARAMS, MatchParams
from ..text.phrase_fold import phrase_tokens
from .fingerprint import PhraseFingerprint, phrase_fingerprint


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


MIN_WORD_LETTERS = 4
"""Letters a phrase of one word needs: a shorter word (``a``, ``no``, ``the``) is in every other post."""


def phrase_problem(text: str, *, html: bool | None = None) -> str | None:
    """Why ``text`` is too short to be banked as a phrase (None when it is not): a phrase needs at least two
    words, or one word of at least ``MIN_WORD_LETTERS`` letters, counted after folding (``aaaa`` is ``a``).
    A text with no token at all is ``NoTokenError``'s to report.

    >>> phrase_problem("a")
    "is one word of 1 letter ('a'): a phrase needs two words or more, or one word of 4 letters or more"
    >>> phrase_problem("kill") is None and phrase_problem("go on") is None
    True
    """
    toks = phrase_tokens(text, html=html)
    if len(toks) != 1:
        return None
    n = int(toks.vis_ends[0] - toks.vis_starts[0])
    if n >= MIN_WORD_LETTERS:
        return None
    return (
        f"is one word of {n} letter{'s' if n != 1 else ''} ({toks.strings()[0]!r}): a phrase needs two words "
        f"or more, or one word of {MIN_WORD_LETTERS} letters or more"
    )


def check_phrase_text(text: str, what: str = "text", *, html: bool | None = None) -> None:
    """Raise ``InputError`` (its message starting with ``what``) when ``text`` is too short to be banked as
    a phrase (``phrase_problem``): a one-letter phrase would be found in nearly every post."""
    problem = phrase_problem(text, html=html)
    if problem is not None:
        raise InputError(f"{what} {problem}")


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
