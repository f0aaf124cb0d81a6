"""Compiled tokeniser: the loop that splits folded code points into hashed tokens, and the character classes.

Everything that touches each character runs here under numba, so ``normalize`` above only moves whole arrays.
The functions are private: their contract is stated by ``normalize`` and checked there against a plain-Python
reference (``tests/reference.py``).  A character's class comes from the normalisation table
(``data/normalisation_v1.npz``, built by ``tools/build_normalisation_table.py``).
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

IGNORE = 0
SEP = 1
WORD = 2
SOLO = 3

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@njit(cache=True, nogil=True)
def _grow(arr, size):  # type: ignore[no-untyped-def]
    out = np.empty(size, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True, nogil=True)
def _tokenize_into(cps, classes, offsets, lengths, data, i, starts, ends, hashes, count):  # type: ignore[no-untyped-def]
    """Tokenise from code point ``i`` until the input ends or the output arrays are nearly full.

    Returns (next code point, tokens written); it stops only between tokens.  The arrays are never
    reassigned here, which keeps this loop about twice as fast as one that grows them in place.
    """
    n = cps.shape[0]
    cap = starts.shape[0] - 64  # room for the longest expansion of one stand-alone character
    while i < n:
        if count >= cap:
            return i, count
        cp = np.int64(cps[i])
        cl = classes[cp]
        if cl == SOLO:
            ln = np.int64(lengths[cp])
            reps = 1 if ln == 0 else ln
            for j in range(reps):
                v = np.int64(cp) if ln == 0 else np.int64(data[offsets[cp] + j])
                starts[count] = i
                ends[count] = i + 1
                hashes[count] = (_FNV_OFFSET ^ np.uint64(v)) * _FNV_PRIME
                count += 1
            i += 1
            continue
        if cl != WORD:
            i += 1
            continue
        h = _FNV_OFFSET
        start = i
        last = i
        while True:
            if cl == WORD:
                ln = lengths[cp]
                if ln == 0:
                    h = (h ^ np.uint64(cp)) * _FNV_PRIME
                else:
                    o = offsets[cp]
                    for j in range(ln):
                        h = (h ^ np.uint64(data[o + j])) * _FNV_PRIME
                last = i
            elif cl != IGNORE:
                break
            i += 1
            if i >= n:
                break
            cp = np.int64(cps[i])
            cl = classes[cp]
        starts[count] = start
        ends[count] = last + 1
        hashes[count] = h
        count += 1
    return i, count


@njit(cache=True, nogil=True)
def tokenize(cps, classes, offsets, lengths, data):  # type: ignore[no-untyped-def]
    """Split code points into tokens; return (starts, ends, hashes) with ends exclusive.

    A token is a maximal run of word characters (ignored characters inside it are skipped without breaking
    it) or a single character of a script written without spaces.  Its hash is 64-bit FNV-1a over the folded
    code points.
    """
    n = cps.shape[0]
    cap = 128 + n // 4
    starts = np.empty(cap, dtype=np.int64)
    ends = np.empty(cap, dtype=np.int64)
    hashes = np.empty(cap, dtype=np.uint64)
    i, count = _tokenize_into(cps, classes, offsets, lengths, data, 0, starts, ends, hashes, 0)
    while i < n:
        cap = 2 * cap
        starts = _grow(starts, cap)
        ends = _grow(ends, cap)
        hashes = _grow(hashes, cap)
        i, count = _tokenize_into(cps, classes, offsets, lengths, data, i, starts, ends, hashes, count)
    # copies of the filled parts: slices would keep the whole buffers (a capacity of a quarter of the text)
    # alive as long as the tokens are, e.g. in every fingerprint of a bank being built
    return starts[:count].copy(), ends[:count].copy(), hashes[:count].copy()
