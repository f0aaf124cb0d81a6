"""Compiled inner loops over token hashes: k-gram hashing, keyed hashing, winnowing, varints.

Everything that touches each token runs here under numba, so the Python layer above only moves whole arrays.
The functions are private: their contracts are stated by ``fingerprint`` and checked there against
plain-Python references (``tests/reference.py``).  Tokenising, the loop over characters, is
``text._tokenize``.
"""

from __future__ import annotations

import numpy as np

from ..jit import njit

_KGRAM_BASE = np.uint64(0x9E3779B97F4A7C15)


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
