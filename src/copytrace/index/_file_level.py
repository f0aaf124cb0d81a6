"""A main level of postings kept in a file and mapped, for an index too large to hold its postings in memory.

An index built from a million items holds about 70 million postings: 700 MB as a main level in memory, and
a merge of the delta into it (``_postings.merge``) briefly needs several times that.  ``write`` instead
merges the main level and the new postings into a file, one block of buckets at a time (reading the old file
with ``pread`` and writing the new one with ``pwrite``, so neither is mapped while it is rewritten), then
maps it: the postings cost disk and page cache, not the process's own memory.  A query maps the pages it
reads (and the cached pages around them: 64 kB a fault), which in a large batch is most of the file; so a
batch of items being linked (``_link_batch``) reads instead the postings of its hashes from the file into a
small level of their own (``FilePostings.held``: the tags streamed, the rest read where a hash is held).

The file is unlinked as soon as it is open, so nothing is left behind when the process ends, however it
ends.  The order of the postings is that of ``_postings.merge``: by (bucket, tag), then page, then position.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import tempfile
import weakref

import numpy as np

from ..jit import njit
from . import _postings
from ._postings import Level

BLOCK_POSTINGS = 1 << 21
"""Old postings read (and new ones written) per block of a rewrite."""


@njit(cache=True, nogil=True)
def _merge_block(  # type: ignore[no-untyped-def]
    old_off, o_tags, o_refs, o_pos, o_base, new_off, n_tags, n_refs, n_pos, n_base, b0, b1, tags, refs, pos
):
    """Merge the old and new postings of buckets ``b0 .. b1-1`` into ``tags``/``refs``/``pos``: by tag within
    a bucket, the old first among equal tags (their pages come first)."""
    o = 0
    for b in range(b0, b1):
        i = np.int64(old_off[b]) - o_base
        ie = np.int64(old_off[b + 1]) - o_base
        j = np.int64(new_off[b]) - n_base
        je = np.int64(new_off[b + 1]) - n_base
        while i < ie or j < je:
            if j >= je or (i < ie and o_tags[i] <= n_tags[j]):
                tags[o] = o_tags[i]
                refs[o] = o_refs[i]
                pos[o] = o_pos[i]
                i += 1
            else:
                tags[o] = n_tags[j]
                refs[o] = n_refs[j]
                pos[o] = n_pos[j]
                j += 1
            o += 1
    return o


@njit(cache=True, nogil=True)
def _bucket_offsets(sorted_buckets, out):  # type: ignore[no-untyped-def]
    """``out[b]``: how many of ``sorted_buckets`` are below ``b``."""
    j = 0
    m = sorted_buckets.shape[0]
    for b in range(out.shape[0]):
        while j < m and sorted_buckets[j] < np.uint64(b):
            j += 1
        out[b] = j


@njit(cache=True, nogil=True)
def _find_ranges(tags, base, offsets, key_bucket, key_tag, lo_out, hi_out):  # type: ignore[no-untyped-def]
    """For each key (bucket, tag), the range of postings with its tag in its bucket: ``tags`` holds the
    tags of postings ``base ..`` (every bucket of these keys)."""
    for k in range(key_bucket.shape[0]):
        b = key_bucket[k]
        lo = np.int64(offsets[b]) - base
        e = np.int64(offsets[b + 1]) - base
        t = key_tag[k]
        c = e
        while lo < c:
            mid = (lo + c) >> 1
            if tags[mid] < t:
                lo = mid + 1
            else:
                c = mid
        hi = lo
        while hi < e and tags[hi] == t:
            hi += 1
        lo_out[k] = lo + base
        hi_out[k] = hi + base


class FileLevel:
    """The file under a mapped main level: its descriptor (to read it while it is rewritten; closed with
    ``close`` or when this is dropped) and where its three arrays lie."""

    def __init__(self, fd: int, n: int) -> None:
        self.fd = fd
        self.n = n
        self._closer = weakref.finalize(self, os.close, fd)

    def sections(self) -> tuple[int, int, int]:
        """Byte offsets of the tags (uint32), refs (uint32) and positions (uint16)."""
        return 0, 4 * self.n, 8 * self.n

    def read(self, what: int, dtype: type[np.generic], start: int, stop: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize
        out = np.empty(stop - start, dtype=dtype)
        if stop > start:
            got = os.preadv(self.fd, [out.view(np.uint8).data], self.sections()[what] + start * size)
            if got != out.nbytes:
                raise OSError(f"short read of a postings file: {got} of {out.nbytes} bytes")
        return out

    def map(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The three arrays, mapped read-only (the mapping outlives the descriptor)."""
        n = self.n
        if n == 0:
            return np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.uint16)
        mapped = mmap.mmap(self.fd, 10 * n, prot=mmap.PROT_READ)
        # Lookups read a page here and there: a page evicted from the cache is read again alone, with no
        # readahead.  (A fault still maps the cached pages around it, 64 kB, as for any mapped file.)
        mapped.madvise(mmap.MADV_RANDOM)
        tags, refs, pos = self.sections()
        return (
            np.frombuffer(mapped, dtype=np.uint32, count=n, offset=tags),
            np.frombuffer(mapped, dtype=np.uint32, count=n, offset=refs),
            np.frombuffer(mapped, dtype=np.uint16, count=n, offset=pos),
        )

    def close(self) -> None:
        self._closer()


