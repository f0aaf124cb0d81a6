"""Phrase normalisation version 1: fold the evasive spellings of short texts, keeping every token's offsets.

Short banked items (slogans, calls to violence) are matched as *phrases* (``copytrace.phrases``), and those
are typed to dodge keyword lists: ``D3@TH``, ``d e a t h``, ``d.e.a.t.h``, ``deeeath``, ``deathtothe``.
This normalisation is a version of its own (``PHRASE_NORMALISATION_VERSION``): the long-text path
(``copytrace.text.normalize``, version 1) is not changed by it.  Its rules, in order (``docs/phrases.md``
gives each with examples and the ordinary text it could wrongly change):

1. **Version 1 folding** of every character: case, compatibility forms, accents, look-alike letters
   (Cyrillic ``а`` → ``a``), zero-width and other invisible characters removed without breaking the word;
   except that ASCII digits stay digits (version 1 reads ``0`` and ``1`` as the letters they look like),
   so that rule 4 decides what they are.
2. **Symbols inside words**: ``@`` and ``$`` next to a letter or digit, and ``!`` or ``|`` between a letter or
   digit and a letter or digit, are part of the word (``d3@th``, ``k!ll``), and so is one of them standing
   between split letters (``d 3 @ t h``); elsewhere they separate words (``death!``, ``me @ home``).
3. **Split letters re-joined**: three or more one-character tokens in a row, separated throughout by the
   same one or two of space, ``.``, ``-``, ``_``, ``*``, ``/``, ``+``, ``~`` (not a line break, not a comma),
   are one token when at least three of them are letters, or one of four or more (``d e a t h`` →
   ``death``, ``d.3.a.t.h`` and ``n 4 7 1 0 n 5`` → ``death``, ``nations``); ``1 2 3``, ``2.5.1`` and
   ``I a 2.5`` are left alone (``A 1 B 2`` is joined: ``aib2``).
4. **Leet, decided per token**: in a token with at least one letter, ``0``→o ``1``→i ``3``→e ``4``→a
   ``5``→s ``7``→t ``8``→b ``9``→g ``@``→a ``$``→s ``!``→i ``|``→i (``2`` and ``6`` are left alone); a
   token without letters is a number and keeps its digits (``1945``, ``2.5``); an ordinal that agrees with
   its number (``1st``, ``22nd``, ``4th``, not ``4nd``) or a number of two or more digits with a unit
   (``80s``, ``10km``, ``24h``) is left as typed.
5. **Runs of three or more** of one letter squeezed to one (``deeeath`` → ``death``; ``good`` and ``1000``
   stay).

The result is a list of tokens (``PhraseTokens``).  The matcher then compares their *skeleton*
(``skeleton``): the tokens' letters one after another, ignoring where the words break (so glued words and
words split over a line break are found), with ``l`` read as ``i`` (``1`` may stand for either), every run
of one letter read once (``goood`` and ``good`` and ``god`` compare equal), and a number of one to three
digits read as leet too (``15`` as ``is``: a short word typed in digits has no letter left to tell it from
a number; ``1945`` stays ``1945``, and a spaced number is read as a whole: ``1 9 4 5`` as ``1945``, ``5 0 0``
as ``500``).  A *strict* skeleton keeps doubled letters, so that ``meet`` is not ``met`` unless a letter of
the query was typed three times or more.

>>> phrase_normalize("D3@TH  to the 0ccup1ers in 1945")
'death to the occupiers in 1945'
>>> phrase_normalize("d.e.a.t.h to deeeath")
'death to death'
>>> skeleton("all the good")
'aithegod'
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..jit import njit
from . import _tokenize
from .html import looks_like_html, strip_html
from .normalize import _table, code_points

PHRASE_NORMALISATION_VERSION = 1

_LEET = np.zeros(128, dtype=np.uint32)
for _src, _dst in {
    "0": "o",
    "1": "i",
    "3": "e",
    "4": "a",
    "5": "s",
    "7": "t",
    "8": "b",
    "9": "g",
    "@": "a",
    "$": "s",
    "!": "i",
    "|": "i",
}.items():
    _LEET[ord(_src)] = ord(_dst)

# Suffixes after a number that make it an ordinal (any number) or a quantity (two or more digits).
_ORDINALS = ("st", "nd", "rd", "th")
_UNITS = ("s", "am", "pm", "k", "m", "g", "h", "d", "x", "km", "kg", "cm", "mm", "mb", "gb", "ml")


def _suffix_codes(words: Sequence[str]) -> np.ndarray:
    return np.array([ord(w[0]) * 65536 + (ord(w[1]) if len(w) > 1 else 0) for w in words], dtype=np.int64)


_ORDINAL_CODES = _suffix_codes(_ORDINALS)
_UNIT_CODES = _suffix_codes(_UNITS)


@njit(cache=True, nogil=True, inline="always")
def _is_joiner(cp):  # type: ignore[no-untyped-def]
    return (  # numba has no set literals
        cp == 32  # noqa: PLR1714
        or cp == 46
        or cp == 45
        or cp == 95
        or cp == 42
        or cp == 47
        or cp == 43
        or cp == 126
        or cp == 9
        or cp == 0xA0
        or cp == 0xB7
        or cp == 0x2022
        or 0x2010 <= cp <= 0x2015
    )


@njit(cache=True, nogil=True, inline="always")
def _is_digit(cp):  # type: ignore[no-untyped-def]
    return 48 <= cp <= 57


@njit(cache=True, nogil=True, inline="always")
def _spaced_digit(f, tok_a, tok_b, tok_text, tok_gap, after, q):  # type: ignore[no-untyped-def]
    """True when token ``q`` is one digit and token ``after`` follows the token before it by joiners only."""
    return (
        tok_b[q] - tok_a[q] == 1
        and _is_digit(f[tok_a[q]])
        and tok_gap[after] >= 0
        and tok_text[after] == tok_text[after - 1]
    )


@njit(cache=True, nogil=True)
def _exempt(f, a, b, ordinals, units):  # type: ignore[no-untyped-def]
    """True when ``f[a:b]`` is digits then a one- or two-letter ordinal or unit suffix (``4th``, ``80s``)."""
    nd = 0
    while a + nd < b and _is_digit(f[a + nd]):
        nd += 1
    ns = b - a - nd
    if nd == 0 or ns < 1 or ns > 2:
        return False
    c0 = np.int64(f[a + nd])
    c1 = np.int64(f[a + nd + 1]) if ns == 2 else np.int64(0)
    if not (97 <= c0 <= 122) or (ns == 2 and not (97 <= c1 <= 122)):
        return False
    code = c0 * 65536 + c1
    last = f[a + nd - 1] - 48
    tens = f[a + nd - 2] - 48 if nd >= 2 else 0
    want = 3  # th
    if tens != 1 and 1 <= last <= 3:
        want = last - 1  # st nd rd
    if ordinals[want] == code:  # an ordinal that agrees with its number: 1st 2nd 3rd 4th 11th, not 4nd
        return True
    if nd >= 2:
        for u in units:
            if u == code:
                return True
    return False


_SYMBOL = np.uint32(1 << 31)  # marks a symbol taken into a word in the folded stream


@njit(cache=True, nogil=True, inline="always")
def _put_token(out, no, tt, sa, sb, v0, nv, k0, nk, s0, ns, stretched, glued):  # type: ignore[no-untyped-def]
    """Column ``no`` of the folded tokens ``out``: its text, its span in the text, where its letters start
    and end in the visible, key and strict arrays, whether it was stretched and whether it joins tokens."""
    out[0, no] = tt
    out[1, no] = sa
    out[2, no] = sb
    out[3, no] = v0
    out[4, no] = nv
    out[5, no] = k0
    out[6, no] = nk
    out[7, no] = s0
    out[8, no] = ns
    out[9, no] = stretched
    out[10, no] = 1 if glued else 0


@njit(cache=True, nogil=True)
def _scan(cps, bounds, classes, offsets, lengths, data, leet, ordinals, units, tok, tok_flags, f, plain=True):  # type: ignore[no-untyped-def]
    """Phrase-normalise the texts ``cps[bounds[t]:bounds[t + 1]]`` in two passes: characters into tokens,
    then tokens (re-joined, leet-folded, squeezed) into the visible form and the skeletons.

    Returns per token (text, source start and end in that text, visible start, visible end, skeleton start,
    skeleton end, strict start, strict end, stretched, joined) as an (11, n) array, the visible folded
    characters, the skeleton (texts separated by a 0), each text's first skeleton position (one more entry:
    the end), and the strict skeleton (doubled letters kept) with its texts' first positions.

    ``cps``: the code points, as uint8, uint16 or uint32 (the narrowest that holds them: a post of ASCII or
    Latin-1 is read a byte a character).  ``tok``, ``tok_flags`` and ``f``: scratch of ``_capacity(cps)``
    plus 2 (``f``: plus 1) entries or more, reused across calls (``_Scratch``); the arrays returned are new.

    ``plain``: a run of ASCII letters, and the words of them that follow it one space apart, are read in
    the first pass by a loop of their own (no class table, one test a letter), and a token of ASCII
    letters only (most tokens of most posts) takes a shorter loop in the second pass, both with the same
    output as the loops every other character and token take (``False``: every one takes those; the tests
    compare the two).
    """
    n_texts = bounds.shape[0] - 1
    # f: folded characters of words only; a token a character at most (scripts written without spaces)
    tok_a = tok[0]  # folded range of each token
    tok_b = tok[1]
    tok_sa = tok[2]  # source range
    tok_sb = tok[3]
    tok_text = tok[4]
    tok_gap = tok[5]  # the joiners before it (up to two, as one code), else -1
    # tok_flags: 1: has a letter, 2: one character of a script w/o spaces, 4: a character that is not an
    # ASCII letter
    nf = 0
    nt = 0
    fl = 0  # the flags and source end of the token read, written when it ends
    sb = 0
    # 1. characters: fold (version 1, ASCII digits kept), symbols inside words, tokens
    for t in range(n_texts):
        end = bounds[t + 1]
        in_tok = False
        gap_n = 0
        gap_code = np.int64(0)
        i = bounds[t]
        while i < end:
            cp = np.int64(cps[i])
            cl = classes[cp]
            if cl == _tokenize.IGNORE:
                i += 1
                continue
            symbol = False
            if cl == _tokenize.SEP:
                if cp < 128 and leet[cp] != 0:
                    nx = i + 1
                    while nx < end and classes[cps[nx]] == _tokenize.IGNORE:  # 'g!\u200bve'
                        nx += 1
                    nxt = np.int64(cps[nx]) if nx < end else np.int64(32)
                    nxt_word = classes[nxt] == _tokenize.WORD
                    if cp == 64 or cp == 36:  # noqa: PLR1714  (@ $)
                        symbol = in_tok or nxt_word or nxt == 64 or nxt == 36  # noqa: PLR1714
                    else:  # ! |
                        symbol = in_tok and nxt_word
                    if not symbol and bounds[t] + 2 <= i and i + 2 < end:  # a letter of 'd 3 @ t h'
                        p1, p2 = np.int64(cps[i - 1]), np.int64(cps[i - 2])
                        n2 = np.int64(cps[i + 2])
                        symbol = (
                            _is_joiner(p1)
                            and p1 == nxt
                            and classes[p2] == _tokenize.WORD
                            and classes[n2] == _tokenize.WORD
                        )
                if not symbol:
                    if in_tok:
                        tok_b[nt] = nf
                        tok_sb[nt] = sb
                        tok_flags[nt] = fl
                        nt += 1
                        in_tok = False
                    gap_n += 1
                    if gap_code >= 0 and gap_n <= 2 and _is_joiner(cp):
                        gap_code = gap_code * 2097152 + cp
                    else:
                        gap_code = np.int64(-1 << 62)
                    i += 1
                    continue
            if cl == _tokenize.SOLO and not symbol:
                if in_tok:
                    tok_b[nt] = nf
                    tok_sb[nt] = sb
                    tok_flags[nt] = fl
                    nt += 1
                    in_tok = False
                ln = lengths[cp]
                for j in range(ln if ln > 0 else 1):
                    tok_a[nt] = nf
                    f[nf] = cp if ln == 0 else data[offsets[cp] + j]
                    nf += 1
                    tok_b[nt] = nf
                    tok_sa[nt] = i - bounds[t]
                    tok_sb[nt] = i + 1 - bounds[t]
                    tok_text[nt] = t
                    tok_gap[nt] = -1
                    tok_flags[nt] = 7
                    nt += 1
                gap_n = 0
                gap_code = np.int64(0)
                i += 1
                continue
            if not in_tok:
                in_tok = True
                tok_a[nt] = nf
                tok_sa[nt] = i - bounds[t]
                tok_text[nt] = t
                tok_gap[nt] = gap_code if 1 <= gap_n <= 2 and gap_code >= 0 else -1
                fl = 0
                gap_n = 0
                gap_code = np.int64(0)
            if symbol:
                f[nf] = np.uint32(cp) | _SYMBOL
                nf += 1
                fl |= 4
            elif cp < 128:  # ASCII: lower case only (version 1 reads the digits 0 and 1 as o and l)
                if 65 <= cp <= 90:
                    cp += 32
                f[nf] = cp
                nf += 1
                if 97 <= cp <= 122:
                    fl |= 1
                    while plain:  # the rest of a run of ASCII letters: each is a word character lower-cased
                        while i + 1 < end:
                            c = np.int64(cps[i + 1])
                            if 97 <= c <= 122:
                                f[nf] = c
                            elif 65 <= c <= 90:
                                f[nf] = c + 32
                            else:
                                break
                            nf += 1
                            i += 1
                        # one space, then an ASCII letter: this token ends, the next starts (a space its gap)
                        if i + 2 < end and cps[i + 1] == 32:
                            c = np.int64(cps[i + 2]) | 32  # lower case; nothing else lands in a-z
                            if 97 <= c <= 122:
                                tok_b[nt] = nf
                                tok_sb[nt] = i + 1 - bounds[t]
                                tok_flags[nt] = fl
                                nt += 1
                                i += 2
                                tok_a[nt] = nf
                                tok_sa[nt] = i - bounds[t]
                                tok_text[nt] = t
                                tok_gap[nt] = 32
                                f[nf] = c
                                nf += 1
                                fl = 1
                                continue
                        break
                elif _is_digit(cp):
                    fl |= 4
                else:
                    fl |= 5
            else:
                fl |= 4
                ln = lengths[cp]
                if ln == 0:
                    f[nf] = cp
                    nf += 1
                else:
                    o = offsets[cp]
                    for j in range(ln):
                        f[nf] = data[o + j]
                        nf += 1
                fl |= 1
            sb = i + 1 - bounds[t]
            i += 1
        if in_tok:
            tok_b[nt] = nf
            tok_sb[nt] = sb
            tok_flags[nt] = fl
            nt += 1
    # 2. tokens: split letters re-joined, leet per token, squeeze, skeletons
    out = np.empty((11, nt), dtype=np.int64)  # a row per column: contiguous arrays for the matcher
    vis = np.empty(nf + 1, dtype=np.uint32)
    key = np.empty(nf + n_texts, dtype=np.uint32)
    strict = np.empty(nf + n_texts, dtype=np.uint32)
    text_key = np.zeros(n_texts + 1, dtype=np.int64)
    text_strict = np.zeros(n_texts + 1, dtype=np.int64)
    nv = 0
    nk = 0
    ns = 0
    no = 0
    k = 0
    text = -1
    last_key = np.uint32(0)
    while True:
        tt = tok_text[k] if k < nt else n_texts
        while text < tt:  # close the texts before this token's
            if text >= 0:
                key[nk] = 0
                nk += 1
                strict[ns] = 0
                ns += 1
            text += 1
            if text < n_texts:
                text_key[text] = nk
                text_strict[text] = ns
            last_key = np.uint32(0)
        if k >= nt:
            break
        e = k + 1
        if tok_b[k] - tok_a[k] == 1 and tok_flags[k] & 2 == 0:
            letters = 1 if tok_flags[k] & 1 and f[tok_a[k]] < _SYMBOL else 0
            while (
                e < nt
                and tok_text[e] == tt
                and tok_b[e] - tok_a[e] == 1
                and tok_flags[e] & 2 == 0
                and tok_gap[e] >= 0
                and (e == k + 1 or tok_gap[e] == tok_gap[k + 1])
            ):
                if tok_flags[e] & 1 and f[tok_a[e]] < _SYMBOL:
                    letters += 1
                e += 1
            if e - k < 3 or letters < 1 or (letters < 3 and e - k < 4):  # 'n 4 7 1 0 n 5' is a word
                e = k + 1
        t0, t1 = k, e
        k = e
        if plain and t1 - t0 == 1 and tok_flags[t0] & 4 == 0:  # ASCII letters only: no leet, no digits
            v0, s0 = nv, ns
            stretched = 0
            a, b = tok_a[t0], tok_b[t0]
            # one step a letter, no look-ahead: the second of a run is written, a third takes it back
            ch = f[a]
            kc = np.uint32(105) if ch == 108 else ch  # l reads as i
            k0 = nk - 1 if kc == last_key else nk
            prev = np.uint32(0)
            run = 0
            for j in range(a, b):
                ch = f[j]
                if ch == prev:
                    run += 1
                    if run == 2:
                        vis[nv] = ch
                        nv += 1
                        strict[ns] = strict[ns - 1]
                        ns += 1
                    elif run == 3:  # three or more of a letter read once
                        nv -= 1
                        ns -= 1
                        stretched = 1
                    continue
                prev = ch
                run = 1
                kc = np.uint32(105) if ch == 108 else ch
                vis[nv] = ch
                nv += 1
                strict[ns] = kc
                ns += 1
                if kc != last_key:
                    key[nk] = kc
                    nk += 1
                    last_key = kc
            _put_token(out, no, tt, tok_sa[t0], tok_sb[t0], v0, nv, k0, nk, s0, ns, stretched, False)
            no += 1
            continue
        fold = False
        for q in range(t0, t1):
            if tok_flags[q] & 1:
                fold = True
        if fold and t1 - t0 == 1 and _is_digit(f[tok_a[t0]]):
            fold = not _exempt(f, tok_a[t0], tok_b[t0], ordinals, units)
        # the skeletons read a number of one to three digits as letters too ('15' may be 'is')
        n_digits = 0
        if not fold and t1 - t0 == 1 and not tok_flags[t0] & 1:
            for j in range(tok_a[t0], tok_b[t0]):
                if _is_digit(f[j]):
                    n_digits += 1
            if n_digits == 1 and tok_b[t0] - tok_a[t0] == 1:  # a digit of a spaced number ('1 9 6 9')?
                run = 1  # digits of the spaced number, counted up to 4: it is read as a whole
                q = t0
                while run < 4 and q > 0 and _spaced_digit(f, tok_a, tok_b, tok_text, tok_gap, q, q - 1):
                    run += 1
                    q -= 1
                q = t0
                while (
                    run < 4 and q + 1 < nt and _spaced_digit(f, tok_a, tok_b, tok_text, tok_gap, q + 1, q + 1)
                ):
                    run += 1
                    q += 1
                n_digits = run
        key_fold = fold or 1 <= n_digits <= 3
        v0 = nv
        k0 = -1
        s0 = ns
        stretched = 0
        run_ch = np.uint32(0)
        run_n = 0
        a, b = tok_a[t0], tok_b[t1 - 1]
        for j in range(a, b + 1):
            if j == b:
                ch = np.uint32(0)  # flushes the last run
            else:
                ch = f[j]
                if j > a and j < b and ch == 0:
                    continue
                if ch >= _SYMBOL:
                    if not fold:
                        continue
                    ch = leet[ch - _SYMBOL]
                elif fold and ch < 128 and leet[ch] != 0:
                    ch = leet[ch]
            if ch == run_ch:
                run_n += 1
                continue
            if run_n > 0:  # emit the run before: three or more of a letter read once
                reps = run_n
                if run_n >= 3 and not _is_digit(run_ch):  # letters only: 1000 stays 1000
                    reps = 1
                    stretched = 1
                kc = run_ch
                if key_fold and not fold and kc < 128 and leet[kc] != 0:
                    kc = leet[kc]
                if kc == 108:  # l reads as i
                    kc = np.uint32(105)
                for _ in range(reps):
                    vis[nv] = run_ch
                    nv += 1
                    strict[ns] = kc
                    ns += 1
                if kc != last_key:
                    key[nk] = kc
                    nk += 1
                    last_key = kc
                if k0 < 0:
                    k0 = nk - 1
            run_ch = ch
            run_n = 1
        if nv == v0:
            continue
        _put_token(out, no, tt, tok_sa[t0], tok_sb[t1 - 1], v0, nv, k0, nk, s0, ns, stretched, t1 - t0 > 1)
        no += 1
    text_key[n_texts] = nk
    text_strict[n_texts] = ns
    return out[:, :no], vis[:nv], key[:nk], text_key, strict[:ns], text_strict  # views: no copy


@njit(cache=True, nogil=True)
def _capacity(cps, lengths):  # type: ignore[no-untyped-def]
    """The folded characters ``cps`` make at most (a character folds to up to ``lengths`` of them)."""
    cap = 0
    for i in range(cps.shape[0]):
        ln = lengths[cps[i]]
        cap += ln if ln > 1 else 1
    return cap


_SCRATCH_KEPT = 1 << 18  # characters: a batch's slice (64 K) and more, not a whole corpus passed at once


class _Scratch(threading.local):
    """The folding's per-token scratch, kept per thread between calls: a fresh set per slice of posts
    cost page faults on every call."""

    def __init__(self) -> None:
        self.tok = np.empty((6, 0), dtype=np.int64)
        self.flags = np.empty(0, dtype=np.uint8)
        self.f = np.empty(0, dtype=np.uint32)

    def get(self, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.tok.shape[1] >= cap + 2:
            return self.tok, self.flags, self.f
        size = max(cap + 2, 1 << 16)
        tok = np.empty((6, size), dtype=np.int64)
        flags = np.empty(size, dtype=np.uint8)
        f = np.empty(size, dtype=np.uint32)
        if cap <= _SCRATCH_KEPT:
            self.tok, self.flags, self.f = tok, flags, f
        return tok, flags, f


_scratch = _Scratch()


def _narrow_code_points(text: str) -> tuple[np.ndarray, int]:
    """The code points of ``text`` in the narrowest array that holds them (uint8 for ASCII and Latin-1,
    uint16 without characters past the first plane or lone surrogates, else uint32), and an upper bound
    on the folded characters they make (``_scan``'s scratch)."""
    if text.isascii():  # an ASCII character folds to one at most
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8), len(text)
    try:
        cps = np.frombuffer(text.encode("latin-1"), dtype=np.uint8)
    except UnicodeEncodeError:
        cps = np.frombuffer(text.encode("utf-16-le", "surrogatepass"), dtype=np.uint16)
        if len(cps) != len(text) or ((cps >= 0xD800) & (cps < 0xE000)).any():
            cps = code_points(text)
    return cps, int(_capacity(cps, _table().lengths))


