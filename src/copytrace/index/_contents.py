"""What an index holds: its items' names, per-item and per-page arrays, postings, families, phrases and texts.

``Index`` answers; ``Contents`` keeps.  Adding an item appends its number (``_item_names``), its pages
(``_postings.PAGE`` tokens of one item each) and its postings, which wait in ``pending`` until a query or
``flush`` moves them into the delta (``_delta``), itself merged into the main level when it grows past an
eighth of it.  Removing an item marks it dead; ``compact`` drops the dead items' postings and renumbers the
live items 0..n-1 in the order added.  ``kernel_index`` hands the matching kernels (``_matching``) the
arrays they read; ``snapshot`` and ``open`` are the two sides of a snapshot file (``snapshot_contents``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..errors import FingerprintFormatError
from ..fingerprints.fingerprint import Fingerprint, FingerprintParams
from ..fingerprints.keys import Key
from ..phrases import PhraseFingerprint, PhraseParams, PhraseTable
from ..text.normalize import Tokens, tokenize
from . import _delta, _file_level, _matching, _postings, _quote_runs, snapshot_contents
from ._item_names import ItemNames
from ._postings import MAX_REPEATS
from ._quote_runs import TokenHashes
from .families import Families
from .snapshot import Placeholder

if TYPE_CHECKING:
    from ..fingerprints.batch import FingerprintBatch
    from .token_sidecar import TokenSidecar

TOKEN_CACHE = 1 << 20  # tokens of items that quote verification keeps (24 bytes each)
ALL_ALLOWED = np.zeros(0, dtype=bool)


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` in a new array of ``rows`` (more) rows, the rest zero.  Only its own rows are written: a
    large ``np.zeros`` takes pages the system zeroes when first touched, where ``np.resize`` wrote every row
    by repeating ``array`` (the first item added to an index mapped from a snapshot of 1,000,000 items
    copied its per-item and per-page arrays in 0.06-0.1 s; 7-9 ms so)."""
    out = np.zeros(rows, dtype=array.dtype)
    out[: len(array)] = array
    return out


TextLookup = Callable[[str, str], "str | None"]
"""``text_lookup(bank, item_id)``: an item's text, or None.  A lookup that reads its texts from somewhere
slow may also have a method ``prefetch(names)``: each pass of a search that needs texts (the spans of its
matches, the quote candidates) calls it first with the ``(bank, item_id)`` of the items whose texts it is
about to ask for one by one (possibly none), so that it can read them in one go."""


