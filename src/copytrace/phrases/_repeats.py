"""Repeated words inside a phrase: ``death to the the occupiers`` found as ``death to the occupiers``.

A word typed twice (by mistake or to dodge a filter; or a word of two parts typed again glued: ``two-thirds
twothirds``) puts letters into the query's skeleton that the phrase does not have, so the search
(``copytrace.phrases._search``) cannot find it there.  After that search, each run of a token repeated right
after itself (``the the``, ``the the the``) or after the two tokens it glues is cut down to its first copy
in a *window* of the query around it (as many tokens either side as the longest phrase of 3 words or more
has; windows that meet are one), the windows are searched together as a batch of texts, and a phrase found
there is kept when it has 3 words or more and spans a cut: the others were found, or not, in the
query itself.  Offsets are mapped back to the query as given, so the span covers both copies.

The work is the windows' length, which is at most the query's length plus the reach of each window's two
ends: a query of nothing but repeats (``the the the …``) is one short window.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..jit import njit


@njit(cache=True, nogil=True)
def _repeats(chars, vis_starts, vis_ends, t, n_before):  # type: ignore[no-untyped-def]
    """True when token ``t``'s folded letters are those of the ``n_before`` tokens before it, glued."""
    a, b = vis_starts[t], vis_ends[t]
    at = a
    for v in range(t - n_before, t):
        c, d = vis_starts[v], vis_ends[v]
        if at + d - c > b:
            return False
        for i in range(d - c):
            if chars[at + i] != chars[c + i]:
                return False
        at += d - c
    return at == b


@njit(cache=True, nogil=True)
def repeated_tokens(chars, vis_starts, vis_ends, tok_text):  # type: ignore[no-untyped-def]
    """The tokens that repeat the token right before them (same folded letters, same text), or the two
    before them glued (``two-thirds twothirds``, ``don't dont``), in order."""
    n = vis_starts.shape[0]
    out = np.empty(n, dtype=np.int64)
    k = 0
    for t in range(1, n):
        if tok_text[t] != tok_text[t - 1]:
            continue
        first = chars[vis_starts[t]]  # a folded token has a letter or more: most tokens stop here
        if (first == chars[vis_starts[t - 1]] and _repeats(chars, vis_starts, vis_ends, t, 1)) or (
            t >= 2
            and tok_text[t - 2] == tok_text[t]
            and first == chars[vis_starts[t - 2]]
            and _repeats(chars, vis_starts, vis_ends, t, 2)
        ):
            out[k] = t
            k += 1
    return out[:k].copy()


@dataclass(frozen=True)
class Window:
    """Part of query ``text`` with repeated tokens cut out: piece ``i`` of ``string`` starts at
    ``string_starts[i]`` and came from ``text_starts[i]`` of the query; ``cuts`` are the ``[start, end)``
    character ranges of the query that were cut (a separator and a repeated copy).  Plain tuples: a
    window has a few pieces, and numpy's call costs more than the search."""

    text: int
    string: str
    string_starts: tuple[int, ...]
    text_starts: tuple[int, ...]
    cuts: tuple[tuple[int, int], ...]

    def to_query(self, offset: int, *, end: bool = False) -> int:
        """The query offset of window offset ``offset`` (``end``: an exclusive end, kept in its piece)."""
        if end:
            i = max(0, bisect_left(self.string_starts, offset) - 1)
        else:
            i = max(0, bisect_right(self.string_starts, offset) - 1)
        return self.text_starts[i] + (offset - self.string_starts[i])

    def spans_a_cut(self, start: int, end: int) -> bool:
        """True when query range ``[start, end)`` holds a cut with words on both sides."""
        return any(a > start and b < end for a, b in self.cuts)


def windows(
    texts: Sequence[str],
    tok_text: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    repeats: np.ndarray,
    reach: int,
) -> list[Window]:
    """The windows of ``texts`` around the ``repeats`` (token numbers), ``reach`` tokens either side."""
    out: list[Window] = []
    n_tok = len(tok_text)
    first = np.searchsorted(tok_text, np.arange(len(texts)), side="left")
    last = np.searchsorted(tok_text, np.arange(len(texts)), side="right") - 1
    i = 0
    reps = repeats.tolist()
    while i < len(reps):
        q = int(tok_text[reps[i]])
        lo = max(int(first[q]), reps[i] - 1 - reach)
        group = [reps[i]]
        i += 1
        while i < len(reps) and tok_text[reps[i]] == q and reps[i] - group[-1] <= 2 * reach + 1:
            group.append(reps[i])
            i += 1
        hi = min(int(last[q]), group[-1] + reach, n_tok - 1)
        text = texts[q]
        pieces: list[str] = []
        string_starts: list[int] = []
        text_starts: list[int] = []
        cuts: list[tuple[int, int]] = []
        at, length = int(starts[lo]), 0
        for r in group:  # cut from the end of the copy kept to the end of the repeat
            cut_start, cut_end = int(ends[r - 1]), int(ends[r])
            if cuts and cuts[-1][1] == cut_start:
                cuts[-1] = (cuts[-1][0], cut_end)
            else:
                cuts.append((cut_start, cut_end))
        for cut_start, cut_end in cuts:
            pieces.append(text[at:cut_start])
            string_starts.append(length)
            text_starts.append(at)
            length += cut_start - at
            at = cut_end
        pieces.append(text[at : int(ends[hi])])
        string_starts.append(length)
        text_starts.append(at)
        out.append(Window(q, "".join(pieces), tuple(string_starts), tuple(text_starts), tuple(cuts)))
    return out