def _fold(texts: Sequence[str], *, plain: bool = True) -> tuple[np.ndarray, ...]:
    """``_scan`` of ``texts`` (no markup stripped)."""
    return _fold_source(texts, plain=plain)[0]


def _fold_source(
    texts: Sequence[str], *, plain: bool = True
) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """``_fold`` of ``texts``, the code points it read (``_narrow_code_points`` of the texts joined) and
    where each text starts in them (one more entry: the end)."""
    lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(lens, out=bounds[1:])
    cps, cap = _narrow_code_points("".join(texts))
    tok, flags, f = _scratch.get(cap)
    tb = _table()
    arrays = _scan(
        cps,
        bounds,
        tb.classes,
        tb.offsets,
        tb.lengths,
        tb.data,
        _LEET,
        _ORDINAL_CODES,
        _UNIT_CODES,
        tok,
        flags,
        f,
        plain,
    )
    return arrays, cps, bounds


@dataclass(frozen=True, eq=False)
class PhraseTokens:
    """Phrase tokens of a batch of texts.

    Token ``i`` belongs to text ``text[i]``, came from ``[starts[i], ends[i])`` of that text as given, reads
    ``chars[vis_starts[i]:vis_ends[i]]`` and covers ``key[key_starts[i]:key_ends[i]]`` of the skeleton
    (consecutive tokens may share a skeleton letter: ``all love`` → ``aiove``).  Text ``t``'s skeleton is
    ``key[text_key[t]:text_key[t + 1] - 1]``, followed by a 0 that no phrase crosses.  ``strict`` is the
    skeleton with doubled letters kept (``strict_starts``/``strict_ends``, ``text_strict`` likewise),
    ``stretched[i]`` says whether token ``i`` had a letter typed three or more times and ``joined[i]`` whether
    it was re-joined from split letters (rule 3: each of its letters may begin or end a phrase).

    ``source``: the code points of the texts as given, joined with nothing between them (the narrowest
    unsigned type that holds them), and ``source_bounds`` where each starts (one more entry: the end), when
    no markup was stripped from any of them (else ``None``): the glued numbers' search reads them instead of
    converting the texts again.
    """

    text: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    vis_starts: np.ndarray
    vis_ends: np.ndarray
    key_starts: np.ndarray
    key_ends: np.ndarray
    chars: np.ndarray
    key: np.ndarray
    text_key: np.ndarray
    strict_starts: np.ndarray
    strict_ends: np.ndarray
    stretched: np.ndarray
    joined: np.ndarray
    strict: np.ndarray
    text_strict: np.ndarray
    source: np.ndarray | None = None
    source_bounds: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.text.shape[0])

    @property
    def n_texts(self) -> int:
        return int(self.text_key.shape[0]) - 1

    def strings(self) -> list[str]:
        """The visible folded tokens."""
        raw = self.chars.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
        return [raw[a:b] for a, b in zip(self.vis_starts.tolist(), self.vis_ends.tolist(), strict=True)]

    def skeleton(self, t: int = 0) -> str:
        """Text ``t``'s skeleton as a string."""
        part = self.key[int(self.text_key[t]) : int(self.text_key[t + 1]) - 1]
        return part.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")