class Contents:
    """The items of one index and everything kept for them, by item number (the order added).

    ``keep_text`` keeps added texts, so that matches carry item spans; ``text_lookup(bank, item_id)`` gives
    the texts of the items added without one."""

    def __init__(self, phrases: PhraseTable, *, keep_text: bool, text_lookup: TextLookup | None) -> None:
        self.keep_text = keep_text
        self.text_lookup = text_lookup
        self.names = ItemNames()
        self.n_present = 0
        self.nfp = np.zeros(0, dtype=np.int32)
        self.ntok = np.zeros(0, dtype=np.int32)
        self.alive = np.zeros(0, dtype=bool)
        self.texts: dict[int, tuple[str, bool | None]] = {}
        self.main = _postings.empty()
        self.delta = _delta.Delta()
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.item_page = np.zeros(0, dtype=np.int64)  # first page of each item
        self.page_item = np.zeros(0, dtype=np.uint32)  # item of each page
        self.page_no = np.zeros(0, dtype=np.uint32)  # which page of its item
        self.n_pages = 0
        self.dead_postings = 0
        self.allowed_cache: dict[tuple[str, ...] | None, tuple[np.ndarray, int]] = {}
        self.families = Families(self._number_of, self._name_of)
        self.scratch = threading.local()
        self.phrases = phrases
        self.phrase_mask: np.ndarray | None = None
        self.phrase_spans: dict[int, tuple[int | None, int | None]] = {}  # item side of phrase matches
        self.token_cache: dict[int, tuple[str, Tokens]] = {}  # item tokens for quotes, with their text
        self.token_cache_size = 0  # tokens held by token_cache
        self.hash_cache = TokenHashes()  # token hashes of item texts, for the quote pass's first check
        self.snapshot_items: int | None = None  # items of the snapshot opened, while numbered as in it
        self.sidecar: TokenSidecar | None = None  # the cut token hashes of those items (``attach_tokens``)
        self.in_file: _file_level.FilePostings | None = None  # set: the main level is kept in a file

    def _number_of(self, name: Hashable) -> int | None:
        bank, item_id = cast(tuple[str, str], name)
        return self.names.number(bank, item_id)

    def _name_of(self, number: int) -> Hashable:
        return self.names[number]

    # ------------------------------------------------------------------------------------------ reading
    @property
    def n_fingerprints(self) -> int:
        """Number of stored fingerprints (postings) of live items."""
        self.flush()
        return len(self.main) + len(self.delta) - self.dead_postings

    @property
    def nbytes(self) -> int:
        """Bytes held by the postings and the per-item and per-page arrays."""
        self.flush()
        n, pages = len(self.names), self.n_pages
        per_item = [self.nfp, self.ntok, self.alive, self.names.bank_of, self.item_page, self.families.labels]
        return (
            self.main.nbytes
            + self.delta.nbytes
            + sum(int(a[:n].nbytes) for a in per_item)
            + int(self.page_item[:pages].nbytes + self.page_no[:pages].nbytes)
        )

    def item_text(self, idx: int) -> tuple[str, bool | None] | None:
        """Item ``idx``'s text and its ``html`` flag, kept or from ``text_lookup``; None without it."""
        held = self.texts.get(idx)
        if held is not None:
            return held
        if self.text_lookup is not None:
            text = self.text_lookup(*self.names[idx])
            if text is not None:
                return text, None
        return None

    def item_tokens(self, idx: int) -> Tokens | None:
        """The tokens of item ``idx``'s text, or None without it (or with a text not of its fingerprint).
        The last few are kept, each with its text: a number reused after compaction holds another text."""
        held = self.item_text(idx)
        if held is None:
            return None
        cache = self.token_cache
        cached = cache.get(idx)
        if cached is not None and cached[0] == held[0]:
            tokens = cached[1]
        else:
            tokens = tokenize(held[0], html=held[1])
            if self.token_cache_size + len(tokens) > TOKEN_CACHE:
                cache.clear()
                self.token_cache_size = 0
            cache[idx] = (held[0], tokens)
            self.token_cache_size += len(tokens)
        return tokens if len(tokens) == int(self.ntok[idx]) else None

    def prefetch(self, numbers: np.ndarray) -> None:
        """Let the text lookup read, in one go, the texts of items ``numbers`` that the index does not
        keep, before they are asked for one by one (``TextLookup``'s ``prefetch``; nothing when it has
        none)."""
        prefetch = getattr(self.text_lookup, "prefetch", None)
        if prefetch is None:
            return
        texts = self.texts
        # called even with none missing: a lookup that serves one batch's texts then forgets the last's
        prefetch([self.names[i] for i in numbers.tolist() if i not in texts])

    def phrase_items(self) -> np.ndarray:
        """Which item numbers are kept as phrases, and so are reported as phrases only: never through the
        long-text rule, whose chain could hold part of their words only (a short item's one fingerprint of
        ``at the Berlin Film Festival`` is not the item ``is being shown at the Berlin Film Festival``)."""
        mask = self.phrase_mask
        if mask is None or len(mask) < len(self.names):
            mask = np.zeros(len(self.names), dtype=bool)
            numbers = self.phrases.items()
            mask[numbers[numbers < len(mask)]] = True
            self.phrase_mask = mask
        return mask

    def allowed(self, banks: Iterable[str] | None) -> np.ndarray:
        """Which item numbers a search of ``banks`` may report; cached, and extended (not rebuilt) when
        items were added since, in an array that doubles as it fills: a query after each addition costs
        the new items, not the bank.  An empty array means all of them (every bank, no item removed): the
        matching code then reads no mask at all."""
        key = None if banks is None else tuple(sorted(set(banks)))
        n = len(self.names)
        if key is None and self.n_present == n:
            return ALL_ALLOWED
        allowed, start = self.allowed_cache.get(key, (ALL_ALLOWED, 0))
        if start < n:
            tail = self.alive[start:n].copy()
            if key is not None:
                wanted = np.zeros(len(self.names.banks) + 1, dtype=bool)
                wanted[[c for c in map(self.names.bank_code, key) if c is not None]] = True
                tail &= wanted[self.names.bank_of[start:n]]
            if len(allowed) < n:
                allowed = _grown(allowed, max(64, 2 * len(allowed), n))  # the first ``start`` kept
            allowed[start:n] = tail
            self.allowed_cache[key] = (allowed, n)
        return allowed[:n]

    def _seen(self, n: int) -> np.ndarray:
        """This thread's scratch for counting families (``_matching.count_df``): queries may run at once."""
        seen: np.ndarray | None = getattr(self.scratch, "seen", None)
        if seen is None or len(seen) < n + 1:
            stamp = 0 if seen is None else int(seen[-1])
            seen = np.zeros(max(64, 2 * n) + 1, dtype=np.int64)
            seen[-1] = stamp
            self.scratch.seen = seen
        return seen

    def kernel_index(self, banks: Iterable[str] | None, before: int | None) -> tuple[object, ...]:
        """The index's side of a kernel call: postings, pages, allowed items, families, scratch."""
        self.flush()
        allowed = self.allowed(banks)
        n = len(self.names)
        main, delta = self.main, self.delta
        return (
            main.bits,
            main.offsets,
            main.tags,
            main.refs,
            main.pos,
            *delta.kernel(),
            self.page_item,
            self.page_no,
            allowed,
            n if before is None else min(before, n),
            self.families.labels,  # as long as the items at least (every item is in a family)
            self._seen(n),
            self.nfp,
        )

    def holders(self, hashes: np.ndarray) -> list[list[np.ndarray]]:
        """For each of ``hashes``, the item numbers of its postings (main level and delta, dead included)."""
        found: list[list[np.ndarray]] = [[] for _ in range(len(hashes))]
        main, delta = self.main, self.delta
        lo, hi = _matching.lookup(main.bits, main.offsets, main.tags, hashes.astype(np.uint64))
        for j in np.flatnonzero(hi > lo).tolist():
            found[j].append(self.page_item[main.refs[lo[j] : hi[j]]].astype(np.int64))
        d_lo, d_hi = delta.ranges(hashes)
        for r, j in zip(*np.nonzero(d_hi > d_lo), strict=True):
            found[j].append(self.page_item[delta.refs[d_lo[r, j] : d_hi[r, j]]].astype(np.int64))
        return found

    # ------------------------------------------------------------------------------------------ changes
    def _grow_items(self, n: int) -> None:
        """Room in the per-item arrays for ``n`` items (doubling)."""
        if n > len(self.nfp):
            cap = max(64, 2 * len(self.nfp), n)
            self.nfp = _grown(self.nfp, cap)
            self.ntok = _grown(self.ntok, cap)
            self.alive = _grown(self.alive, cap)
            self.item_page = _grown(self.item_page, cap)

    def make_room(self) -> None:
        """Room for the next items and their pages, and the families ready to take them: what the first
        item added after opening a snapshot did (copying the per-item and per-page arrays sized for the
        snapshot, 7-9 ms at 1,000,000 items, and marking the names its links mention, about 5 ms), done
        ahead by a service before it serves, so that the first change it applies does neither."""
        self._grow_items(len(self.names) + 1)
        self._grow_pages(self.n_pages + 1)
        self.families.prepare()

    def _grow_pages(self, n: int) -> None:
        """Room in the per-page arrays for ``n`` pages (doubling)."""
        if n > len(self.page_item):
            cap = max(64, 2 * len(self.page_item), n)
            self.page_item = _grown(self.page_item, cap)
            self.page_no = _grown(self.page_no, cap)

    def insert(
        self,
        item_id: str,
        fp: Fingerprint,
        text: str | None,
        bank: str,
        html: bool | None,
        links: Sequence[str],
        pfp: PhraseFingerprint | None = None,
        only: bool = False,
    ) -> None:
        """Add one item, checked already (``_prepare``), linked to the items ``links`` names."""
        idx = self.names.append(bank, item_id)
        if pfp is not None:
            self.phrases.add(idx, pfp, only=only)
            self.phrase_mask = None
        self.n_present += 1
        self._grow_items(idx + 1)
        n_pages = max(1, -(-fp.n_tokens // _postings.PAGE))
        first_page = self.n_pages
        self._grow_pages(first_page + n_pages)
        self.page_item[first_page : first_page + n_pages] = idx
        self.page_no[first_page : first_page + n_pages] = np.arange(n_pages, dtype=np.uint32)
        self.item_page[idx] = first_page
        self.n_pages += n_pages
        keep = _matching.first_repeats(fp.hashes, MAX_REPEATS)
        if only:  # reported as a phrase only: its postings would never be read
            keep[:] = False
        hashes, positions = fp.hashes[keep], fp.positions[keep]
        self.nfp[idx] = len(hashes)
        self.ntok[idx] = fp.n_tokens
        self.alive[idx] = True
        if text is not None and self.keep_text:
            self.texts[idx] = (text, html)
        positions = positions.astype(np.int64)
        self.pending.append(
            (
                _postings.mix(hashes),
                (first_page + (positions >> _postings.PAGE_BITS)).astype(np.uint32),
                (positions & (_postings.PAGE - 1)).astype(np.uint16),
            )
        )
        self.families.add(idx, (bank, item_id), [(bank, other) for other in links])

    def insert_batch(self, item_ids: Sequence[str], batch: FingerprintBatch, bank: str) -> int:
        """Add many items, checked already, from flat arrays with vectorised work only, each a family of its
        own; returns the number of the first."""
        n = len(item_ids)
        offsets = np.asarray(batch.offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        n_tokens = np.asarray(batch.n_tokens, dtype=np.int64)
        owner = np.repeat(np.arange(n), lengths)
        positions = np.asarray(batch.positions, dtype=np.int64)
        first = len(self.names)
        for item_id in item_ids:
            self.names.append(bank, item_id)
        self.n_present += n
        self._grow_items(first + n)
        n_pages = np.maximum(1, -(-n_tokens // _postings.PAGE))
        page_start = self.n_pages + np.concatenate(([0], np.cumsum(n_pages)[:-1]))
        total_pages = int(n_pages.sum())
        self._grow_pages(self.n_pages + total_pages)
        numbers = np.arange(first, first + n)
        span = slice(self.n_pages, self.n_pages + total_pages)
        self.page_item[span] = np.repeat(numbers, n_pages)
        self.page_no[span] = np.arange(total_pages) - np.repeat(page_start - self.n_pages, n_pages)
        self.n_pages += total_pages
        keep = _matching.first_repeats_many(np.asarray(batch.hashes, dtype=np.uint64), offsets, MAX_REPEATS)
        kept_owner = owner[keep]
        self.nfp[first : first + n] = np.bincount(kept_owner, minlength=n)
        self.ntok[first : first + n] = n_tokens
        self.alive[first : first + n] = True
        self.item_page[first : first + n] = page_start
        kept_pos = positions[keep]
        self.pending.append(
            (
                _postings.mix(np.asarray(batch.hashes, dtype=np.uint64)[keep]),
                (page_start[kept_owner] + (kept_pos >> _postings.PAGE_BITS)).astype(np.uint32),
                (kept_pos & (_postings.PAGE - 1)).astype(np.uint16),
            )
        )
        self.families.extend(first, first + n)
        return first

    def remove(self, idx: int) -> None:
        """Mark item ``idx`` dead; compact when dead postings or numbers have grown worth it."""
        self.remove_many([idx])

    def remove_many(self, idxs: Sequence[int]) -> None:
        """``remove`` of each of the present items ``idxs``, their families re-derived once."""
        for idx in idxs:
            self.names.remove(idx)
            self.n_present -= 1
            self.alive[idx] = False
            self.texts.pop(idx, None)
            self.hash_cache.pop(idx, None)
            self.phrase_spans.pop(idx, None)
            self.dead_postings += int(self.nfp[idx])
        self.families.remove_many(idxs)
        self.allowed_cache.clear()
        self.flush()
        total = len(self.main) + len(self.delta)
        dead_slots = len(self.names) - self.n_present
        if (total and self.dead_postings * 4 > total) or dead_slots > max(1024, self.n_present):
            self.compact()

    def flush(self) -> None:
        """Move pending postings into the delta (merged into the main level when it has grown enough)."""
        self.phrases.prepare()
        if len(self.phrases):
            self.phrase_items()  # built now, so that queries only read it
        if not self.pending:
            return
        x = np.concatenate([p[0] for p in self.pending])
        refs = np.concatenate([p[1] for p in self.pending])
        pos = np.concatenate([p[2] for p in self.pending])
        self.pending.clear()
        self.delta.add(x, refs, pos)
        if self.in_file is not None:
            if len(self.delta) > self.in_file.above:
                self._merge_delta()
            return
        # A mapped snapshot stays shared: changes stay in the delta until it is as large as the snapshot.
        limit = len(self.main) if self.main.hi is None else len(self.main) // 8
        if len(self.delta) > max(1 << 16, limit):
            self._merge_delta()

    def _merge_delta(self) -> None:
        """Fold the delta into the main level (linear in both: it happens when the delta is a fraction of
        the main level, so its cost per posting is bounded)."""
        if len(self.delta) and self.in_file is not None:
            x, refs, pos = self.delta.postings()
            self.delta = _delta.Delta()  # its arrays freed before the file is written
            try:
                self.main = self.in_file.merge(self.main, x, refs, pos)
            except BaseException:
                self.delta.add(x, refs, pos)
                raise
            self.names.fold()
        elif len(self.delta):
            self.main = _postings.merge(self.main, *self.delta.postings())
            self.delta = _delta.Delta()

    def compact(self) -> None:
        """Merge the delta, drop dead items' postings and renumber the live items 0..n-1 in order added."""
        self.flush()
        self._merge_delta()
        n = len(self.names)
        if n == self.n_present:
            return
        live = np.flatnonzero(self.alive[:n])
        renumber = np.full(n, -1, dtype=np.int64)
        renumber[live] = np.arange(len(live))
        pages = self.n_pages
        live_pages = np.flatnonzero(self.alive[self.page_item[:pages]])
        renumber_page = np.full(max(1, pages), -1, dtype=np.int64)
        renumber_page[live_pages] = np.arange(len(live_pages))
        keep = renumber_page[self.main.refs] >= 0
        self.main = _postings.select(self.main, keep, renumber_page)
        self.page_item = renumber[self.page_item[live_pages]].astype(np.uint32)
        self.page_no = self.page_no[live_pages]
        self.n_pages = len(live_pages)
        self.item_page = renumber_page[self.item_page[live]]
        self.names = self.names.select(live)
        self.nfp, self.ntok = self.nfp[live], self.ntok[live]
        self.alive = np.ones(len(live), dtype=bool)
        self.texts = {int(renumber[old]): held for old, held in self.texts.items()}
        self.token_cache, self.token_cache_size = {}, 0
        self.hash_cache = TokenHashes()
        self.snapshot_items, self.sidecar = None, None  # numbered anew: no longer the snapshot's numbers
        self.families.renumber(renumber)
        self.phrases.select(renumber)
        self.phrase_mask = None
        self.phrase_spans = {}
        self.dead_postings = 0
        self.allowed_cache.clear()

    # ------------------------------------------------------------------------------------------ snapshot
    def snapshot(
        self, params: FingerprintParams, origin: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, np.ndarray | Placeholder]]:
        """The meta and arrays of a snapshot of these contents, compacted first."""
        self.compact()
        n, pages, main = len(self.names), self.n_pages, self.main
        return snapshot_contents.contents(
            params=params,
            bits=main.bits,
            postings={"offsets": main.offsets, "tags": main.tags, "refs": main.refs, "pos": main.pos},
            page_item=self.page_item[:pages],
            page_no=self.page_no[:pages],
            item_page=self.item_page[:n],
            nfp=self.nfp[:n],
            ntok=self.ntok[:n],
            names=self.names,
            families=self.families,
            texts=self.texts,
            phrases=self.phrases,
            origin=origin,
        )

    def open(self, meta: dict[str, Any], arrays: dict[str, np.ndarray], key_id: str, key: Key | None) -> None:
        """Take the arrays of a snapshot as they are (mapped arrays stay shared), after checking every bound
        the matching code relies on: a corrupt snapshot is refused, never read out of bounds."""
        snapshot_contents.check(meta, arrays)
        n, pages, bits = int(meta["n_items"]), int(meta["n_pages"]), int(meta["bits"])
        self.main = _postings.Level(
            bits, arrays["offsets"], arrays["tags"], arrays["refs"], arrays["pos"], None
        )
        self.page_item, self.page_no, self.n_pages = arrays["page_item"], arrays["page_no"], pages
        self.item_page, self.nfp, self.ntok = arrays["item_page"], arrays["nfp"], arrays["ntok"]
        self.alive = np.ones(n, dtype=bool)
        self.names = ItemNames.from_arrays(list(meta["banks"]), arrays)
        self.n_present = n
        self.texts = {int(i): (str(t), h) for i, (t, h) in meta["texts"].items()}
        names = self.names  # numbered as the snapshot: ``names[i]`` stays until a ``select`` makes new names
        self.families.restore(arrays["labels"], lambda: snapshot_contents.links(meta, arrays, names))
        try:
            phrase_params = PhraseParams.parse(meta["phrase_params"])
        except FingerprintFormatError as exc:
            raise ValueError(str(exc)) from exc
        if phrase_params.key_id != key_id:
            raise ValueError(f"phrases made with key {phrase_params.key_id}, postings with {key_id}")
        self.phrases = PhraseTable.from_arrays(phrase_params, key, arrays, n)
        self.phrase_mask = None
        self.snapshot_items, self.sidecar = n, None

    def attach_tokens(self, sidecar: TokenSidecar) -> bool:
        """Measure the quote pass's first check on ``sidecar`` (the cut token hashes of every item of the
        snapshot these contents were opened from) for the items of the snapshot still present: their
        texts are no longer read for it.  Refused (False) once the items are numbered anew (``compact``),
        or when the sidecar is not of as many items, or its lengths are not the items' token counts.

        The caller checks that the sidecar names the snapshot opened, and that these contents have
        applied every change up to the store generation its texts were read at: an item replaced or
        removed before then is dead here (``alive``), and is never measured from it."""
        n = self.snapshot_items
        if n is None or sidecar.n_items != n:
            return False
        with_text = sidecar.state == _quote_runs.TEXT
        lengths = np.diff(sidecar.offsets)
        if (lengths[with_text] != self.ntok[:n][with_text]).any():
            return False
        _quote_runs.warm_up(sidecar.hashes)  # its read-only array is a kernel of its own: loaded here
        self.sidecar = sidecar
        return True
