"""The compiled phrase search: lookup hashes, the lookup tables and the one pass over a batch of queries.

``copytrace.phrases`` holds the phrase fingerprint and ``PhraseTable``; this module is the part that runs
per query letter, and why its cost is bounded by the query's length whatever the table holds.

Phrases are grouped three levels deep, once, when the table is built:

* a **group** is every phrase with the same lookup prefix (the keyed hash of its first ``PREFIX`` skeleton
  letters, or of all of them when shorter) — ten thousand phrases that start with the same twelve letters
  are one group;
* a **run** is every phrase of a group with the same skeleton length, the runs of a group in order of
  length;
* a **shape** is every phrase of a run with the same whole, strict and token count: the items that share
  a shape (one slogan banked twice) are found together, as one.

At a query position whose prefix finds a group, each run whose length ends at a token end is checked with
one keyed hash of the query's letters there (a polynomial hash grown letter by letter as the runs get
longer, once for the whole group), and a binary search for that hash among the run's shapes.  The work at a
position is therefore the probes of the prefix lengths (at most ``PREFIX``) plus, where a group is found,
one step for each distinct phrase length of the group and one for each letter up to the longest phrase
that fits: never a step per phrase.
A shape is reported at most ``cap`` times per query; the tokens a candidate may end at are limited to the
phrase's tokens plus its letters (tokens whose letters all run into the previous token's, like ``oo oo
oo``, could otherwise be tried by the thousand).  The kernel counts the hashes it computes (``work``),
which the adversarial-cost tests compare between posts.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..fingerprints._phrase_hashing import BASE as _BASE
from ..fingerprints._phrase_hashing import MIX as _MIX
from ..fingerprints._phrase_hashing import PREFIX, keyed, poly
from ..fingerprints._phrase_hashing import SEED as _SEED
from ..fingerprints._phrase_hashing import fmix as _fmix
from ..jit import njit

GUARD_WORDS = 3
"""Words a phrase needs before a partly glued or doubled-letter spelling of it is taken as an evasion."""
GLUE_CONTEXT = 4
"""Query tokens a partly glued match needs when all of them are common words (``ofthe``, ``anyone``): one
glued pair among three words or more spelled as banked (``solely the responsibility ofthe federal``), where
``go to therapist`` (three tokens) is still not ``go to the rapist``."""
_COMMON_WORDS = Path(__file__).parents[1] / "data" / "common_words_en.npz"
_common: np.ndarray | None = None


@njit(cache=True, nogil=True, inline="always")
def _word_hash(chars, a, b):  # type: ignore[no-untyped-def]
    return _fmix(poly(chars, a, b) + np.uint64(b - a))


@njit(cache=True, nogil=True)
def _word_hashes(chars, offsets):  # type: ignore[no-untyped-def]
    out = np.empty(offsets.shape[0] - 1, dtype=np.uint64)
    for i in range(out.shape[0]):
        out[i] = _word_hash(chars, offsets[i], offsets[i + 1])
    return np.sort(out)


def common_words() -> np.ndarray:
    """Sorted hashes of the common English words (``data/common_words_en.npz``, made by
    ``tools/make_common_words.py``): a token that is one of them is never taken as glued words or a
    doubled letter (``therapist`` is not ``the rapist``, ``too`` is not ``to``)."""
    global _common  # noqa: PLW0603  # read once, then shared by every table
    if _common is None:
        with np.load(_COMMON_WORDS) as data:
            _common = _word_hashes(data["chars"].astype(np.uint32), data["offsets"].astype(np.int64))
    return _common


def is_common_word(folded: str) -> bool:
    """True when the folded token ``folded`` is a common English word (``common_words``)."""
    chars = np.array([ord(c) for c in folded], dtype=np.uint32)
    return bool(_is_common(chars, 0, len(chars), common_words()))


@njit(cache=True, nogil=True)
def _is_common(chars, a, b, common):  # type: ignore[no-untyped-def]
    h = _word_hash(chars, a, b)
    lo, hi = 0, common.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if common[mid] < h:
            lo = mid + 1
        else:
            hi = mid
    return lo < common.shape[0] and common[lo] == h


@njit(cache=True, nogil=True, inline="always")
def _is_letter(c):  # type: ignore[no-untyped-def]
    return 97 <= c <= 122 or c >= 128  # folded: lower case, or a letter of another script


@njit(cache=True, nogil=True, inline="always")
def _has_letter(chars, a, b):  # type: ignore[no-untyped-def]
    for i in range(a, b):  # noqa: SIM110  # compiled: a plain loop
        if _is_letter(chars[i]):
            return True
    return False


@njit(cache=True, nogil=True)
def _any_uncommon(chars, vis_starts, vis_ends, t, u, common):  # type: ignore[no-untyped-def]
    """True when a token of ``t..u`` is a word (a letter after folding: ``500`` is a number, not glued
    words) and not a common one: some of the region's words may be glued."""
    for v in range(t, u + 1):
        a, b = vis_starts[v], vis_ends[v]
        if _has_letter(chars, a, b) and not _is_common(chars, a, b, common):
            return True
    return False


