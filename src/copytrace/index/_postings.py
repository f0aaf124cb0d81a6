"""Postings: where each stored fingerprint occurs, bucketed by hash so a lookup costs a cache miss or two.

A level of postings holds, for every stored fingerprint (hash ``h`` at token ``position`` of an item):

==========  ======  =====================================================================================
array       bytes   what
==========  ======  =====================================================================================
``tags``    4       the low 32 bits of the mixed hash ``x = h * MIX mod 2**64``
``refs``    4       the item *page* holding it (``PAGE`` tokens of one item; most items are one page)
``pos``     2       the position within that page
``offsets`` 4 / 16  per bucket (the top ``bits`` bits of ``x``): where its postings start; about 16 a bucket
==========  ======  =====================================================================================

10 bytes per posting and a quarter byte of bucket table: the bucket carries the top ``bits`` bits of ``x``,
the tag the low 32, so ``bits + 32`` bits of the hash are compared (48 or more from 2**20 postings; a hash
not in the index passes for one that is with odds of about one in 2**32 per lookup).  Postings are sorted
by (bucket, tag, page, position): a hash's postings are one run, its earliest items first.  Multiplying by
the odd ``MIX`` spreads winnowed hashes (the minima of their windows, so small) evenly over the buckets.

A level built in memory also keeps ``hi``, the top 32 bits of ``x``, so that it can be re-bucketed as it
grows; a snapshot does not store them, and a level read from one keeps its buckets (``merge`` fills them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIX = np.uint64(0x9E3779B97F4A7C15)
PAGE_BITS = 16
PAGE = 1 << PAGE_BITS  # tokens of an item per page: positions within a page fit 16 bits
# A hash repeated in one text makes postings and anchors for its first MAX_REPEATS occurrences only: a
# text that repeats one word or phrase thousands of times costs linear work, not quadratic.
MAX_REPEATS = 8
_PER_BUCKET = 16
_MAX_BITS = 32


def mix(hashes: np.ndarray) -> np.ndarray:
    """The mixed hashes ``x`` (uint64, wrapping multiplication) that buckets and tags are cut from."""
    return hashes.astype(np.uint64, copy=False) * MIX  # arrays wrap without a warning


def bits_for(n: int) -> int:
    """Bucket bits for ``n`` postings: about ``_PER_BUCKET`` postings a bucket."""
    bits = 1
    while bits < _MAX_BITS and (_PER_BUCKET << bits) < n:
        bits += 1
    return bits


@dataclass(frozen=True, eq=False)
class Level:
    """One sorted, bucketed run of postings (see the module docstring); immutable once made."""

    bits: int
    offsets: np.ndarray  # uint32 (uint64 from 2**32 postings), 2**bits + 1
    tags: np.ndarray  # uint32
    refs: np.ndarray  # uint32
    pos: np.ndarray  # uint16
    hi: np.ndarray | None  # uint32, or None when read from a snapshot

    def __len__(self) -> int:
        return int(self.tags.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays a snapshot stores (``hi`` excluded)."""
        return int(self.offsets.nbytes + self.tags.nbytes + self.refs.nbytes + self.pos.nbytes)

    def buckets(self) -> np.ndarray:
        """The bucket of every posting (uint64), in order."""
        counts: np.ndarray = np.diff(self.offsets.astype(np.int64))
        return np.repeat(np.arange(len(counts), dtype=np.uint64), counts)

    def keys(self) -> np.ndarray:
        """The sort key of every posting, ``bucket << 32 | tag`` (uint64): ascending."""
        return (self.buckets() << np.uint64(32)) | self.tags.astype(np.uint64)

    def mixed(self) -> np.ndarray:
        """The mixed hash ``x`` of every posting; needs ``hi``."""
        assert self.hi is not None
        return (self.hi.astype(np.uint64) << np.uint64(32)) | self.tags.astype(np.uint64)


def empty(bits: int = 1) -> Level:
    z = np.zeros(0, dtype=np.uint32)
    return Level(bits, np.zeros((1 << bits) + 1, dtype=np.uint32), z, z, np.zeros(0, np.uint16), z)


