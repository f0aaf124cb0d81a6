"""Compiled inner loops over text: tokenising, k-gram hashing, keyed hashing, winnowing, varints.

Everything that touches each character or token runs here under numba, so the Python layer above only moves
whole arrays.  The functions are private: their contracts are stated by ``normalize`` and ``fingerprint``,
and checked there against plain-Python references (``tests/reference.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

IGNORE = 0
SEP = 1
WORD = 2
SOLO = 3

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_KGRAM_BASE = np.uint64(0x9E3779B97F4A7C15)


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
    return starts[:count], ends[:count], hashes[:count]


@njit(cache=True, nogil=True, inline="always")
def _rotl(x, b):  # type: ignore[no-untyped-def]
    return (x << np.uint64(b)) | (x >> np.uint64(64 - b))


@njit(cache=True, nogil=True, inline="always")
def _sipround(v0, v1, v2, v3):  # type: ignore[no-untyped-def]
    v0 += v1
    v1 = _rotl(v1, 13)
    v1 ^= v0
    v0 = _rotl(v0, 32)
    v2 += v3
    v3 = _rotl(v3, 16)
    v3 ^= v2
    v0 += v3
    v3 = _rotl(v3, 21)
    v3 ^= v0
    v2 += v1
    v1 = _rotl(v1, 17)
    v1 ^= v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


@njit(cache=True, nogil=True)
def siphash24_u64(k0, k1, m):  # type: ignore[no-untyped-def]
    """SipHash-2-4 of one 64-bit word (eight little-endian bytes) under the 128-bit key (k0, k1)."""
    v0 = k0 ^ np.uint64(0x736F6D6570736575)
    v1 = k1 ^ np.uint64(0x646F72616E646F6D)
    v2 = k0 ^ np.uint64(0x6C7967656E657261)
    v3 = k1 ^ np.uint64(0x7465646279746573)
    b = np.uint64(8) << np.uint64(56)
    for word in (m, b):
        v3 ^= word
        for _ in range(2):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= word
    v2 ^= np.uint64(0xFF)
    for _ in range(4):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@njit(cache=True, nogil=True)
def kgram_hashes(token_hashes, k, k0, k1):  # type: ignore[no-untyped-def]
    """Keyed 64-bit hash of every run of k consecutive tokens (polynomial combine, then SipHash-2-4)."""
    n = token_hashes.shape[0] - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        h = np.uint64(0)
        for j in range(k):
            h = h * _KGRAM_BASE + token_hashes[i + j]
        out[i] = siphash24_u64(k0, k1, h)
    return out


@njit(cache=True, nogil=True)
def winnow(hashes, window):  # type: ignore[no-untyped-def]
    """Robust winnowing: the minimum of every window of ``window`` hashes, the rightmost on ties, each
    position recorded once.  A sequence shorter than one window yields its minimum.  Returns positions."""
    n = hashes.shape[0]
    out = np.empty(n, dtype=np.int64)
    count = 0
    if n == 0:
        return out[:0]
    w = window if window < n else n
    last = -1
    best = -1
    for end in range(w - 1, n):
        begin = end - w + 1
        if best < begin:
            best = begin
            for j in range(begin + 1, end + 1):
                if hashes[j] <= hashes[best]:
                    best = j
        elif hashes[end] <= hashes[best]:
            best = end
        if best != last:
            out[count] = best
            count += 1
            last = best
    return out[:count].copy()


@njit(cache=True, nogil=True)
def varint_encode(values):  # type: ignore[no-untyped-def]
    """Unsigned LEB128 of each value, concatenated."""
    out = np.empty(values.shape[0] * 10, dtype=np.uint8)
    p = 0
    for i in range(values.shape[0]):
        v = np.uint64(values[i])
        while v >= np.uint64(0x80):
            out[p] = np.uint8((v & np.uint64(0x7F)) | np.uint64(0x80))
            v >>= np.uint64(7)
            p += 1
        out[p] = np.uint8(v)
        p += 1
    return out[:p].copy()


@njit(cache=True, nogil=True)
def varint_decode(buf, count):  # type: ignore[no-untyped-def]
    """Decode ``count`` LEB128 values; return (values, bytes consumed), or (values, -1) if truncated."""
    out = np.empty(count, dtype=np.uint64)
    p = 0
    n = buf.shape[0]
    for i in range(count):
        v = np.uint64(0)
        shift = np.uint64(0)
        while True:
            if p >= n or shift > np.uint64(63):
                return out, -1
            b = buf[p]
            p += 1
            v |= np.uint64(b & 0x7F) << shift
            if b < 0x80:
                break
            shift += np.uint64(7)
        out[i] = v
    return out, p
