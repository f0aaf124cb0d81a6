"""The delta: postings added since the main level was built, as a log-structured merge of sorted runs.

Adding an item must not cost work in proportion to everything added before it.  Re-merging one delta array
on every addition did: adding ``n`` items one at a time (each followed by a query, as linking does) cost
``O(n**2)``.  Here the delta is a list of *runs*, oldest first, each a sorted array of postings:

- a flush makes its new postings one run (sorted by mixed hash ``x``, ties in page order);
- while the run before the last holds at most twice as many postings as the last, the two are merged into
  one (a linear, stable merge: the older run's postings first among equal hashes).

So every run holds more than twice the next one: at most ``log2(n)`` runs, and a posting is copied about
``log2(n)`` times over its life (``copied`` counts them; a test checks the bound).

Every run covers later pages than the runs before it, and runs are read oldest first, so the postings of a
hash come out in page order (the earliest items first), as in a single level.  The runs lie one after the
other in shared arrays (``x``, ``refs``, ``pos``), so a merge rewrites the tail only and the compiled query
(``_matching.match_query``) reads every run without copying: each run has a bucket table over the top
``bits`` bits of ``x`` (``_postings.bits_for``, offsets into the shared arrays), and a lookup searches the
full 64-bit ``x`` within the bucket (``lookup_runs``).

Most hashes of a query are in no run, and probing every run for them made a query on a grown delta cost
a quarter more than one on a single level (six runs: six cache misses a hash instead of one).  So the delta
keeps a filter over all its postings, a blocked Bloom filter of one 64-bit word a hash with two bits set
(``FILTER_BITS`` bits a posting or more: about 1.5% of absent hashes pass), and ``lookup_runs`` probes the
runs only for the hashes it passes.  Merges leave it as it is (the postings are the same); it is remade
twice as large when the postings outgrow it, so its upkeep is linear in the postings too.  It lies at the
start of the tables' array ``off``, before the first run's table (``off[:run_off[0]]``), so the kernel
reads the same arrays as without it.

The delta is not saved: ``Index.save`` merges it into the main level first.
"""

from __future__ import annotations

import numpy as np

from ..jit import njit
from . import _postings
from ._postings import MIX as _MIX

FILTER_BITS = 16  # filter bits a posting, at least: a hash missing from the delta passes with odds ~1.5%
_FILTER_MIN = 64  # words
_SHIFT_A = np.uint64(20)  # the two bits a hash sets in its word: from the low 32 bits of x (the word is
_SHIFT_B = np.uint64(26)  # from its top bits, as the buckets)


@njit(cache=True, nogil=True, inline="always")
def _filter_mask(q):  # type: ignore[no-untyped-def]
    return (np.int64(1) << np.int64((q >> _SHIFT_A) & np.uint64(63))) | (
        np.int64(1) << np.int64((q >> _SHIFT_B) & np.uint64(63))
    )


@njit(cache=True, nogil=True, inline="always")
def _log2(words):  # type: ignore[no-untyped-def]
    b = 0
    while (np.int64(1) << b) < words:
        b += 1
    return b


@njit(cache=True, nogil=True)
def _fill_filter(x, start, end, off, words):  # type: ignore[no-untyped-def]
    """Set the filter bits (``off[:words]``, ``words`` a power of two) of the postings ``x[start:end]``."""
    shift = np.uint64(64 - _log2(words))
    for p in range(start, end):
        q = x[p]
        off[np.int64(q >> shift)] |= _filter_mask(q)


@njit(cache=True, nogil=True)
def _fill_offsets(x, start, end, bits, off, at):  # type: ignore[no-untyped-def]
    """The bucket table of the sorted run ``x[start:end]`` (positions in ``x``) into ``off[at:]``."""
    shift = np.uint64(64 - bits)
    p = start
    for b in range((1 << bits) + 1):
        while p < end and np.int64(x[p] >> shift) < b:
            p += 1
        off[at + b] = p


