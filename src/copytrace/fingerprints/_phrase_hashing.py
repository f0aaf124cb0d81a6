"""The keyed hashes of a phrase's skeleton letters: the lookup prefix and the whole.

A phrase fingerprint (``phrase``) holds keyed hashes of its skeleton's first ``PREFIX`` letters and of all
of them; the phrase search (``copytrace.phrases._search``) computes the same hashes over a query's letters,
so both take them from here.  Changing any of them changes every phrase fingerprint (golden vectors pin them).
"""

from __future__ import annotations

import numpy as np

from ..jit import njit
from . import _hashing

PREFIX = 12
"""Skeleton letters in a phrase's lookup key: a query probes this prefix and the shorter whole phrases."""

BASE = np.uint64(0x9E3779B97F4A7C15)
MIX = np.uint64(0xC2B2AE3D27D4EB4F)
SEED = 4  # skeleton letters hashed with SipHash in a lookup hash; the rest mixed in cheaply


@njit(cache=True, nogil=True, inline="always")
def keyed(k0, k1, h, length):  # type: ignore[no-untyped-def]
    """The keyed hash of a polynomial hash ``h`` of ``length`` letters."""
    return _hashing.siphash24_u64(k0, k1, h ^ (np.uint64(length) * MIX))


@njit(cache=True, nogil=True, inline="always")
def fmix(x):  # type: ignore[no-untyped-def]
    """MurmurHash3's 64-bit finaliser: a cheap bijection that spreads every bit."""
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


@njit(cache=True, nogil=True, inline="always")
def extend(seed, rest, length):  # type: ignore[no-untyped-def]
    """The lookup hash of a prefix longer than ``SEED`` letters from the keyed hash of its first
    ``SEED`` letters (``seed``) and the polynomial hash of the others (``rest``)."""
    return fmix(seed + rest * MIX + np.uint64(length))


@njit(cache=True, nogil=True)
def lookup_hash(k0, k1, x, a, c):  # type: ignore[no-untyped-def]
    """The lookup hash of ``x[a:a + c]``: one SipHash of its first ``SEED`` letters per query position,
    however many prefix lengths are probed there."""
    h = np.uint64(0)
    for i in range(min(c, SEED)):
        h = h * BASE + np.uint64(x[a + i])
    seed = keyed(k0, k1, h, min(c, SEED))
    if c <= SEED:
        return seed
    rest = np.uint64(0)
    for i in range(SEED, c):
        rest = rest * BASE + np.uint64(x[a + i])
    return extend(seed, rest, c)


@njit(cache=True, nogil=True, inline="always")
def poly(x, a, b):  # type: ignore[no-untyped-def]
    """The polynomial hash of ``x[a:b]``."""
    h = np.uint64(0)
    for i in range(a, b):
        h = h * BASE + np.uint64(x[i])
    return h