def _offsets(buckets: np.ndarray, bits: int, n: int) -> np.ndarray:
    counts = np.bincount(buckets.astype(np.int64), minlength=1 << bits)
    offsets = np.zeros((1 << bits) + 1, dtype=np.uint32 if n < (1 << 32) else np.uint64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _bucket(x: np.ndarray, bits: int) -> np.ndarray:
    return x >> np.uint64(64 - bits)


def build(x: np.ndarray, refs: np.ndarray, pos: np.ndarray, *, bits: int | None = None) -> Level:
    """A level from mixed hashes ``x`` with their pages and in-page positions, given in page order (and
    position order within a page).  ``bits`` defaults to ``bits_for(len(x))``."""
    bits = bits_for(len(x)) if bits is None else bits
    bucket = _bucket(x, bits)
    key = (bucket << np.uint64(32)) | (x & np.uint64(0xFFFFFFFF))
    order = np.argsort(key, kind="stable")  # stable: pages stay in order within a hash
    xs = x[order]
    return Level(
        bits,
        _offsets(bucket[order], bits, len(x)),
        xs.astype(np.uint32),  # the low 32 bits
        refs[order].astype(np.uint32, copy=False),
        pos[order].astype(np.uint16, copy=False),
        (xs >> np.uint64(32)).astype(np.uint32),
    )


def merge(a: Level, x: np.ndarray, refs: np.ndarray, pos: np.ndarray) -> Level:
    """``a`` with new postings (mixed hashes ``x``, in page order, every page after ``a``'s).

    A level that keeps ``hi`` and has grown past its buckets is rebuilt with more; otherwise the new postings
    are merged into ``a``'s buckets in linear time."""
    if len(x) == 0:
        return a
    n = len(a) + len(x)
    if a.hi is not None and (len(a) == 0 or bits_for(n) > a.bits):
        return build(
            np.concatenate((a.mixed(), x)),
            np.concatenate((a.refs, refs.astype(np.uint32, copy=False))),
            np.concatenate((a.pos, pos.astype(np.uint16, copy=False))),
        )
    bucket = _bucket(x, a.bits)
    key = (bucket << np.uint64(32)) | (x & np.uint64(0xFFFFFFFF))
    order = np.argsort(key, kind="stable")
    key, x = key[order], x[order]
    where = np.searchsorted(a.keys(), key, side="right") + np.arange(len(key))
    mask = np.ones(n, dtype=bool)
    mask[where] = False

    def merged(old: np.ndarray, new: np.ndarray) -> np.ndarray:
        out = np.empty(n, dtype=old.dtype)
        out[where] = new
        out[mask] = old
        return out

    counts = np.diff(a.offsets.astype(np.int64)) + np.bincount(
        bucket[order].astype(np.int64), minlength=1 << a.bits
    )
    offsets = np.zeros(len(a.offsets), dtype=np.uint32 if n < (1 << 32) else np.uint64)
    np.cumsum(counts, out=offsets[1:])
    return Level(
        a.bits,
        offsets,
        merged(a.tags, x.astype(np.uint32)),
        merged(a.refs, refs[order].astype(np.uint32)),
        merged(a.pos, pos[order].astype(np.uint16)),
        None if a.hi is None else merged(a.hi, (x >> np.uint64(32)).astype(np.uint32)),
    )


def select(a: Level, keep: np.ndarray, renumber: np.ndarray) -> Level:
    """The postings of ``a`` where ``keep`` (a mask over postings), pages renumbered by ``renumber``."""
    counts = np.bincount(a.buckets()[keep].astype(np.int64), minlength=1 << a.bits)
    n = int(keep.sum())
    offsets = np.zeros(len(a.offsets), dtype=np.uint32 if n < (1 << 32) else np.uint64)
    np.cumsum(counts, out=offsets[1:])
    return Level(
        a.bits,
        offsets,
        a.tags[keep],
        renumber[a.refs[keep]].astype(np.uint32),
        a.pos[keep],
        None if a.hi is None else a.hi[keep],
    )