def _new_sorted(
    x: np.ndarray, refs: np.ndarray, pos: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """New postings (in page order) sorted as a level holds them: bucket offsets, tags, refs, positions."""
    key = x >> np.uint64(64 - bits)  # the bucket, then (in place) the sort key: bucket << 32 | tag
    key <<= np.uint64(32)
    key |= x & np.uint64(0xFFFFFFFF)
    order = np.argsort(key, kind="stable")  # stable: pages stay in order within a hash
    key = key[order]
    tags = key.astype(np.uint32)
    key >>= np.uint64(32)  # the buckets, in order
    offsets = np.empty((1 << bits) + 1, dtype=np.uint32 if len(x) < (1 << 32) else np.uint64)
    _bucket_offsets(key, offsets)  # no count per bucket in int64: 64 MB at 2**23 buckets
    del key
    return (
        offsets,
        tags,
        refs[order].astype(np.uint32, copy=False),
        pos[order].astype(np.uint16, copy=False),
    )


def write(
    main: Level,
    old_file: FileLevel | None,
    x: np.ndarray,
    refs: np.ndarray,
    pos: np.ndarray,
    *,
    expected: int = 0,
    folder: str | None = None,
) -> tuple[Level, FileLevel]:
    """The level of ``main`` with the new postings (mixed hashes ``x``, pages, positions, in page order,
    every page after ``main``'s), written to a new file in ``folder`` (default: the temporary folder) and
    mapped; ``old_file`` is the file under ``main``, if it has one (read, not mapped, while rewritten).

    A main level that keeps ``hi`` (built in memory) is re-bucketed for ``expected`` postings (at least
    its own and the new), so that later rewrites keep its buckets; one without (mapped) keeps its own."""
    if main.hi is not None and not len(main):
        main = _postings.empty(_postings.bits_for(max(expected, len(x))))
        main = Level(main.bits, main.offsets, main.tags, main.refs, main.pos, None)
    elif main.hi is not None:  # in memory: its postings join the new ones, sorted with more buckets
        n_main = len(main)
        bits = _postings.bits_for(max(expected, n_main + len(x)))
        page_order = np.lexsort((main.pos, main.refs))  # stable argsort below keeps (page, position)
        x = np.concatenate((main.mixed()[page_order], x))
        refs = np.concatenate((main.refs[page_order], refs.astype(np.uint32, copy=False)))
        pos = np.concatenate((main.pos[page_order], pos.astype(np.uint16, copy=False)))
        del page_order
        main = _postings.empty(bits)
        main = Level(bits, main.offsets, main.tags, main.refs, main.pos, None)
        old_file = None
    bits = main.bits
    new_off, n_tags, n_refs, n_pos = _new_sorted(x, refs, pos, bits)
    del x, refs, pos
    old_off = main.offsets
    n = len(main) + len(n_tags)
    offsets = np.zeros((1 << bits) + 1, dtype=np.uint32 if n < (1 << 32) else np.uint64)
    np.add(old_off, new_off, out=offsets, dtype=offsets.dtype)
    both = offsets
    fd, path = tempfile.mkstemp(prefix="copytrace-postings-", dir=folder)
    os.unlink(path)  # gone with the last descriptor and mapping
    out = FileLevel(fd, n)
    try:
        os.ftruncate(out.fd, 10 * n)
        sections = out.sections()
        b0 = 0
        n_buckets = 1 << bits
        while b0 < n_buckets:
            # as many buckets as hold about BLOCK_POSTINGS postings, old and new (at least one bucket)
            b1 = int(np.searchsorted(both, _bound(both, b0), side="right")) - 1
            b1 = min(n_buckets, max(b1, b0 + 1))
            oa, ob = int(old_off[b0]), int(old_off[b1])
            na, nb = int(new_off[b0]), int(new_off[b1])
            if old_file is not None:
                o_tags = old_file.read(0, np.uint32, oa, ob)
                o_refs = old_file.read(1, np.uint32, oa, ob)
                o_pos = old_file.read(2, np.uint16, oa, ob)
            else:
                o_tags = np.ascontiguousarray(main.tags[oa:ob])
                o_refs = np.ascontiguousarray(main.refs[oa:ob])
                o_pos = np.ascontiguousarray(main.pos[oa:ob])
            k = (ob - oa) + (nb - na)
            tags = np.empty(k, dtype=np.uint32)
            brefs = np.empty(k, dtype=np.uint32)
            bpos = np.empty(k, dtype=np.uint16)
            _merge_block(
                old_off, o_tags, o_refs, o_pos, oa,
                new_off, n_tags[na:nb], n_refs[na:nb], n_pos[na:nb], na,
                b0, b1, tags, brefs, bpos,
            )  # fmt: skip
            start = oa + na  # postings of earlier buckets, old and new
            arrays: tuple[np.ndarray, ...] = (tags, brefs, bpos)
            for section, array in zip(sections, arrays, strict=True):
                written = os.pwrite(out.fd, array.view(np.uint8).data, section + start * array.itemsize)
                if written != array.nbytes:
                    raise OSError(f"short write of a postings file: {written} of {array.nbytes} bytes")
            b0 = b1
        level = Level(bits, offsets, *out.map(), None)
    except BaseException:
        out.close()
        raise
    return level, out


class FilePostings:
    """How an index keeps its main level in a file (``Index.keep_postings_in_file``): the delta is merged
    into it (``merge``) once it holds more than ``above`` postings, the buckets sized for ``expected``."""

    def __init__(self, folder: str | None, above: int, expected: int) -> None:
        self.folder = folder
        self.above = above
        self.expected = expected
        self._file: FileLevel | None = None
        self._level: Level | None = None  # the level in that file
        self.rewrites = 0  # files written, over the index's life

    def merge(self, main: Level, x: np.ndarray, refs: np.ndarray, pos: np.ndarray) -> Level:
        """``_postings.merge`` of ``main`` with the new postings, into a new file (the old one is dropped
        once its level is)."""
        old = self._file if self._file is not None and main is self._level else None
        level, file = write(main, old, x, refs, pos, expected=self.expected, folder=self.folder)
        if self._file is not None:
            self._file.close()  # a mapped level stays readable: the mapping holds the file
        self._file, self._level = file, level
        self.rewrites += 1
        _trim()
        return level

    def held(self, main: Level, hashes: np.ndarray) -> Level | None:
        """The postings of ``main`` (the level in this file; else None) that lookups of ``hashes`` find, as a
        level of their own with the same buckets, read from the file without mapping it: the tags streamed a
        block at a time, the pages and positions of the hashes held read where they lie.  What a batch of
        queries finds in it is what it finds in ``main``, and no page of the mapped file becomes resident."""
        file = self._file
        if file is None or main is not self._level or not len(main):
            return None
        bits = main.bits
        x = _postings.mix(hashes)
        key = x >> np.uint64(64 - bits)  # bucket << 32 | tag, as a level sorts its postings
        key <<= np.uint64(32)
        key |= x & np.uint64(0xFFFFFFFF)
        key.sort()
        distinct = np.ones(len(key), dtype=bool)  # a hash repeated, or two sharing bucket and tag
        distinct[1:] = key[1:] != key[:-1]
        key = key[distinct]
        bucket = (key >> np.uint64(32)).astype(np.int64)
        tag = key.astype(np.uint32)
        offsets = main.offsets
        lo = np.zeros(len(bucket), dtype=np.int64)
        hi = np.zeros(len(bucket), dtype=np.int64)
        k0 = 0
        while k0 < len(bucket):
            b0 = int(bucket[k0])
            b1 = int(np.searchsorted(offsets, _bound(offsets, b0), side="right")) - 1
            b1 = max(b1, b0 + 1)
            k1 = int(np.searchsorted(bucket, b1))
            oa, ob = int(offsets[b0]), int(offsets[b1])
            tags = file.read(0, np.uint32, oa, ob)
            _find_ranges(tags, oa, offsets, bucket[k0:k1], tag[k0:k1], lo[k0:k1], hi[k0:k1])
            k0 = k1
        found = np.flatnonzero(hi > lo)
        lo, hi, bucket, tag = lo[found], hi[found], bucket[found], tag[found]
        counts = hi - lo
        n = int(counts.sum())
        refs = np.empty(n, dtype=np.uint32)
        pos = np.empty(n, dtype=np.uint16)
        _, refs_at, pos_at = file.sections()
        at = 0
        for a, k in zip(lo.tolist(), counts.tolist(), strict=True):
            _read_into(file.fd, refs[at : at + k], refs_at + 4 * a)
            _read_into(file.fd, pos[at : at + k], pos_at + 2 * a)
            at += k
        out_offsets = np.empty(len(offsets), dtype=np.uint32 if n < (1 << 32) else np.uint64)
        _bucket_offsets(np.repeat(bucket, counts).astype(np.uint64), out_offsets)
        return Level(bits, out_offsets, np.repeat(tag, counts), refs, pos, None)


def _bound(offsets: np.ndarray, b0: int) -> np.generic:
    """``offsets[b0] + BLOCK_POSTINGS`` (at most the last offset) in the offsets' own type: a search with
    a value of another type converts the whole table first (64 MB at 2**23 buckets)."""
    last = int(offsets[-1])
    return offsets.dtype.type(min(last, int(offsets[b0]) + BLOCK_POSTINGS))  # type: ignore[no-any-return]


def _trim() -> None:
    """Give the memory freed by a rewrite back to the system (glibc's ``malloc_trim``; elsewhere nothing):
    its arrays of tens of megabytes otherwise stay with the process, which then grows by a rewrite's
    temporary arrays however few are alive."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def _read_into(fd: int, out: np.ndarray, at: int) -> None:
    got = os.preadv(fd, [out.view(np.uint8).data], at)
    if got != out.nbytes:
        raise OSError(f"short read of a postings file: {got} of {out.nbytes} bytes")
