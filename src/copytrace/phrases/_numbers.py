"""Numbers glued into words: ``fiscal1969AndIurge`` found as ``fiscal 1969 and I urge``.

Leet folding (``copytrace.text.phrase_fold``, rule 4) reads the digits of a token that has a letter as
letters, so a year or an amount glued to a word (``moneyforcollegeIn1992``, ``$1000merit``) or an ordinal
glued to the next word (``21stcentury``) is not the number the phrase holds (``1992`` stays ``1992`` in a
phrase).  Changing the folding would change every phrase fingerprint; instead, like repeated words
(``copytrace.phrases._repeats``), the query is searched again in *windows* around such tokens with a space
put between the number and the letters: before a number of four digits or more (a ``$`` kept with it) that
follows a letter, after one that a letter follows, and after an ordinal (``21st``) that a letter follows.  A
phrase found there is kept when it spans an inserted break; the others were found, or not, in the query
itself.

>>> number_breaks("fiscal1969AndI urge the 21stcentury")
[6, 10, 28]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..jit import njit
from ..text import _tokenize
from ..text.normalize import _table, code_points
from ._repeats import Window


@njit(cache=True, nogil=True, inline="always")
def _is_letter(cp, classes):  # type: ignore[no-untyped-def]
    if cp < 128:
        return 97 <= (cp | 32) <= 122
    return classes[cp] == _tokenize.WORD


@njit(cache=True, nogil=True, inline="always")
def _ordinal(a, b):  # type: ignore[no-untyped-def]
    a, b = a | 32, b | 32  # lower case (ASCII only reaches here)
    return (
        (a == 115 and b == 116)
        or (a == 110 and b == 100)
        or (a == 114 and b == 100)
        or (a == 116 and b == 104)
    )


def _digit_positions(cps: np.ndarray) -> np.ndarray:
    """The offsets of the ASCII digits in the unsigned code points ``cps`` (an unsigned subtraction wraps
    what is below ``0``, so one comparison tells a digit)."""
    return np.flatnonzero((cps - cps.dtype.type(48)) < 10)


@njit(cache=True, nogil=True)
def _breaks_within(cps, bounds, pos, classes):  # type: ignore[no-untyped-def]
    """(text, offset in that text) of the breaks at the digits ``pos`` of the texts
    ``cps[bounds[t]:bounds[t + 1]]`` joined with nothing between them (see the module), no run of digits
    and no neighbour read across two texts."""
    out_text = np.empty(2 * pos.shape[0], dtype=np.int64)
    out_at = np.empty(2 * pos.shape[0], dtype=np.int64)
    n = 0
    t = 0
    k = 0
    while k < pos.shape[0]:
        i = pos[k]
        while bounds[t + 1] <= i:
            t += 1
        lo, hi = bounds[t], bounds[t + 1]
        j = i + 1
        k += 1
        while k < pos.shape[0] and pos[k] == j and j < hi:
            j += 1
            k += 1
        if j - i >= 4:  # a year or an amount: broken off the letters on either side ($ kept with it)
            s = i - 1 if i > lo and cps[i - 1] == 36 else i
            if s > lo and _is_letter(np.int64(cps[s - 1]), classes):
                out_text[n] = t
                out_at[n] = s - lo
                n += 1
            if j < hi and _is_letter(np.int64(cps[j]), classes):
                out_text[n] = t
                out_at[n] = j - lo
                n += 1
        elif (  # an ordinal, broken off the letter after it
            j + 2 < hi
            and cps[j] < 128
            and cps[j + 1] < 128
            and _ordinal(cps[j], cps[j + 1])
            and _is_letter(np.int64(cps[j + 2]), classes)
        ):
            out_text[n] = t
            out_at[n] = j + 2 - lo
            n += 1
    return out_text[:n].copy(), out_at[:n].copy()


def _narrow(text: str) -> np.ndarray:
    """The code points of ``text`` in the narrowest array that holds them: a byte a character for ASCII
    and Latin-1, two for the first plane (no lone surrogate), else four.  The kernels read less, and the
    conversion is a copy rather than a widening."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    try:
        return np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:
        pass
    cps = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
    if len(cps) == len(text) and not ((cps >= 0xD800) & (cps < 0xE000)).any():
        return cps
    return code_points(text)


def breaks_many(
    texts: Sequence[str], *, cps: np.ndarray | None = None, bounds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(text, offset) of every break in ``texts`` (see the module), in order: the digits found by one
    vectorised pass, then only they looked at, compiled.  ``cps`` and ``bounds``: the texts' code points
    joined with nothing between them and where each text starts (one more entry: the end), when the caller
    has them already (the phrase folding's, ``PhraseTokens.source``)."""
    if cps is None or bounds is None:
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        bounds = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lens, out=bounds[1:])
        cps = _narrow("".join(texts))
    pos = _digit_positions(cps)
    if not len(pos):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    text, at = _breaks_within(cps, bounds, pos, _table().classes)
    return text, at


def number_breaks(text: str) -> list[int]:
    """The offsets of ``text`` where a number glued to letters is broken off (see the module)."""
    return [int(x) for x in breaks_many([text])[1]]


def break_windows(
    texts: Sequence[str],
    tok_text: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    reach: int,
    *,
    cps: np.ndarray | None = None,
    bounds: np.ndarray | None = None,
) -> list[Window]:
    """The windows of ``texts`` around their number breaks, ``reach`` tokens either side of the token
    broken, with a space at each break (``Window.cuts``: the breaks, as empty ranges).  ``cps``,
    ``bounds``: as ``breaks_many`` takes them."""
    out: list[Window] = []
    b_text, b_at = breaks_many(texts, cps=cps, bounds=bounds)
    if not len(b_at):
        return out
    first = np.searchsorted(tok_text, np.arange(len(texts)), side="left")
    last = np.searchsorted(tok_text, np.arange(len(texts)), side="right") - 1
    for q in np.unique(b_text).tolist():
        text = texts[q]
        if last[q] < first[q]:
            continue
        breaks = b_at[b_text == q].tolist()
        lo_q, hi_q = int(first[q]), int(last[q])
        tok_starts = starts[lo_q : hi_q + 1]
        at_tok = np.maximum(0, np.searchsorted(tok_starts, np.array(breaks), side="right") - 1) + lo_q
        i = 0
        while i < len(breaks):  # breaks whose windows meet make one window
            lo = max(lo_q, int(at_tok[i]) - reach)
            hi = min(hi_q, int(at_tok[i]) + reach)
            group = [breaks[i]]
            i += 1
            while i < len(breaks) and int(at_tok[i]) - reach <= hi + 1:
                hi = min(hi_q, int(at_tok[i]) + reach)
                group.append(breaks[i])
                i += 1
            begin, stop = int(starts[lo]), int(ends[hi])
            inside = [b for b in group if begin < b < stop]
            if not inside:
                continue
            pieces, string_starts, text_starts = [], [], []
            at, length = begin, 0
            for b in [*inside, stop]:
                pieces.append(text[at:b])
                string_starts.append(length)
                text_starts.append(at)
                length += b - at + 1
                at = b
            out.append(
                Window(
                    q,
                    " ".join(pieces),
                    tuple(string_starts),
                    tuple(text_starts),
                    tuple((b, b) for b in inside),
                )
            )
    return out