def phrase_tokens_many(texts: Sequence[str], *, html: bool | None = None) -> PhraseTokens:
    """Phrase tokens of many texts in one compiled pass.  ``html=None`` strips markup from each text that
    looks like HTML; offsets always point into the text as given."""
    flags = [looks_like_html(t) if html is None else html for t in texts]
    plain = list(texts)
    maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, is_html in enumerate(flags):
        if is_html:
            plain[i], src_starts, src_ends = strip_html(texts[i])
            maps[i] = (src_starts, src_ends)
    (out, vis, key, text_key, strict, text_strict), cps, bounds = _fold_source(plain)
    text = out[0]
    starts = out[1]
    ends = out[2]
    for i, (src_starts, src_ends) in maps.items():
        mine = text == i
        if mine.any():
            starts[mine] = src_starts[starts[mine]]
            ends[mine] = src_ends[ends[mine] - 1]
    return PhraseTokens(
        text,
        starts,
        ends,
        out[3],
        out[4],
        out[5],
        out[6],
        vis,
        key,
        text_key,
        out[7],
        out[8],
        out[9].astype(bool),
        out[10].astype(bool),
        strict,
        text_strict,
        None if maps else cps,
        None if maps else bounds,
    )


def phrase_tokens(text: str, *, html: bool | None = None) -> PhraseTokens:
    """Phrase tokens of one text."""
    return phrase_tokens_many([text], html=html)


def phrase_normalize(text: str, *, html: bool | None = None) -> str:
    """The phrase-normalised text: its folded tokens joined by single spaces.  Idempotent."""
    return " ".join(phrase_tokens(text, html=html).strings())


def skeleton(text: str, *, html: bool | None = None) -> str:
    """What the phrase matcher compares: the folded letters of ``text`` with no word breaks, ``l`` as ``i``
    and each run of one letter once."""
    return phrase_tokens(text, html=html).skeleton(0)