@njit(cache=True, nogil=True)
def _merge_tail(x, refs, pos, a, m, e):  # type: ignore[no-untyped-def]
    """Merge the sorted runs ``[a, m)`` and ``[m, e)`` in place, stably (the first run first on ties)."""
    lx = x[a:m].copy()
    lr = refs[a:m].copy()
    lp = pos[a:m].copy()
    i = 0
    j = m
    o = a
    n = m - a
    while i < n and j < e:
        if x[j] < lx[i]:
            x[o] = x[j]
            refs[o] = refs[j]
            pos[o] = pos[j]
            j += 1
        else:
            x[o] = lx[i]
            refs[o] = lr[i]
            pos[o] = lp[i]
            i += 1
        o += 1
    while i < n:  # what is left of the second run is already in place
        x[o] = lx[i]
        refs[o] = lr[i]
        pos[o] = lp[i]
        i += 1
        o += 1


@njit(cache=True, nogil=True)
def _passing(off, words, query_x):  # type: ignore[no-untyped-def]
    """The indices of the mixed hashes ``query_x`` that the filter ``off[:words]`` lets pass (all of them
    without a filter)."""
    m = query_x.shape[0]
    probe = np.empty(m, dtype=np.int64)
    if words == 0:
        for j in range(m):
            probe[j] = j
        return probe
    n = 0
    shift = np.uint64(64 - _log2(words))
    for j in range(m):
        q = query_x[j]
        mask = _filter_mask(q)
        if off[np.int64(q >> shift)] & mask == mask:
            probe[n] = j
            n += 1
    return probe[:n]


@njit(cache=True, nogil=True)
def lookup_runs(run_bits, run_off, off, xs, query_hashes):  # type: ignore[no-untyped-def]
    """For each run ``r`` and query hash ``j``, the range ``[lo[r, j], hi[r, j])`` of its postings in the
    shared arrays: its bucket in the run's table, then the run of its full mixed hash there.  Hashes the
    delta's filter (``off[:run_off[0]]``, see the module docstring) rules out get empty ranges unprobed."""
    n_runs = run_bits.shape[0]
    m = query_hashes.shape[0]
    query_x = query_hashes * _MIX  # wraps, as _postings.mix
    lo = np.zeros((n_runs, m), dtype=np.int64)
    hi = np.zeros((n_runs, m), dtype=np.int64)
    if n_runs == 0:
        return lo, hi
    probe = _passing(off, run_off[0], query_x)
    n_probe = probe.shape[0]
    for r in range(n_runs):
        shift = np.uint64(64 - run_bits[r])
        base = run_off[r]
        for t in range(n_probe):
            j = probe[t]
            q = query_x[j]
            bucket = np.int64(q >> shift)
            a = off[base + bucket]
            e = off[base + bucket + 1]
            if e - a <= 16:
                while a < e and xs[a] < q:
                    a += 1
            else:
                c = e
                while a < c:
                    mid = (a + c) >> 1
                    if xs[mid] < q:
                        a = mid + 1
                    else:
                        c = mid
            b = a
            while b < e and b - a < 8 and xs[b] == q:
                b += 1
            if b - a == 8:
                c = e
                while b < c:
                    mid = (b + c) >> 1
                    if xs[mid] <= q:
                        b = mid + 1
                    else:
                        c = mid
            lo[r, j] = a
            hi[r, j] = b
    return lo, hi