@njit(cache=True, nogil=True)
def _doubles_uncommon(chars, vis_starts, vis_ends, t, u, common):  # type: ignore[no-untyped-def]
    """True when a token of ``t..u`` has a doubled letter (not a digit: ``000``) and none that has one is a
    common word: a doubled letter there is typed (``occupierss``), not another word (``too`` for ``to``)."""
    found = False
    for v in range(t, u + 1):
        a, b = vis_starts[v], vis_ends[v]
        doubled = False
        for i in range(a + 1, b):
            if chars[i] == chars[i - 1] and _is_letter(chars[i]):  # '000' has no doubled letter
                doubled = True
                break
        if doubled:
            if _is_common(chars, a, b, common):
                return False
            found = True
    return found


_SEEN_KEPT = 1 << 20  # shapes: a scratch kept per thread up to 16 MB; a larger table's is made per call


class Seen(threading.local):
    """The search's count of finds per shape and text, kept per thread between calls (``find``'s
    ``seen``), with the base above every value a call before left in it."""

    def __init__(self) -> None:
        self.rows = np.zeros((0, 2), dtype=np.int64)
        self.base = 0

    def get(self, n_shapes: int, n_texts: int) -> tuple[np.ndarray, int]:
        """A scratch of ``n_shapes`` rows or more, and the base of a call over ``n_texts`` texts."""
        if n_shapes > _SEEN_KEPT:
            return np.zeros((n_shapes, 2), dtype=np.int64), 0
        if self.rows.shape[0] < n_shapes:
            self.rows = np.zeros((max(n_shapes, 1024), 2), dtype=np.int64)
            self.base = 0
        base = self.base
        self.base += n_texts + 1
        return self.rows, base


seen_scratch = Seen()


class Lookup(NamedTuple):
    """The tables ``find`` searches (built by ``build``), the fields a find reads together kept together: a
    find reads one slot of ``groups``, two rows of ``runs``, a row of ``s_hash`` and one of ``s_ntok``,
    not an array per field (with 100,000 phrases the tables outgrow the caches, which the folding of the
    same batch also uses)."""

    shift: int  # a group's first slot is its prefix hash's top bits; the next slots follow it
    groups: (
        np.ndarray
    )  # open addressing, per slot: prefix hash; prefix length | first run << 8 | end run << 36
    runs: np.ndarray  # per run and one more row: skeleton length, first shape (int32); by length in a group
    s_hash: np.ndarray  # per shape: full hash, strict hash; by full hash within a run
    s_ntok: np.ndarray  # per shape: tokens
    s_item: np.ndarray  # items of shape s: s_items[s_item[s]:s_item[s + 1]], in the order they were added
    s_items: np.ndarray
    len_mask: int  # bit c set: some phrase has exactly c < PREFIX letters
    filt: np.ndarray  # a bit per group prefix hash (``fmix`` undone): most probes of ordinary text end here
    max_len: int
    max_guarded_ntok: int  # the most tokens of a phrase of GUARD_WORDS tokens or more (0: none)


