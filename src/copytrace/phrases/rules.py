"""Which texts may be banked as a phrase.

A phrase needs two words or more, or one word of ``MIN_WORD_LETTERS`` letters or more (``phrase_problem``):
``a`` would be found in nearly every post.  Which banked items *are* phrases depends on the match settings,
and is the index's rule (``copytrace.index.phrase_rules``).
"""

from __future__ import annotations

from ..errors import InputError
from ..text.phrase_fold import phrase_tokens

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