def _grown(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with room for ``n`` entries (doubling; the first entries kept)."""
    if n <= len(a):
        return a
    out = np.empty(max(64, 2 * len(a), n), dtype=a.dtype)
    out[: len(a)] = a
    return out


class Delta:
    """Postings added since the main level, in runs (see the module docstring).  Pages of each ``add``
    come after those of every earlier one."""

    def __init__(self) -> None:
        self._x = np.zeros(0, dtype=np.uint64)
        self._refs = np.zeros(0, dtype=np.uint32)
        self._pos = np.zeros(0, dtype=np.uint16)
        self._words = _FILTER_MIN  # the filter's words, at the start of ``_off``
        self._off = np.zeros(_FILTER_MIN, dtype=np.int64)
        self._runs: list[tuple[int, int, int, int]] = []  # (start, end, bits, where its table starts)
        self._kernel: tuple[np.ndarray, ...] | None = None
        self.copied = 0  # postings written by merges, over the delta's life

    def __len__(self) -> int:
        return self._runs[-1][1] if self._runs else 0

    @property
    def n_runs(self) -> int:
        return len(self._runs)

    @property
    def nbytes(self) -> int:
        """Bytes of the postings and bucket tables in use."""
        n = len(self)
        n_off = self._runs[-1][3] + (1 << self._runs[-1][2]) + 1 if self._runs else 0
        return n * (8 + 4 + 2) + n_off * 8

    def add(self, x: np.ndarray, refs: np.ndarray, pos: np.ndarray) -> None:
        """Add postings: mixed hashes ``x`` with their pages and in-page positions, in page order."""
        k = len(x)
        if k == 0:
            return
        start = len(self)
        order = np.argsort(x, kind="stable")  # stable: pages stay in order within a hash
        self._x = _grown(self._x, start + k)
        self._refs = _grown(self._refs, start + k)
        self._pos = _grown(self._pos, start + k)
        self._x[start : start + k] = x[order]
        self._refs[start : start + k] = refs[order]
        self._pos[start : start + k] = pos[order]
        if (start + k) * FILTER_BITS > 64 * self._words:
            self._grow_filter(start + k)
        else:
            _fill_filter(self._x, start, start + k, self._off, self._words)
        at = self._runs[-1][3] + (1 << self._runs[-1][2]) + 1 if self._runs else self._words
        self._runs.append((start, start + k, 0, at))
        self._table(len(self._runs) - 1)
        while len(self._runs) >= 2 and self._size(-2) <= 2 * self._size(-1):
            (a, m, _, at), (_, e, _, _) = self._runs[-2:]
            _merge_tail(self._x, self._refs, self._pos, a, m, e)
            self.copied += e - a
            self._runs[-2:] = [(a, e, 0, at)]
            self._table(len(self._runs) - 1)
        self._kernel = None

    def _grow_filter(self, n: int) -> None:
        """Remake the filter for ``n`` postings, ``2 * FILTER_BITS`` bits each, moving the runs' tables
        after it (the postings ``_x[:n]`` set its bits)."""
        words = _FILTER_MIN
        while words * 64 < 2 * FILTER_BITS * n:
            words *= 2
        moved = words - self._words
        used = self._runs[-1][3] + (1 << self._runs[-1][2]) + 1 if self._runs else self._words
        off = np.zeros(max(len(self._off), used) + moved, dtype=np.int64)
        off[words : used + moved] = self._off[self._words : used]
        self._off, self._words = off, words
        self._runs = [(a, e, bits, at + moved) for a, e, bits, at in self._runs]
        _fill_filter(self._x, 0, n, self._off, words)

    def _size(self, r: int) -> int:
        return self._runs[r][1] - self._runs[r][0]

    def _table(self, r: int) -> None:
        """(Re)make run ``r``'s bucket table, sized for its postings."""
        start, end, _, at = self._runs[r]
        bits = _postings.bits_for(end - start)
        self._off = _grown(self._off, at + (1 << bits) + 1)
        _fill_offsets(self._x, start, end, bits, self._off, at)
        self._runs[r] = (start, end, bits, at)

    def kernel(self) -> tuple[np.ndarray, ...]:
        """What the compiled query reads: each run's bucket bits and table start, the tables, and the
        postings' mixed hashes, pages and in-page positions (``_matching.match_query``)."""
        if self._kernel is None:
            self._kernel = (
                np.array([r[2] for r in self._runs], dtype=np.int64),
                np.array([r[3] for r in self._runs], dtype=np.int64),
                self._off,
                self._x,
                self._refs,
                self._pos,
            )
        return self._kernel

    def ranges(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``lookup_runs`` of (unmixed) ``hashes``: ranges into ``refs``/``pos`` per run and hash."""
        run_bits, run_off, off, xs, _, _ = self.kernel()
        lo, hi = lookup_runs(run_bits, run_off, off, xs, hashes.astype(np.uint64))
        return lo, hi

    def may_hold(self, hashes: np.ndarray) -> np.ndarray:
        """Whether the filter lets each of (unmixed) ``hashes`` pass: True for every hash the delta holds,
        and for a few others."""
        out = np.zeros(len(hashes), dtype=bool)
        out[_passing(self._off, self._words, _postings.mix(hashes))] = True
        return out

    @property
    def refs(self) -> np.ndarray:
        return self._refs[: len(self)]

    @property
    def pos(self) -> np.ndarray:
        return self._pos[: len(self)]

    def postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every posting (mixed hash, page, in-page position), in page order: what ``_postings.merge``
        takes to fold the delta into the main level."""
        n = len(self)
        order = np.lexsort((self._pos[:n], self._refs[:n]))
        return self._x[:n][order], self._refs[:n][order], self._pos[:n][order]