def _starts(*columns: np.ndarray) -> np.ndarray:
    """Indices where any of ``columns`` (sorted together) changes value, with 0 first."""
    n = len(columns[0])
    new = np.zeros(n, dtype=bool)
    if n:
        new[0] = True
        for col in columns:
            new[1:] |= col[1:] != col[:-1]
    return np.flatnonzero(new)


_UNMIX_1 = np.uint64(pow(0xFF51AFD7ED558CCD, -1, 1 << 64))
_UNMIX_2 = np.uint64(pow(0xC4CEB9FE1A85EC53, -1, 1 << 64))


def _unmix(x: np.ndarray) -> np.ndarray:
    """The inverse of ``fmix`` (``fmix(_unmix(x)) == x``): each shift-xor by 33 bits undoes itself, each
    multiplication is undone by the inverse of its odd constant modulo 2**64."""
    x = x ^ (x >> np.uint64(33))
    x = x * _UNMIX_2
    x = x ^ (x >> np.uint64(33))
    x = x * _UNMIX_1
    out: np.ndarray = x ^ (x >> np.uint64(33))
    return out


def build(data: np.ndarray, items: np.ndarray) -> Lookup:
    """The lookup tables of phrases ``data`` (rows of n_tokens, length, prefix length, prefix hash, full
    hash, strict hash) of items ``items``."""
    n = len(items)
    order = np.lexsort((np.arange(n), data[:, 0], data[:, 5], data[:, 4], data[:, 1], data[:, 2], data[:, 3]))
    d = data[order]
    prefix, plen, length, full, strict, ntok = d[:, 3], d[:, 2], d[:, 1], d[:, 4], d[:, 5], d[:, 0]
    shape_first = _starts(prefix, plen, length, full, strict, ntok)
    run_first_s = _starts(prefix[shape_first], plen[shape_first], length[shape_first])
    run_first = shape_first[run_first_s]
    group_first_r = _starts(prefix[run_first], plen[run_first])
    group_first = run_first[group_first_r]
    n_groups = len(group_first)
    bits = max(4, min(31, int(n_groups).bit_length() + 1))  # at most half the slots used
    g_prefix = prefix[group_first].copy()
    g_run = np.append(group_first_r, len(run_first)).astype(np.uint64)
    if len(run_first) >= 1 << 28:
        raise ValueError("more than 2**28 phrase lengths: the lookup table cannot hold them")
    groups = np.zeros((1 << bits, 2), dtype=np.uint64)
    packed = plen[group_first].astype(np.uint64) | (g_run[:-1] << np.uint64(8)) | (g_run[1:] << np.uint64(36))
    _place(groups, g_prefix, packed, np.uint64(64 - bits))
    mask = 0
    for c in np.unique(plen[group_first]).tolist():
        if c < PREFIX:
            mask |= 1 << int(c)
    filt = np.zeros(1 << max(0, bits - 3), dtype=np.uint64)  # 16 to 32 bits a group
    # indexed by the hash before its last mixing (``find`` mixes only the probes that pass)
    premix = np.where(plen[group_first] > _SEED, _unmix(g_prefix), g_prefix)
    x = premix & np.uint64(len(filt) * 64 - 1)
    np.bitwise_or.at(filt, (x >> np.uint64(6)).astype(np.int64), np.uint64(1) << (x & np.uint64(63)))
    runs = np.empty((len(run_first) + 1, 2), dtype=np.int32)
    runs[:-1, 0] = length[run_first]
    runs[-1, 0] = 0
    runs[:, 1] = np.append(run_first_s, len(shape_first))
    return Lookup(
        64 - bits,
        groups,
        runs,
        np.stack((full[shape_first], strict[shape_first]), axis=1).astype(np.uint64),
        ntok[shape_first].astype(np.int32),
        np.append(shape_first, n).astype(np.int64),
        items[order].astype(np.int64),
        mask,
        filt,
        int(length.max()) if n else 0,
        int(ntok.max()) if n and int(ntok.max()) >= GUARD_WORDS else 0,
    )


