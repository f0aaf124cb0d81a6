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


@njit(cache=True, nogil=True)
def _breaks(cps, runs, classes):  # type: ignore[no-untyped-def]
    """The breaks (offsets into ``cps``) at the runs of digits ``runs`` (start, end): see the module.
    ``cps`` holds the texts joined by line breaks, so that no run or neighbour crosses two texts."""
    n_cps = cps.shape[0]
    out = np.empty(2 * runs.shape[0], dtype=np.int64)
    n = 0
    for r in range(runs.shape[0]):
        i, j = runs[r, 0], runs[r, 1]
        if j - i >= 4:  # a year or an amount: broken off the letters on either side ($ kept with it)
            s = i - 1 if i > 0 and cps[i - 1] == 36 else i
            if s > 0 and _is_letter(np.int64(cps[s - 1]), classes):
                out[n] = s
                n += 1
            if j < n_cps and _is_letter(np.int64(cps[j]), classes):
                out[n] = j
                n += 1
        elif (  # an ordinal, broken off the letter after it
            j + 2 < n_cps
            and cps[j] < 128
            and cps[j + 1] < 128
            and _ordinal(cps[j], cps[j + 1])
            and _is_letter(np.int64(cps[j + 2]), classes)
        ):
            out[n] = j + 2
            n += 1
    return out[:n].copy()


@njit(cache=True, nogil=True)
def _digit_runs(cps):  # type: ignore[no-untyped-def]
    """(start, end) of each run of ASCII digits in ``cps``: one pass to count them, one to write them (no
    array the size of the text but ``cps``)."""
    n = cps.shape[0]
    count = 0
    prev = False
    for i in range(n):
        d = 48 <= cps[i] <= 57
        if d and not prev:
            count += 1
        prev = d
    out = np.empty((count, 2), dtype=np.int64)
    k = 0
    i = 0
    while i < n:
        if 48 <= cps[i] <= 57:
            j = i + 1
            while j < n and 48 <= cps[j] <= 57:
                j += 1
            out[k, 0] = i
            out[k, 1] = j
            k += 1
            i = j
        else:
            i += 1
    return out


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


def breaks_many(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(text, offset) of every break in ``texts`` (see the module), in order: the runs of digits found,
    then only they looked at, compiled."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    cps = _narrow("\n".join(texts))
    at = _breaks(cps, _digit_runs(cps), _table().classes)
    text = np.searchsorted(bounds, at, side="right") - 1
    return text, at - bounds[text]


def number_breaks(text: str) -> list[int]:
    """The offsets of ``text`` where a number glued to letters is broken off (see the module)."""
    return [int(x) for x in breaks_many([text])[1]]


def break_windows(
    texts: Sequence[str],
    tok_text: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    reach: int,
) -> list[Window]:
    """The windows of ``texts`` around their number breaks, ``reach`` tokens either side of the token
    broken, with a space at each break (``Window.cuts``: the breaks, as empty ranges)."""
    out: list[Window] = []
    b_text, b_at = breaks_many(texts)
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
