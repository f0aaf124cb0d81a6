"""Building an index snapshot on disk from batches of fingerprints: banks larger than memory, built fast.

``Index.add_batch`` then ``Index.save`` hold every posting in memory several times over while sorting
(about 35 bytes a posting at the peak): 800 million postings would need 28 GB.  ``SnapshotBuilder`` takes
the items batch by batch, spills each batch's postings (mixed hash, page, position) to temporary files (14
bytes a posting on disk, ordered by their hash's top bits), and keeps only the per-item arrays in memory.
``finish`` counts the postings of every bucket, lays the snapshot out and writes it a sixteenth at a time
(two at once, in two threads): every batch's share of the slice scattered into its buckets in memory, the
buckets sorted by (tag, page, position), the slice written once.  The result is the file ``Index.save``
writes of the same items (a test compares them), so ``Index.load`` maps it as any other.

>>> import tempfile, os
>>> from copytrace import fingerprint, Index
>>> from copytrace.fingerprints.batch import FingerprintBatch
>>> fps = [fingerprint("We will continue our endeavors for the victory of the resistance.")]
>>> path = os.path.join(tempfile.mkdtemp(), "bank.ctidx")
>>> with SnapshotBuilder(path, fps[0].params) as builder:
...     builder.add("news", ["speech"], FingerprintBatch.from_fingerprints(fps, fps[0].params))
>>> said = "they said: we will continue our endeavors for the victory of the resistance!"
>>> [m.item_id for m in Index.load(path).match(said)]
['speech']
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DuplicateItemError, ParameterMismatchError
from ..fingerprints.fingerprint import FingerprintParams
from ..jit import njit
from ..phrases import PhraseFingerprint, PhraseParams, PhraseTable
from . import _postings, snapshot, snapshot_contents
from ._item_names import ItemNames
from ._postings import MAX_REPEATS
from ._postings import MIX as _MIX
from ._postings import PAGE as _PAGE
from ._postings import PAGE_BITS as _PAGE_BITS
from .families import Families
from .snapshot_contents import FORMAT

if TYPE_CHECKING:
    from ..fingerprints.batch import FingerprintBatch

_MAX_TOKENS = 1 << 31
BUILD_PREFIX = "copytrace-build-"  # the spill folder: copytrace-build-<pid>-<random>
_SLICE_BITS = 4  # the snapshot is written a sixteenth at a time
_FINISH_THREADS = 2  # slices assembled at once


@njit(cache=True, nogil=True)
def _by_prefix(x):  # type: ignore[no-untyped-def]
    """A stable order of ``x`` by its top 16 bits (a counting sort: linear time).  Spilled in this order, a
    batch's postings land in the snapshot's buckets in ascending order: ``finish`` writes each batch in one
    sweep through the file instead of at random."""
    counts = np.zeros((1 << 16) + 1, dtype=np.int64)
    for i in range(x.shape[0]):
        counts[np.int64(x[i] >> np.uint64(48)) + 1] += 1
    for c in range(1, counts.shape[0]):
        counts[c] += counts[c - 1]
    order = np.empty(x.shape[0], dtype=np.int64)
    for i in range(x.shape[0]):
        top = np.int64(x[i] >> np.uint64(48))
        order[counts[top]] = i
        counts[top] += 1
    return order


@njit(cache=True, nogil=True)
def _spill_order(hashes, positions, offsets, page_start, max_repeats):  # type: ignore[no-untyped-def]
    """One batch's postings, ready to spill, in one compiled pass: of each item's fingerprint the first
    ``max_repeats`` occurrences of each hash (as ``_matching.first_repeats``), their mixed hashes ``x``,
    pages and in-page positions in a stable order by the top 16 bits of ``x`` (a counting sort), and each
    item's count of postings.  Also ``cuts``: where the postings of each sixteenth of the hash space (top
    four bits) start, and the end.

    It replaces a dozen array passes (masks, gathers, a sort of each item's hashes to find its repeats):
    at a million items they cost more than reading the rows."""
    n = offsets.shape[0] - 1
    m = hashes.shape[0]
    keep = np.ones(m, dtype=np.bool_)
    nfp = np.zeros(n, dtype=np.int32)
    longest = 0
    for i in range(n):
        longest = max(longest, offsets[i + 1] - offsets[i])
    t_bits = 1
    while (1 << t_bits) < 2 * longest:
        t_bits += 1
    t_keys = np.zeros(1 << t_bits, dtype=np.uint64)  # a hash table of each item's hashes, in its first
    t_count = np.zeros(1 << t_bits, dtype=np.int64)  # slots: twice as many as the item has hashes
    t_stamp = np.zeros(1 << t_bits, dtype=np.int64)  # item + 1 whose count the slot holds
    counts = np.zeros((1 << 16) + 1, dtype=np.int64)
    for i in range(n):
        a = offsets[i]
        b = offsets[i + 1]
        if b - a > max_repeats:  # a hash can repeat too often only in a longer fingerprint
            bits = 1
            while (1 << bits) < 2 * (b - a):
                bits += 1
            t_shift = np.uint64(64 - bits)
            t_mask = (1 << bits) - 1
            for p in range(a, b):
                h = hashes[p]
                slot = np.int64((h * _MIX) >> t_shift)
                while t_stamp[slot] == i + 1 and t_keys[slot] != h:
                    slot = (slot + 1) & t_mask
                if t_stamp[slot] != i + 1:
                    t_stamp[slot] = i + 1
                    t_keys[slot] = h
                    t_count[slot] = 0
                if t_count[slot] >= max_repeats:
                    keep[p] = False
                t_count[slot] += 1
        c = 0
        for p in range(a, b):
            if keep[p]:
                c += 1
                counts[np.int64((hashes[p] * _MIX) >> np.uint64(48)) + 1] += 1
        nfp[i] = c
    for c in range(1, counts.shape[0]):
        counts[c] += counts[c - 1]
    total = counts[1 << 16]
    cuts = np.empty(17, dtype=np.int64)
    for s in range(17):
        cuts[s] = counts[s << 12]
    x = np.empty(total, dtype=np.uint64)
    refs = np.empty(total, dtype=np.uint32)
    pos = np.empty(total, dtype=np.uint16)
    for i in range(n):
        for p in range(offsets[i], offsets[i + 1]):
            if keep[p]:
                q = hashes[p] * _MIX
                top = np.int64(q >> np.uint64(48))
                at = counts[top]
                counts[top] = at + 1
                x[at] = q
                refs[at] = np.uint32(page_start[i] + (positions[p] >> _PAGE_BITS))
                pos[at] = np.uint16(positions[p] & (_PAGE - 1))
    return x, refs, pos, nfp, cuts


@njit(cache=True, nogil=True)
def _count_buckets(x, bits, counts):  # type: ignore[no-untyped-def]
    """Add to ``counts`` the postings of each bucket (the top ``bits`` bits of ``x``)."""
    shift = np.uint64(64 - bits)
    for i in range(x.shape[0]):
        counts[np.int64(x[i] >> shift)] += 1


@njit(cache=True, nogil=True)
def _scatter(x, refs, pos, bits, first_bucket, cursor, out_tags, out_refs, out_pos):  # type: ignore[no-untyped-def]
    """Append each posting (mixed hash ``x``, page, in-page position) to the end of its bucket's run;
    ``cursor[b - first_bucket]`` is where bucket ``b``'s run goes on in the ``out_`` arrays."""
    shift = np.uint64(64 - bits)
    for i in range(x.shape[0]):
        b = np.int64(x[i] >> shift) - first_bucket
        at = cursor[b]
        cursor[b] = at + 1
        out_tags[at] = np.uint32(x[i] & np.uint64(0xFFFFFFFF))
        out_refs[at] = refs[i]
        out_pos[at] = pos[i]


@njit(cache=True, nogil=True)
def _sort_buckets(offsets, tags, refs, pos):  # type: ignore[no-untyped-def]
    """Sort each bucket's postings by (tag, page, position): insertion sort for the usual few, merge sorts
    for a bucket that a common hash filled."""
    for b in range(offsets.shape[0] - 1):
        lo = np.int64(offsets[b])
        hi = np.int64(offsets[b + 1])
        if hi - lo > 32:
            by_pos = np.argsort(pos[lo:hi], kind="mergesort")
            key = (tags[lo:hi].astype(np.uint64) << np.uint64(32)) | refs[lo:hi].astype(np.uint64)
            order = by_pos[np.argsort(key[by_pos], kind="mergesort")]  # by (tag, page), then position
            t, r, p = tags[lo:hi][order], refs[lo:hi][order], pos[lo:hi][order]
            tags[lo:hi] = t
            refs[lo:hi] = r
            pos[lo:hi] = p
            continue
        for i in range(lo + 1, hi):
            t, r, p = tags[i], refs[i], pos[i]
            j = i - 1
            while j >= lo and (
                tags[j] > t or (tags[j] == t and (refs[j] > r or (refs[j] == r and pos[j] > p)))
            ):
                tags[j + 1] = tags[j]
                refs[j + 1] = refs[j]
                pos[j + 1] = pos[j]
                j -= 1
            tags[j + 1] = t
            refs[j + 1] = r
            pos[j + 1] = p


class SnapshotBuilder:
    """Write the snapshot of an index of many fingerprint-only items to ``path``; a context manager:
    ``add`` batches inside the block, the file is written (atomically) when it ends without error."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        params: FingerprintParams,
        *,
        tmp_dir: str | None = None,
        origin: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.params = params
        self.origin = origin  # what the index is derived from, recorded in the snapshot (``Index.load``)
        # The spill folder's name carries the process id and the folder is locked while it is in use:
        # ``cache_dir.remove_orphans`` removes those of dead processes.
        self._tmp = tempfile.TemporaryDirectory(
            prefix=f"{BUILD_PREFIX}{os.getpid()}-", dir=tmp_dir or self.path.parent
        )
        spill = Path(self._tmp.name)
        self._lock = os.open(spill, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._files = [open(spill / name, "wb") for name in ("x", "refs", "pos")]  # noqa: SIM115
        self._runs: list[int] = []  # postings of each batch, in order
        self._cuts: list[np.ndarray] = []  # where each sixteenth of the hash space starts in each batch
        self._banks: list[str] = []
        self._bank_codes: dict[str, int] = {}
        self._blobs: list[bytes] = []
        self._lengths: list[np.ndarray] = []
        self._bank_of: list[np.ndarray] = []
        self._per_item: dict[str, list[np.ndarray]] = {"nfp": [], "ntok": [], "item_page": []}
        self._page_item: list[np.ndarray] = []
        self._page_no: list[np.ndarray] = []
        self._links: list[tuple[int, str, Sequence[str]]] = []
        self._phrases: list[tuple[str, str, PhraseFingerprint, bool]] = []
        self.n_items = 0
        self.n_pages = 0
        self.n_postings = 0

    def __enter__(self) -> SnapshotBuilder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is None:
                self.finish()
        finally:
            for fh in self._files:
                fh.close()
            self._tmp.cleanup()
            os.close(self._lock)

    def add(
        self,
        bank: str,
        item_ids: Sequence[str],
        batch: FingerprintBatch,
        links: Sequence[Sequence[str]] | None = None,
    ) -> None:
        """Add the items of one batch (ids in ``bank``, with their stored links, if any)."""
        n = len(item_ids)
        if batch.params != self.params:
            raise ParameterMismatchError(self.params, batch.params, what=f"items of bank {bank!r}")
        if len(batch) != n or (links is not None and len(links) != n):
            raise ValueError(f"{n} item ids for {len(batch)} fingerprints and {len(links or ())} links")
        if n == 0:
            return
        offsets = np.asarray(batch.offsets, dtype=np.int64)
        n_tokens = np.asarray(batch.n_tokens, dtype=np.int64)
        if int(n_tokens.max()) >= _MAX_TOKENS or int(n_tokens.min()) < 0:
            raise ValueError(
                f"bank {bank!r}: an item of more than {_MAX_TOKENS - 1} tokens cannot be indexed"
            )
        code = self._bank_codes.setdefault(bank, len(self._bank_codes))
        if code == len(self._banks):
            self._banks.append(bank)
        encoded = [i.encode("utf-8") for i in item_ids]
        self._blobs.append(b"".join(encoded))
        self._lengths.append(np.fromiter(map(len, encoded), dtype=np.int64, count=n))
        self._bank_of.append(np.full(n, code, dtype=np.int32))
        first = self.n_items
        n_pages = np.maximum(1, -(-n_tokens // _postings.PAGE))
        page_start = self.n_pages + np.concatenate(([0], np.cumsum(n_pages)[:-1]))
        total_pages = int(n_pages.sum())
        self._page_item.append(np.repeat(np.arange(first, first + n, dtype=np.uint32), n_pages))
        self._page_no.append(
            (np.arange(total_pages) - np.repeat(page_start - self.n_pages, n_pages)).astype(np.uint32)
        )
        x, refs, in_page, nfp, cuts = _spill_order(
            np.asarray(batch.hashes, dtype=np.uint64),
            np.asarray(batch.positions, dtype=np.int64),
            offsets,
            page_start.astype(np.int64),
            MAX_REPEATS,
        )
        self._per_item["nfp"].append(nfp)
        self._per_item["ntok"].append(n_tokens.astype(np.int32))
        self._per_item["item_page"].append(page_start)
        for fh, column in zip(self._files, (x, refs, in_page), strict=True):
            column.tofile(fh)
        self._cuts.append(cuts + self.n_postings)
        self._runs.append(len(x))
        if links is not None:
            self._links += [(first + i, bank, linked) for i, linked in enumerate(links) if linked]
        self.n_items += n
        self.n_pages += total_pages
        self.n_postings += len(x)

    def add_phrases(
        self, items: Sequence[tuple[str, str, PhraseFingerprint]], *, phrase_only: bool = False
    ) -> None:
        """The phrases (``copytrace.phrases``) of items added (or to be added) to the snapshot, as
        ``(bank, item id, phrase fingerprint)``; ``phrase_only`` as ``Index.add_phrases``."""
        want = PhraseParams(key_id=self.params.key_id)
        for _, _, fp in items:
            if fp.params != want:
                raise ParameterMismatchError(want, fp.params, what="phrase")
        self._phrases.extend((bank, item_id, fp, phrase_only) for bank, item_id, fp in items)

    def finish(self) -> None:
        """Write the snapshot (called by the ``with`` block's end)."""
        for fh in self._files:
            fh.flush()
        spill = Path(self._tmp.name)
        n, total = self.n_items, self.n_postings
        names = self._names()
        families = Families(lambda name: names.number(*name), names.__getitem__)  # type: ignore[misc]
        families.extend(0, n)
        for number, bank, linked in self._links:
            families.link(number, (bank, names[number][1]), [(bank, other) for other in linked])
        phrases = PhraseTable(params=PhraseParams(key_id=self.params.key_id))
        for bank, item_id, fp, only in self._phrases:
            at = names.number(bank, item_id)
            if at is not None:  # an item left out of the batches (unreadable) has no phrase either
                phrases.add(at, fp, only=only)
        bits = _postings.bits_for(total)
        x_all = np.memmap(spill / "x", dtype=np.uint64, mode="r") if total else np.zeros(0, np.uint64)
        counts = np.zeros(1 << bits, dtype=np.int64)
        _count_buckets(x_all, bits, counts)
        offsets = np.zeros((1 << bits) + 1, dtype=np.uint32 if total < (1 << 32) else np.uint64)
        np.cumsum(counts, out=offsets[1:])
        del counts
        meta, arrays = snapshot_contents.contents(
            params=self.params,
            bits=bits,
            postings={
                "offsets": offsets,
                "tags": snapshot.Placeholder(np.dtype(np.uint32), total),
                "refs": snapshot.Placeholder(np.dtype(np.uint32), total),
                "pos": snapshot.Placeholder(np.dtype(np.uint16), total),
            },
            page_item=_cat(self._page_item, np.uint32),
            page_no=_cat(self._page_no, np.uint32),
            item_page=_cat(self._per_item["item_page"], np.int64),
            nfp=_cat(self._per_item["nfp"], np.int32),
            ntok=_cat(self._per_item["ntok"], np.int32),
            names=names,
            families=families,
            texts={},
            phrases=phrases,
            origin=self.origin,
        )
        with snapshot.writer(self.path, FORMAT, meta, arrays) as out:
            if total:
                refs_all = np.memmap(spill / "refs", dtype=np.uint32, mode="r")
                pos_all = np.memmap(spill / "pos", dtype=np.uint16, mode="r")
                slice_bits = min(_SLICE_BITS, bits)  # a bucket never spans two slices
                # where each slice starts in each batch's spill (``_spill_order``): each batch read once
                cuts = [c[:: 1 << (_SLICE_BITS - slice_bits)] for c in self._cuts]
                per_slice = 1 << (bits - slice_bits)
                widest = int(np.diff(offsets[::per_slice].astype(np.int64)).max())

                def fill(first: int, step: int) -> None:
                    """Slices ``first``, ``first + step``, ...: each assembled in memory from every batch's
                    share of it (one range of its spill, spilled in order of the hash's top bits), its
                    buckets sorted, then written to the file in one sequential write."""
                    buffers = (  # one slice's postings, reused for every slice
                        np.empty(widest, dtype=np.uint32),
                        np.empty(widest, dtype=np.uint32),
                        np.empty(widest, dtype=np.uint16),
                    )
                    for s in range(first, 1 << slice_bits, step):
                        b0, b1 = s * per_slice, (s + 1) * per_slice
                        p0, p1 = int(offsets[b0]), int(offsets[b1])
                        tags, refs, pos = (b[: p1 - p0] for b in buffers)
                        cursor = offsets[b0:b1].astype(np.int64) - p0
                        for b in range(len(self._runs)):
                            piece = slice(int(cuts[b][s]), int(cuts[b][s + 1]))
                            _scatter(
                                x_all[piece],
                                refs_all[piece],
                                pos_all[piece],
                                bits,
                                b0,
                                cursor,
                                tags,
                                refs,
                                pos,
                            )
                        _sort_buckets(offsets[b0 : b1 + 1].astype(np.int64) - p0, tags, refs, pos)
                        out["tags"][p0:p1] = tags
                        out["refs"][p0:p1] = refs
                        out["pos"][p0:p1] = pos

                # The slices are independent and their kernels release the interpreter lock: by the time
                # the last batch is added the store has been read, so the cores are free for them.
                threads = min(_FINISH_THREADS, 1 << slice_bits)
                with ThreadPoolExecutor(threads, thread_name_prefix="copytrace-snapshot-build") as pool:
                    for done in [pool.submit(fill, t, threads) for t in range(threads)]:
                        done.result()

    def _names(self) -> ItemNames:
        lengths = _cat(self._lengths, np.int64)
        starts = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        names = ItemNames.from_blob(
            self._banks,
            np.frombuffer(b"".join(self._blobs), dtype=np.uint8),
            starts,
            _cat(self._bank_of, np.int32),
        )
        duplicate = names.first_duplicate()
        if duplicate is not None:
            raise DuplicateItemError(*duplicate)
        return names


def _cat(parts: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