@njit(cache=True, nogil=True)
def _place(groups, g_prefix, packed, shift):  # type: ignore[no-untyped-def]
    """Each group into the first free slot from its prefix hash's top bits on (open addressing; a slot
    is free while its second word is 0: a prefix has a letter or more)."""
    mask = groups.shape[0] - 1
    for g in range(g_prefix.shape[0]):
        i = np.int64(g_prefix[g] >> shift)
        while groups[i, 1] != 0:
            i = (i + 1) & mask
        groups[i, 0] = g_prefix[g]
        groups[i, 1] = packed[g]


@njit(cache=True, nogil=True)
def find(  # type: ignore[no-untyped-def]
    key, text_key, tok_text, tok_ks, tok_ke, strict, tok_ss, tok_se, stretched, joined, chars, vis_starts,
    vis_ends, k0, k1, prefix, shift, groups, runs, s_hash, s_ntok, len_mask, filt, common, cap, seen,
    base,
):  # fmt: skip
    """(text, shape, first token, last token) of the phrase occurrences, at most ``cap`` a shape and
    text, and the steps taken: see the module's docstring.

    ``seen``: a scratch of a row per shape or more, kept between calls (``Seen``): row ``s`` holds
    ``base`` + text + 1 of shape ``s``'s last find, and its finds in that text.  ``base`` is above every
    value left in it by calls before, so it need not be zeroed (with 100,000 phrases a zeroed array per
    call cost a page fault for each page a find touched)."""
    nk = key.shape[0]
    # The first and the last token ending at each skeleton position: several when their letters collapse
    # ('will I' ends where 'will' ends).  A token re-joined from split letters ('d e a t h') may hold the
    # start or the end of a phrase at any of its letters ('a y e a r' is 'a' and 'year').
    end_tok = np.full(nk + 1, -1, dtype=np.int32)
    end_first = np.full(nk + 1, -1, dtype=np.int32)
    n_tok = tok_ks.shape[0]
    for t in range(n_tok):
        for q in range(tok_ks[t] + 1 if joined[t] else tok_ke[t], tok_ke[t] + 1):
            end_tok[q] = t
            if end_first[q] < 0:
                end_first[q] = t
    slot_mask = groups.shape[0] - 1  # pages, no pass
    out = np.empty((64, 4), dtype=np.int64)
    n_out = 0
    work = 0
    stop = -1
    text = -1
    for t in range(n_tok):
        # A token whose first letter the skeleton shares with the token before ('I is', 'a a') is probed
        # again from the same place: the match starts at one of them, and the strict check tells which.
        if tok_text[t] != text:
            text = tok_text[t]
            stop = text_key[text + 1] - 1  # the text's barrier
        for p in range(tok_ks[t], tok_ke[t] if joined[t] else tok_ks[t] + 1):
            h = np.uint64(0)
            rest = np.uint64(0)
            seed = np.uint64(0)
            top = min(prefix, stop - p)
            for c in range(1, top + 1):
                if c <= _SEED:
                    h = h * _BASE + np.uint64(key[p + c - 1])
                    if c in (_SEED, top):
                        seed = keyed(k0, k1, h, c)
                else:
                    rest = rest * _BASE + np.uint64(key[p + c - 1])
                if c < prefix and not ((len_mask >> np.uint64(c)) & np.uint64(1) and end_tok[p + c] >= 0):
                    continue
                work += 1
                # The filter is indexed by the lookup hash before its last mixing (``fmix`` is a
                # bijection: ``build`` undoes it on the groups' hashes), so a probe that the filter
                # turns away costs no mixing.
                if c < _SEED and c < top:
                    y = keyed(k0, k1, h, c)
                elif c <= _SEED:
                    y = seed
                else:
                    y = seed + rest * _MIX + np.uint64(c)
                x = y & np.uint64(filt.shape[0] * 64 - 1)  # a bit per lookup hash, mostly in cache: most
                if not (filt[x >> np.uint64(6)] >> (x & np.uint64(63))) & np.uint64(1):  # probes end here
                    continue
                kh = _fmix(y) if c > _SEED else y
                i = np.int64(kh >> np.uint64(shift))
                while groups[i, 1] != 0 and (
                    groups[i, 0] != kh or np.int64(groups[i, 1] & np.uint64(255)) != c
                ):
                    i = (i + 1) & slot_mask
                if groups[i, 1] != 0:  # the group of this prefix
                    hm = np.uint64(0)  # the polynomial hash of key[p:p + mm], grown as longer runs ask
                    mm = 0
                    r0 = np.int64((groups[i, 1] >> np.uint64(8)) & np.uint64((1 << 28) - 1))
                    r1 = np.int64(groups[i, 1] >> np.uint64(36))
                    for r in range(r0, r1):  # by length: one step per distinct length
                        m = np.int64(runs[r, 0])
                        if p + m > stop:
                            break
                        if end_tok[p + m] < 0:
                            continue
                        s0, s1 = np.int64(runs[r, 1]), np.int64(runs[r + 1, 1])
                        if m > c:
                            work += 1
                            while mm < m:
                                hm = hm * _BASE + np.uint64(key[p + mm])
                                mm += 1
                            fh = keyed(k0, k1, hm, m)
                            lo, hi = s0, s1
                            while lo < hi:  # the first shape of the run with this full hash
                                mid = (lo + hi) >> 1
                                if s_hash[mid, 0] < fh:
                                    lo = mid + 1
                                else:
                                    hi = mid
                            s0 = lo
                            s1 = lo
                            while s1 < runs[r + 1, 1] and s_hash[s1, 0] == fh:
                                s1 += 1
                        for s in range(s0, s1):  # the skeleton is there: each of these is a real find
                            if seen[s, 0] == base + text + 1 and seen[s, 1] >= cap:
                                continue
                            last = -1
                            any_stretched = False
                            any_joined = False
                            limit = min(np.int64(end_tok[p + m]), t + np.int64(s_ntok[s]) + m - 1)
                            for u in range(t, limit + 1):
                                if stretched[u]:
                                    any_stretched = True
                                if joined[u]:
                                    any_joined = True
                                if u < end_first[p + m]:
                                    continue
                                n_region = u - t + 1
                                # Words glued together, but not all: 'cannot' is not 'can not', but
                                # 'deathto the occupiers' is a phrase of 3 words or more partly glued.
                                # A match of common words only is taken when one pair is glued among
                                # enough words spelled as banked ('noone can be left').
                                if (
                                    n_region != 1
                                    and n_region < s_ntok[s]
                                    and not any_joined
                                    and (
                                        s_ntok[s] < GUARD_WORDS
                                        or (
                                            (n_region < GLUE_CONTEXT or s_ntok[s] - n_region != 1)
                                            and not _any_uncommon(chars, vis_starts, vis_ends, t, u, common)
                                        )
                                    )
                                ):
                                    continue
                                if not (any_stretched or any_joined):  # doubled letters count, unless evaded
                                    a, z = tok_ss[t], tok_se[u]
                                    work += 1
                                    # A doubled letter is forgiven only where no word is glued: one guess at
                                    # a time ('homes s' is not a glued 'homess').
                                    if keyed(k0, k1, poly(strict, a, z), z - a) != s_hash[s, 1] and (
                                        s_ntok[s] < GUARD_WORDS
                                        or (n_region != 1 and n_region < s_ntok[s])
                                        or not _doubles_uncommon(chars, vis_starts, vis_ends, t, u, common)
                                    ):
                                        continue
                                last = u
                                break
                            if last < 0:
                                continue
                            if seen[s, 0] != base + text + 1:
                                seen[s, 0] = base + text + 1
                                seen[s, 1] = 0
                            seen[s, 1] += 1
                            if n_out == out.shape[0]:
                                grown = np.empty((2 * n_out, 4), dtype=np.int64)
                                grown[:n_out] = out[:n_out]
                                out = grown
                            out[n_out, 0] = text
                            out[n_out, 1] = s
                            out[n_out, 2] = t
                            out[n_out, 3] = last
                            n_out += 1
    return out[:n_out].copy(), work
