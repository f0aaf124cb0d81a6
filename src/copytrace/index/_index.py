"""The index: banked items' fingerprints, searchable without scanning the bank.

Postings are bucketed by hash (``_postings``): 10 bytes a stored fingerprint, and a lookup reads one bucket's
tags, a cache miss or two (``_matching.lookup``).  A query weighs each held hash by how many copy families
hold it, chains the shared fingerprints of each item in order (``_matching.chain_anchors``) and reports the
items with enough evidence (``MatchParams``); ``match_many`` does it for many texts in one compiled call.

Additions go to a delta of sorted runs that merge as they grow (``_delta``: adding an item costs
``O(log n)`` amortised, however many were added before it), merged into the main level when it grows past
an eighth of it, so adding one item never re-sorts the index; removals mark the item dead and are
compacted away in bulk, renumbering the live items, so an index that keeps adding and removing items holds
memory for its live items only.  ``save`` writes a snapshot (``copytrace.index.snapshot``) that
``load`` maps: processes that load one file share its pages.  Layout and design: ``docs/index.md``.

An item too short for the long-text evidence rule (``phrases.is_short``), or added with ``phrase=True`` (an
item of a phrase bank, then matched as a phrase only), is also kept as a *phrase* (``copytrace.phrases``): it
is found, with its evasive spellings, wherever its folded letters occur from a token start to a token end of
a query, and reported with ``Match.kind == "phrase"``.

>>> index = Index()
>>> fp = index.add("speech", "We will continue our endeavors for the victory of the resistance.")
>>> said = "they said: we will continue our endeavors for the victory of the resistance!"
>>> [m.item_id for m in index.match(said)]
['speech']
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import numpy as np

from ..errors import (
    DuplicateItemError,
    FingerprintFormatError,
    InputError,
    KeyFormatError,
    NoTokenError,
    ParameterMismatchError,
    UnknownItemError,
)
from ..fingerprints.fingerprint import (
    DEFAULT_K,
    DEFAULT_WINDOW,
    Fingerprint,
    FingerprintParams,
    fingerprint,
    looks_like_fingerprint,
)
from ..fingerprints.keys import PUBLIC_KEY, Key, as_key
from ..phrases import (
    PhraseFingerprint,
    PhraseParams,
    PhraseTable,
    check_phrase_text,
    is_short,
    looks_like_phrase_fingerprint,
    phrase_fingerprint,
)
from ..text.normalize import Tokens, tokenize
from ..text.phrase_fold import phrase_tokens
from . import _delta, _matching, _postings, quotes, snapshot, snapshot_contents
from ._item_names import ItemNames
from ._postings import MAX_REPEATS
from .evidence import evidence_spans
from .families import MAX_LINKS, VERSION_CONTAINMENT, Families
from .match import DEFAULT_MATCH_PARAMS, Match, MatchParams, QuoteEvidence, Span
from .snapshot import SnapshotError
from .snapshot_contents import FORMAT

DEFAULT_BANK = "default"
_MAX_TOKENS = 1 << 31
_LINK_ANCHORS = 64  # postings of one fingerprint that linking looks at (the earliest items holding it)
_TOKEN_CACHE = 1 << 20  # tokens of items that quote verification keeps (24 bytes each)

if TYPE_CHECKING:
    from ..fingerprints.batch import FingerprintBatch

_ALL_ALLOWED = np.zeros(0, dtype=bool)

TextLookup = Callable[[str, str], "str | None"]
PhraseOption = bool | PhraseFingerprint | None


def _name(path: object) -> str:
    return repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else "stream"


def _check_indexable(fp: Fingerprint, item_id: str) -> None:
    """Refuse a fingerprint the postings cannot hold (token positions are 32-bit), naming the item."""
    if not 0 <= fp.n_tokens < _MAX_TOKENS or (len(fp) and int(fp.positions.max()) >= fp.n_tokens):
        raise FingerprintFormatError(
            f"item {item_id!r}: fingerprint of {fp.n_tokens} tokens with positions up to "
            f"{int(fp.positions.max()) if len(fp) else 0} cannot be indexed "
            f"(at most {_MAX_TOKENS - 1} tokens)"
        )


class Index:
    """Banked items' fingerprints, searchable by text.

    ``key`` (a ``Key`` or secret) keys every fingerprint the index makes and must match every fingerprint
    added to it.  ``keep_text`` keeps added texts in memory so that matches carry item spans; an index built
    from fingerprints alone can get texts from ``text_lookup(bank, item_id)``.
    """

    def __init__(
        self,
        *,
        key: Key | str | bytes | None = None,
        k: int = DEFAULT_K,
        window: int = DEFAULT_WINDOW,
        match_params: MatchParams = DEFAULT_MATCH_PARAMS,
        keep_text: bool = True,
        text_lookup: TextLookup | None = None,
    ) -> None:
        self._key: Key | None = as_key(key)
        self.params = FingerprintParams(k=k, window=window, key_id=self._key.key_id)
        self.match_params = match_params
        self.keep_text = keep_text
        self.text_lookup = text_lookup
        self._names = ItemNames()
        self._n_present = 0
        self._nfp = np.zeros(0, dtype=np.int32)
        self._ntok = np.zeros(0, dtype=np.int32)
        self._alive = np.zeros(0, dtype=bool)
        self._texts: dict[int, tuple[str, bool | None]] = {}
        self._main = _postings.empty()
        self._delta = _delta.Delta()
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._item_page = np.zeros(0, dtype=np.int64)  # first page of each item
        self._page_item = np.zeros(0, dtype=np.uint32)  # item of each page
        self._page_no = np.zeros(0, dtype=np.uint32)  # which page of its item
        self._n_pages = 0
        self._dead_postings = 0
        self._allowed_cache: dict[tuple[str, ...] | None, tuple[np.ndarray, int]] = {}
        self._families = Families(self._number_of, self._name_of)
        self._scratch = threading.local()
        self._phrases = PhraseTable(self._key)
        self._phrase_mask: np.ndarray | None = None
        self._phrase_spans: dict[int, tuple[int | None, int | None]] = {}  # item side of phrase matches
        self._token_cache: dict[int, tuple[str, Tokens]] = {}  # item tokens for quotes, with their text

    @classmethod
    def for_params(
        cls,
        params: FingerprintParams,
        *,
        match_params: MatchParams = DEFAULT_MATCH_PARAMS,
        text_lookup: TextLookup | None = None,
    ) -> Index:
        """An index of fingerprints made with ``params``, without the secret key they were made with.

        It adds and matches fingerprints; fingerprinting text needs the key and raises ``KeyFormatError``.
        A party that holds only a keyed list can match fingerprints its members send, never texts.
        """
        index = cls(
            k=params.k,
            window=params.window,
            match_params=match_params,
            keep_text=False,
            text_lookup=text_lookup,
        )
        index.params = params
        index._key = PUBLIC_KEY if params.key_id == PUBLIC_KEY.key_id else None
        index._phrases = PhraseTable(index._key, params=PhraseParams(key_id=params.key_id))
        return index

    def _seen(self, n: int) -> np.ndarray:
        """This thread's scratch for counting families (``_matching.count_df``): queries may run at once."""
        seen: np.ndarray | None = getattr(self._scratch, "seen", None)
        if seen is None or len(seen) < n + 1:
            stamp = 0 if seen is None else int(seen[-1])
            seen = np.zeros(max(64, 2 * n) + 1, dtype=np.int64)
            seen[-1] = stamp
            self._scratch.seen = seen
        return seen

    def _number_of(self, name: Hashable) -> int | None:
        bank, item_id = cast(tuple[str, str], name)
        return self._names.number(bank, item_id)

    def _name_of(self, number: int) -> Hashable:
        return self._names[number]

    def _hashing_key(self) -> Key:
        if self._key is None:
            raise KeyFormatError(
                f"this index holds fingerprints keyed with key {self.params.key_id}: fingerprint text with "
                "that key (Index(key=...)) or add and match fingerprints"
            )
        return self._key

    # ----------------------------------------------------------------------------------------- contents
    def __len__(self) -> int:
        return self._n_present

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            item = (DEFAULT_BANK, item)
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        return self._names.number(*item) is not None

    def items(self) -> Iterator[tuple[str, str]]:
        """(bank, item id) of every item, in the order added."""
        return self._names.iter_numbers(np.flatnonzero(self._alive[: len(self._names)]))

    @property
    def n_fingerprints(self) -> int:
        """Number of stored fingerprints (postings) of live items."""
        self._flush()
        return len(self._main) + len(self._delta) - self._dead_postings

    @property
    def nbytes(self) -> int:
        """Bytes held by the postings and the per-item and per-page arrays (texts and ids excluded; the top
        hash bits an index built in memory keeps to re-bucket as it grows excluded too)."""
        self._flush()
        n, pages = len(self._names), self._n_pages
        per_item = [
            self._nfp,
            self._ntok,
            self._alive,
            self._names.bank_of,
            self._item_page,
            self._families.labels,
        ]
        return (
            self._main.nbytes
            + self._delta.nbytes
            + sum(int(a[:n].nbytes) for a in per_item)
            + int(self._page_item[:pages].nbytes + self._page_no[:pages].nbytes)
        )

    def add(
        self,
        item_id: str,
        text_or_fingerprint: str | Fingerprint,
        *,
        bank: str = DEFAULT_BANK,
        html: bool | None = None,
        links: Sequence[str] | None = None,
        phrase: PhraseOption = None,
        phrase_only: bool | None = None,
    ) -> Fingerprint:
        """Add an item from its text, or from a ``Fingerprint`` or fingerprint string (stored without text),
        or from a ``PhraseFingerprint`` or its string (a phrase without text).

        ``phrase``: ``None`` keeps the item as a phrase too when it is too short for the long-text evidence
        rule (``phrases.is_short``; found as a phrase, it is not reported again as text); ``True`` always, and
        as a phrase only (an item of a phrase bank); ``False`` never; a ``PhraseFingerprint`` gives the
        item's phrase (an item added from fingerprints).  ``phrase_only`` (default: ``phrase is True``) says
        whether the item is reported as a phrase only.  Text with no token at all raises ``NoTokenError``
        (a ``TooShortError``).

        The item joins the copy family of the items of its bank it is a version of (``families``):
        ``links`` names them (ids in the same bank, as stored with the item); ``None`` finds them by matching
        the item against its bank first (``versions_of``).  ``links(bank, item_id)`` tells what was used.
        Raises ``DuplicateItemError`` if (bank, item_id) is present and ``ParameterMismatchError`` for a
        fingerprint made with other parameters or another key.
        """
        if self._names.number(bank, item_id) is not None:
            raise DuplicateItemError(bank, item_id)
        fp, text, pfp = self._prepare(item_id, text_or_fingerprint, html, phrase)
        only = pfp is not None and (phrase is True if phrase_only is None else phrase_only)
        if links is None:
            links = [] if only else self.versions_of(fp, bank=bank)
        self._insert(item_id, fp, text, bank, html, links, pfp, only)
        return fp

    def add_many(
        self,
        items: Iterable[tuple[str, str | Fingerprint]],
        *,
        bank: str = DEFAULT_BANK,
        html: bool | None = None,
        phrase: bool | None = None,
    ) -> list[Fingerprint]:
        """Add many items at once, each linked to its versions among the bank and the items before it, as
        ``add`` one by one would (``phrase`` as there); all or none are added.

        The postings are merged once, where ``add`` one by one merges them before each match: use it to
        build a bank.
        """
        prepared = []
        seen: set[str] = set()
        for item_id, text_or_fingerprint in items:
            if item_id in seen or self._names.number(bank, item_id) is not None:
                raise DuplicateItemError(bank, item_id)
            seen.add(item_id)
            prepared.append((item_id, *self._prepare(item_id, text_or_fingerprint, html, phrase)))
        for item_id, fp, text, pfp in prepared:
            self._insert(item_id, fp, text, bank, html, (), pfp, phrase is True)
        for item_id, fp, _, _ in prepared:  # each against the items before it, families as formed so far
            if phrase is True:
                continue  # an item of a phrase bank is a family of its own
            found = self.versions_of(fp, bank=bank, added_before=item_id)
            number = self._names.number(bank, item_id)
            if found and number is not None:
                self._families.link(number, (bank, item_id), [(bank, other) for other in found])
        return [fp for _, fp, _, _ in prepared]

    def add_phrases(
        self, items: Iterable[tuple[str, str, PhraseFingerprint | str]], *, phrase_only: bool = False
    ) -> None:
        """Give items already added (``(bank, item id, phrase fingerprint)``) their phrases: how an index
        built from stored fingerprints (``add_batch``) gets the phrases stored beside them.  ``phrase_only``:
        the items are reported as phrases only (items of a phrase bank)."""
        for bank, item_id, pfp in items:
            idx = self._names.number(bank, item_id)
            if idx is None:
                raise UnknownItemError(bank, item_id)
            parsed = PhraseFingerprint.parse(pfp) if isinstance(pfp, str) else pfp
            self._phrases.add(idx, parsed, only=phrase_only)
        self._phrase_mask = None

    def add_batch(
        self,
        item_ids: Sequence[str],
        batch: FingerprintBatch,
        *,
        bank: str = DEFAULT_BANK,
        links: Sequence[Sequence[str]] | None = None,
    ) -> None:
        """Add many items from their fingerprints in flat arrays (``FingerprintBatch``, as
        ``Store.iter_fingerprint_batches`` reads them), with vectorised work only: how an index of
        millions of stored items is built.  ``links[i]`` are item ``i``'s links as stored (ids in
        ``bank``); ``None`` links each item to its versions among the bank and the items before it, as
        ``add_many``.  All or none are added."""
        n = len(item_ids)
        if len(batch) != n or (links is not None and len(links) != n):
            raise ValueError(f"{n} item ids for {len(batch)} fingerprints and {len(links or ())} links")
        if batch.params != self.params:
            raise ParameterMismatchError(self.params, batch.params, what=f"items of bank {bank!r}")
        seen: set[str] = set()
        for item_id in item_ids:
            if item_id in seen or self._names.number(bank, item_id) is not None:
                raise DuplicateItemError(bank, item_id)
            seen.add(item_id)
        if n == 0:
            return
        offsets = np.asarray(batch.offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        n_tokens = np.asarray(batch.n_tokens, dtype=np.int64)
        owner = np.repeat(np.arange(n), lengths)
        positions = np.asarray(batch.positions, dtype=np.int64)
        top = np.full(n, -1, dtype=np.int64)  # each item's largest position
        held = np.flatnonzero(lengths)
        if len(held):
            top[held] = np.maximum.reduceat(positions, offsets[held])
        bad = np.flatnonzero((n_tokens < 0) | (n_tokens >= _MAX_TOKENS) | (top >= n_tokens))
        if len(bad):
            i = int(bad[0])
            _check_indexable(batch[i], item_ids[i])  # raises, naming the item
        # numbers, per-item arrays and pages
        first = len(self._names)
        for item_id in item_ids:
            self._names.append(bank, item_id)
        self._n_present += n
        self._grow_items(first + n)
        n_pages = np.maximum(1, -(-n_tokens // _postings.PAGE))
        page_start = self._n_pages + np.concatenate(([0], np.cumsum(n_pages)[:-1]))
        total_pages = int(n_pages.sum())
        self._grow_pages(self._n_pages + total_pages)
        numbers = np.arange(first, first + n)
        span = slice(self._n_pages, self._n_pages + total_pages)
        self._page_item[span] = np.repeat(numbers, n_pages)
        self._page_no[span] = np.arange(total_pages) - np.repeat(page_start - self._n_pages, n_pages)
        self._n_pages += total_pages
        keep = _matching.first_repeats_many(np.asarray(batch.hashes, dtype=np.uint64), offsets, MAX_REPEATS)
        kept_owner = owner[keep]
        self._nfp[first : first + n] = np.bincount(kept_owner, minlength=n)
        self._ntok[first : first + n] = n_tokens
        self._alive[first : first + n] = True
        self._item_page[first : first + n] = page_start
        kept_pos = positions[keep]
        self._pending.append(
            (
                _postings.mix(np.asarray(batch.hashes, dtype=np.uint64)[keep]),
                (page_start[kept_owner] + (kept_pos >> _postings.PAGE_BITS)).astype(np.uint32),
                (kept_pos & (_postings.PAGE - 1)).astype(np.uint16),
            )
        )
        self._families.extend(first, first + n)
        for i, item_id in enumerate(item_ids):
            if links is not None:
                if links[i]:
                    self._families.link(first + i, (bank, item_id), [(bank, other) for other in links[i]])
                continue
            found = self.versions_of(batch[i], bank=bank, added_before=item_id)
            if found:
                self._families.link(first + i, (bank, item_id), [(bank, other) for other in found])

    def _grow_items(self, n: int) -> None:
        """Room in the per-item arrays for ``n`` items (doubling)."""
        if n > len(self._nfp):
            cap = max(64, 2 * len(self._nfp), n)
            self._nfp = np.resize(self._nfp, cap)
            self._ntok = np.resize(self._ntok, cap)
            self._alive = np.resize(self._alive, cap)
            self._item_page = np.resize(self._item_page, cap)

    def _grow_pages(self, n: int) -> None:
        """Room in the per-page arrays for ``n`` pages (doubling)."""
        if n > len(self._page_item):
            cap = max(64, 2 * len(self._page_item), n)
            self._page_item = np.resize(self._page_item, cap)
            self._page_no = np.resize(self._page_no, cap)

    def _prepare(
        self,
        item_id: str,
        text_or_fingerprint: str | Fingerprint | PhraseFingerprint,
        html: bool | None,
        phrase: PhraseOption,
    ) -> tuple[Fingerprint, str | None, PhraseFingerprint | None]:
        """The fingerprint of an item to add (its text, if given one, and its phrase, if it is one),
        checked against this index."""
        text: str | None = None
        pfp = phrase if isinstance(phrase, PhraseFingerprint) else None
        if isinstance(text_or_fingerprint, str) and looks_like_phrase_fingerprint(text_or_fingerprint):
            text_or_fingerprint = PhraseFingerprint.parse(text_or_fingerprint)
        if isinstance(text_or_fingerprint, str) and looks_like_fingerprint(text_or_fingerprint):
            text_or_fingerprint = Fingerprint.parse(text_or_fingerprint)
        if isinstance(text_or_fingerprint, PhraseFingerprint):
            pfp = text_or_fingerprint
            empty = np.zeros(0, dtype=np.uint64)
            fp = Fingerprint(self.params, empty, empty.astype(np.int64), 0)
        elif isinstance(text_or_fingerprint, Fingerprint):
            fp = text_or_fingerprint
            if fp.params != self.params:
                raise ParameterMismatchError(self.params, fp.params, what=f"item {item_id!r}")
        else:
            text = text_or_fingerprint
            fp = fingerprint(
                text,
                key=self._hashing_key(),
                k=self.params.k,
                window=self.params.window,
                html=html,
                allow_short=phrase is not False,
            )
            if pfp is None and (phrase is True or (phrase is None and is_short(fp, self.match_params))):
                try:
                    check_phrase_text(text, f"item {item_id!r}", html=html)
                    pfp = phrase_fingerprint(text, key=self._hashing_key(), html=html)
                except NoTokenError as exc:
                    raise NoTokenError(f"item {item_id!r}") from exc
        if phrase is True and pfp is None:
            raise InputError(f"item {item_id!r}: a phrase is added from its text or its phrase fingerprint")
        if pfp is not None and pfp.params != self._phrases.params:
            raise ParameterMismatchError(self._phrases.params, pfp.params, what=f"phrase of item {item_id!r}")
        _check_indexable(fp, item_id)  # before anything changes: a refused item leaves no trace
        return fp, text, pfp

    def _insert(
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
        idx = self._names.append(bank, item_id)
        if pfp is not None:
            self._phrases.add(idx, pfp, only=only)
            self._phrase_mask = None
        self._n_present += 1
        self._grow_items(idx + 1)
        n_pages = max(1, -(-fp.n_tokens // _postings.PAGE))
        first_page = self._n_pages
        self._grow_pages(first_page + n_pages)
        self._page_item[first_page : first_page + n_pages] = idx
        self._page_no[first_page : first_page + n_pages] = np.arange(n_pages, dtype=np.uint32)
        self._item_page[idx] = first_page
        self._n_pages += n_pages
        keep = _matching.first_repeats(fp.hashes, MAX_REPEATS)
        if only:  # reported as a phrase only: its postings would never be read
            keep[:] = False
        hashes, positions = fp.hashes[keep], fp.positions[keep]
        self._nfp[idx] = len(hashes)
        self._ntok[idx] = fp.n_tokens
        self._alive[idx] = True
        if text is not None and self.keep_text:
            self._texts[idx] = (text, html)
        positions = positions.astype(np.int64)
        self._pending.append(
            (
                _postings.mix(hashes),
                (first_page + (positions >> _postings.PAGE_BITS)).astype(np.uint32),
                (positions & (_postings.PAGE - 1)).astype(np.uint16),
            )
        )
        self._families.add(idx, (bank, item_id), [(bank, other) for other in links])

    def remove(self, item_id: str, *, bank: str = DEFAULT_BANK) -> None:
        """Remove an item; raises ``UnknownItemError`` if it is not there."""
        idx = self._names.number(bank, item_id)
        if idx is None:
            raise UnknownItemError(bank, item_id)
        self._names.remove(idx)
        self._n_present -= 1
        self._alive[idx] = False
        self._families.remove(idx)
        self._texts.pop(idx, None)
        self._phrase_spans.pop(idx, None)
        self._dead_postings += int(self._nfp[idx])
        self._allowed_cache.clear()
        self._flush()
        total = len(self._main) + len(self._delta)
        dead_slots = len(self._names) - self._n_present
        if (total and self._dead_postings * 4 > total) or dead_slots > max(1024, self._n_present):
            self._compact()

    # ------------------------------------------------------------------------------------- maintenance
    def _flush(self) -> None:
        self._phrases.prepare()
        if len(self._phrases):
            self._phrase_items()  # built now, so that queries only read it
        if not self._pending:
            return
        x = np.concatenate([p[0] for p in self._pending])
        refs = np.concatenate([p[1] for p in self._pending])
        pos = np.concatenate([p[2] for p in self._pending])
        self._pending.clear()
        self._delta.add(x, refs, pos)
        # A mapped snapshot stays shared: changes stay in the delta until it is as large as the snapshot.
        limit = len(self._main) if self._main.hi is None else len(self._main) // 8
        if len(self._delta) > max(1 << 16, limit):
            self._merge_delta()

    def _merge_delta(self) -> None:
        """Fold the delta into the main level (linear in both: it happens when the delta is a fraction of
        the main level, so its cost per posting is bounded)."""
        if len(self._delta):
            self._main = _postings.merge(self._main, *self._delta.postings())
            self._delta = _delta.Delta()

    def flush(self) -> None:
        """Merge pending additions into the searchable postings now (a query otherwise does it first).

        Afterwards, until the next change, a query only reads the index, so queries may share it.
        """
        self._flush()

    def compact(self) -> None:
        """Merge pending additions and drop removed items now (it otherwise happens when worthwhile).

        Afterwards, until the next change, queries and ``save`` only read the index.
        """
        self._compact()

    def _compact(self) -> None:
        """Merge the delta, drop dead items' postings and renumber the live items 0..n-1 in order added."""
        self._flush()
        self._merge_delta()
        n = len(self._names)
        if n == self._n_present:
            return
        live = np.flatnonzero(self._alive[:n])
        renumber = np.full(n, -1, dtype=np.int64)
        renumber[live] = np.arange(len(live))
        pages = self._n_pages
        live_pages = np.flatnonzero(self._alive[self._page_item[:pages]])
        renumber_page = np.full(max(1, pages), -1, dtype=np.int64)
        renumber_page[live_pages] = np.arange(len(live_pages))
        keep = renumber_page[self._main.refs] >= 0
        self._main = _postings.select(self._main, keep, renumber_page)
        self._page_item = renumber[self._page_item[live_pages]].astype(np.uint32)
        self._page_no = self._page_no[live_pages]
        self._n_pages = len(live_pages)
        self._item_page = renumber_page[self._item_page[live]]
        self._names = self._names.select(live)
        self._nfp, self._ntok = self._nfp[live], self._ntok[live]
        self._alive = np.ones(len(live), dtype=bool)
        self._texts = {int(renumber[old]): held for old, held in self._texts.items()}
        self._families.renumber(renumber)
        self._phrases.select(renumber)
        self._phrase_mask = None
        self._phrase_spans = {}
        self._dead_postings = 0
        self._allowed_cache.clear()

    def _allowed(self, banks: tuple[str, ...] | None) -> np.ndarray:
        """Which item numbers a search of ``banks`` may report; cached, and extended (not rebuilt) when
        items were added since, in an array that doubles as it fills: a query after each addition costs
        the new items, not the bank.  An empty array means all of them (every bank, no item removed): the
        matching code then reads no mask at all."""
        n = len(self._names)
        if banks is None and self._n_present == n:
            return _ALL_ALLOWED
        allowed, start = self._allowed_cache.get(banks, (_ALL_ALLOWED, 0))
        if start < n:
            tail = self._alive[start:n].copy()
            if banks is not None:
                wanted = np.zeros(len(self._names.banks) + 1, dtype=bool)
                wanted[[c for c in map(self._names.bank_code, banks) if c is not None]] = True
                tail &= wanted[self._names.bank_of[start:n]]
            if len(allowed) < n:
                allowed = np.resize(allowed, max(64, 2 * len(allowed), n))  # the first ``start`` kept
            allowed[start:n] = tail
            self._allowed_cache[banks] = (allowed, n)
        return allowed[:n]

    # ---------------------------------------------------------------------------------------- matching
    def match(
        self,
        text: str,
        *,
        banks: Iterable[str] | None = None,
        limit: int | None = None,
        html: bool | None = None,
        query: str | None = None,
        per_family: bool = True,
    ) -> list[Match]:
        """Banked items found in ``text``, best first.  ``banks`` restricts the search; ``query`` is copied
        into each ``Match.query`` to name the query.  Text too short to fingerprint matches nothing.

        Each match names its copy family and how many versions it has; with ``per_family`` (the default)
        only the best-matching version of each family is reported, else every version."""
        found: list[Match] = []
        if not len(self._phrases) or self.n_fingerprints:  # a bank of phrases only: no text to look for
            fp = fingerprint(
                text,
                key=self._hashing_key(),
                k=self.params.k,
                window=self.params.window,
                html=html,
                allow_short=True,
            )
            found = self.match_fingerprint(fp, banks=banks, limit=limit, query=query, per_family=per_family)
        if not len(self._phrases):
            return found
        phrases = self._phrase_matches([text], html, banks, [query])[0]
        return _merged(found, phrases, limit)

    def match_fingerprint(
        self,
        fp: Fingerprint,
        *,
        banks: Iterable[str] | None = None,
        limit: int | None = None,
        query: str | None = None,
        per_family: bool = True,
    ) -> list[Match]:
        """Like ``match`` for a fingerprint.  Spans carry query offsets only when ``fp`` was made from text
        (a parsed fingerprint has no character offsets, so its matches have no spans)."""
        if fp.params != self.params:
            raise ParameterMismatchError(self.params, fp.params, what="query")
        if len(fp) == 0 or not self._n_present:
            return []
        items, qc, ic, segs = self._results(fp, banks)
        found = self._matches(fp, items, qc, ic, segs, limit=limit, query=query, per_family=per_family)
        starts = np.array([0, len(fp)], dtype=np.int64)
        return self._with_quotes(
            fp.hashes, fp.positions, starts, lambda _: fp, banks, [found], items, limit, [query], per_family
        )[0]

    def match_many(
        self,
        texts: Sequence[str],
        *,
        banks: Iterable[str] | None = None,
        limit: int | None = None,
        html: bool | None = None,
        queries: Sequence[str | None] | None = None,
        per_family: bool = True,
    ) -> list[list[Match]]:
        """``match`` of each of ``texts`` (``queries[i]`` names text ``i``): the texts are fingerprinted
        together (``fingerprint_many``) and searched in one compiled call, which is what makes a stream of
        short posts fast; the answers are those of ``match`` one by one."""
        from ..fingerprints.batch import fingerprint_many

        if len(self._phrases) and not self.n_fingerprints:  # a bank of phrases only: no text to look for
            phrases = self._phrase_matches(texts, html, banks, queries)
            return [_merged([], p, limit) for p in phrases]
        batch, tokens = fingerprint_many(
            texts, key=self._hashing_key(), k=self.params.k, window=self.params.window, html=html
        )
        offsets = batch.offsets

        def query_fp(i: int) -> Fingerprint:
            a, b = offsets[i], offsets[i + 1]
            return Fingerprint(
                batch.params, batch.hashes[a:b], batch.positions[a:b], int(batch.n_tokens[i]), tokens[i]
            )

        found = self._match_arrays(
            batch.hashes, batch.positions, offsets, query_fp, banks, limit, queries, per_family
        )
        if not len(self._phrases):
            return found
        phrases = self._phrase_matches(texts, html, banks, queries)
        return [_merged(f, p, limit) for f, p in zip(found, phrases, strict=True)]

    def match_fingerprints(
        self,
        fps: Sequence[Fingerprint | PhraseFingerprint],
        *,
        banks: Iterable[str] | None = None,
        limit: int | None = None,
        queries: Sequence[str | None] | None = None,
        per_family: bool = True,
    ) -> list[list[Match]]:
        """``match_fingerprint`` of each of ``fps``, searched in one compiled call.  A ``PhraseFingerprint``
        finds the phrases with the same folded letters (``Match.kind == "phrase"``, no spans)."""
        if queries is not None and len(queries) != len(fps):
            raise ValueError(f"{len(fps)} queries but {len(queries)} query names")
        if any(isinstance(fp, PhraseFingerprint) for fp in fps):
            return self._match_mixed(fps, banks, limit, queries, per_family)
        return self._match_text_fingerprints(
            cast(Sequence[Fingerprint], fps), banks, limit, queries, per_family
        )

    def _match_mixed(
        self,
        fps: Sequence[Fingerprint | PhraseFingerprint],
        banks: Iterable[str] | None,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        """``match_fingerprints`` of a list holding phrase fingerprints."""
        names = list(queries) if queries is not None else [None] * len(fps)
        text_at = [i for i, fp in enumerate(fps) if isinstance(fp, Fingerprint)]
        phrase_at = [i for i, fp in enumerate(fps) if isinstance(fp, PhraseFingerprint)]
        out: list[list[Match]] = [[] for _ in fps]
        text_fps = [cast(Fingerprint, fps[i]) for i in text_at]
        for i, found in zip(
            text_at,
            self._match_text_fingerprints(text_fps, banks, limit, [names[i] for i in text_at], per_family),
            strict=True,
        ):
            out[i] = found
        self._flush()
        allowed = self._allowed(None if banks is None else tuple(sorted(set(banks))))
        items = self._phrases.match_fingerprints([cast(PhraseFingerprint, fps[i]) for i in phrase_at])
        for i, numbers in zip(phrase_at, items, strict=True):
            live = [n for n in numbers if not len(allowed) or allowed[n]]
            out[i] = _merged([], [self._phrase_match(n, (), 1.0, names[i]) for n in live], limit)
        return out

    def _match_text_fingerprints(
        self,
        fps: Sequence[Fingerprint],
        banks: Iterable[str] | None,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        for fp in fps:
            if fp.params != self.params:
                raise ParameterMismatchError(self.params, fp.params, what="query")
        lengths = np.fromiter((len(fp) for fp in fps), dtype=np.int64, count=len(fps))
        starts = np.zeros(len(fps) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        hashes = np.concatenate([fp.hashes for fp in fps]) if fps else np.zeros(0, np.uint64)
        positions = np.concatenate([fp.positions for fp in fps]) if fps else np.zeros(0, np.int64)
        return self._match_arrays(
            hashes, positions, starts, fps.__getitem__, banks, limit, queries, per_family
        )

    def _match_arrays(
        self,
        hashes: np.ndarray,
        positions: np.ndarray,
        starts: np.ndarray,
        query_fp: Callable[[int], Fingerprint],
        banks: Iterable[str] | None,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        """Matches of many queries given as flat arrays (query ``i`` is ``[starts[i], starts[i + 1])``);
        ``query_fp(i)`` is asked only for the queries that match something."""
        n = len(starts) - 1
        if queries is not None and len(queries) != n:
            raise ValueError(f"{n} queries but {len(queries)} query names")
        out: list[list[Match]] = [[] for _ in range(n)]
        if n == 0 or not self._n_present or starts[-1] == 0:
            return out
        r_query, r_item, r_qm, r_im, _r_ev, segs = _matching.match_batch(
            self._kernel_index(banks, None), hashes, positions, starts, self._kernel_params(-1)
        )
        if len(r_query) == 0:  # most queries of a moderation stream
            return self._with_quotes(
                hashes, positions, starts, query_fp, banks, out, r_item, limit, queries, per_family
            )
        qc = r_qm / np.maximum(1, np.diff(starts))[r_query]
        ic = r_im / np.maximum(1, self._nfp[r_item])
        bounds = np.searchsorted(r_query, np.arange(n + 1))
        s_bounds = np.searchsorted(segs[:, 0], bounds)
        for i in np.flatnonzero(np.diff(bounds)).tolist():
            a, b = int(bounds[i]), int(bounds[i + 1])
            mine = segs[s_bounds[i] : s_bounds[i + 1]]
            mine[:, 0] -= a
            out[i] = self._matches(
                query_fp(i),
                r_item[a:b],
                qc[a:b],
                ic[a:b],
                mine,
                limit=limit,
                query=None if queries is None else queries[i],
                per_family=per_family,
            )
        strict = [r_item[bounds[i] : bounds[i + 1]] for i in range(n)]
        return self._with_quotes(
            hashes, positions, starts, query_fp, banks, out, strict, limit, queries, per_family
        )

    def _with_quotes(
        self,
        hashes: np.ndarray,
        positions: np.ndarray,
        starts: np.ndarray,
        query_fp: Callable[[int], Fingerprint],
        banks: Iterable[str] | None,
        out: list[list[Match]],
        strict: Sequence[np.ndarray] | np.ndarray,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        """``out`` with the quotes (``quotes``) of each query added: items not among its long-text
        results ``strict[i]`` (all of them for each query when one array), best first, at most ``limit``."""
        qp = self.match_params.quotes
        if qp is None or not self._n_present or starts[-1] == 0:
            return out
        if not self._texts and self.text_lookup is None and qp.min_tokens >= self._chain_tokens():
            return out  # fingerprints alone prove no run the chain rule misses (docs/matching.md#quotes)
        r_query, r_item, _, _, _, segs = _matching.match_batch(
            self._kernel_index(banks, None), hashes, positions, starts, self._kernel_params(-1, quotes=True)
        )
        bounds = np.searchsorted(r_query, np.arange(len(starts)))
        s_bounds = np.searchsorted(segs[:, 0], bounds)
        skip = self._phrase_items() if len(self._phrases) else None
        allowed = self._allowed(None if banks is None else tuple(sorted(set(banks))))

        def common(held: np.ndarray) -> np.ndarray:
            return self._family_counts(held, allowed) > self.match_params.common_df

        for i in np.flatnonzero(np.diff(bounds)).tolist():
            fp = query_fp(i)
            a, b = int(bounds[i]), int(bounds[i + 1])
            held = strict if isinstance(strict, np.ndarray) else strict[i]
            taken = set(self._families.labels[held].tolist() if per_family else held.tolist())
            items = r_item[a:b]
            labels = self._families.labels[items]
            ok = ~np.isin(labels if per_family else items, list(taken))
            if skip is not None:
                ok &= ~skip[items]
            mine = segs[s_bounds[i] : s_bounds[i + 1]]
            mine = mine[ok[mine[:, 0] - a]]
            mine[:, 0] -= a
            added = []
            found = quotes.find(
                items,
                mine,
                fp,
                k=self.params.k,
                params=qp,
                item_tokens=self._item_tokens,
                common=common,
                groups=labels if per_family else None,
            )
            for idx, run, span in found:
                family = int(self._families.labels[idx]) if per_family else idx
                score = run.tokens / max(1, min(fp.n_tokens, int(self._ntok[idx])))
                if family in taken or score < self.match_params.min_score:
                    continue
                taken.add(family)
                bank, item_id = self._names[idx]
                earliest = self._families.family_of(idx)
                added.append(
                    Match(
                        bank,
                        item_id,
                        score,
                        run.tokens / max(1, fp.n_tokens),
                        run.tokens / max(1, int(self._ntok[idx])),
                        (span,),
                        None if queries is None else queries[i],
                        family=item_id if earliest == idx else self._names[earliest][1],
                        family_size=self._families.size(idx),
                        kind="quote",
                        quote=QuoteEvidence(run.tokens, run.bits),
                    )
                )
            if added:
                ranked = sorted(out[i] + added, key=lambda m: (-m.score, m.bank, m.item_id))
                out[i] = ranked if limit is None else ranked[:limit]
        return out

    def _chain_tokens(self) -> int:
        """The chain rule's minimum run of query tokens (``MatchParams.min_tokens``)."""
        return self.match_params.min_tokens_for(self.params.guarantee)

    def _item_tokens(self, idx: int) -> Tokens | None:
        """The tokens of item ``idx``'s text, or None without it (or with a text not of its fingerprint).
        The last few are kept, each with its text: a number reused after compaction holds another text."""
        held = self._item_text(idx)
        if held is None:
            return None
        cache = self._token_cache
        cached = cache.get(idx)
        if cached is not None and cached[0] == held[0]:
            tokens = cached[1]
        else:
            tokens = tokenize(held[0], html=held[1])
            if sum(len(t) for _, t in list(cache.values())) + len(tokens) > _TOKEN_CACHE:
                cache.clear()  # list(): queries of other threads may change it meanwhile
            cache[idx] = (held[0], tokens)
        return tokens if len(tokens) == int(self._ntok[idx]) else None

    def _family_counts(self, hashes: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """How many copy families among the live ``allowed`` items (empty: all) hold each of ``hashes``."""
        out = np.zeros(len(hashes), dtype=np.int64)
        found: list[list[np.ndarray]] = [[] for _ in range(len(hashes))]
        main, delta = self._main, self._delta
        lo, hi = _matching.lookup(main.bits, main.offsets, main.tags, hashes.astype(np.uint64))
        for j in np.flatnonzero(hi > lo).tolist():
            found[j].append(self._page_item[main.refs[lo[j] : hi[j]]].astype(np.int64))
        d_lo, d_hi = delta.ranges(hashes)
        for r, j in zip(*np.nonzero(d_hi > d_lo), strict=True):
            found[j].append(self._page_item[delta.refs[d_lo[r, j] : d_hi[r, j]]].astype(np.int64))
        for j, parts in enumerate(found):
            if parts:
                items = np.concatenate(parts)
                items = items[self._alive[items] & (allowed[items] if len(allowed) else True)]
                out[j] = len(np.unique(self._families.labels[items]))
        return out

    def _matches(
        self,
        fp: Fingerprint,
        items: np.ndarray,
        qc: np.ndarray,
        ic: np.ndarray,
        segs: np.ndarray,
        *,
        limit: int | None,
        query: str | None,
        per_family: bool,
    ) -> list[Match]:
        """The reported matches of one query from the kernel's results (items, containments, chains)."""
        if len(items) == 0:
            return []
        score = np.maximum(qc, ic)
        ok = score >= self.match_params.min_score
        if len(self._phrases):  # an item kept as a phrase is reported as a phrase only
            ok &= ~self._phrase_items()[items]
        found = np.flatnonzero(ok)
        if len(found) > 1:
            if per_family:  # the best version of each family: by score, then earliest added
                family = self._families.labels[items[found]]
                order = np.lexsort((items[found], -score[found], family))
                first = np.ones(len(order), dtype=bool)
                first[1:] = family[order[1:]] != family[order[:-1]]
                found = found[order[first]]
            ranked = sorted(found.tolist(), key=lambda r: (-score[r], *self._names[int(items[r])]))
        else:
            ranked = found.tolist()
        if limit is not None:
            ranked = ranked[:limit]
        chains = segs.tolist()
        by_result: dict[int, list[list[int]]] = {}
        for chain in chains:  # chains come per result, in order
            by_result.setdefault(chain[0], []).append(chain)
        matches = []
        for r in ranked:
            idx = int(items[r])
            bank, item_id = self._names[idx]
            earliest = self._families.family_of(idx)
            spans = self._spans(idx, fp, by_result.get(r, []))
            matches.append(
                Match(
                    bank,
                    item_id,
                    float(score[r]),
                    float(qc[r]),
                    float(ic[r]),
                    spans,
                    query,
                    family=item_id if earliest == idx else self._names[earliest][1],
                    family_size=self._families.size(idx),
                )
            )
        return matches

    def _phrase_items(self) -> np.ndarray:
        """Which item numbers are kept as phrases, and so are reported as phrases only: never through the
        long-text rule, whose chain could hold part of their words only (a short item's one fingerprint of
        ``at the Berlin Film Festival`` is not the item ``is being shown at the Berlin Film Festival``)."""
        mask = self._phrase_mask
        if mask is None or len(mask) < len(self._names):
            mask = np.zeros(len(self._names), dtype=bool)
            numbers = self._phrases.items()
            mask[numbers[numbers < len(mask)]] = True
            self._phrase_mask = mask
        return mask

    def _phrase_matches(
        self,
        texts: Sequence[str],
        html: bool | None,
        banks: Iterable[str] | None,
        queries: Sequence[str | None] | None,
    ) -> list[list[Match]]:
        """The phrases found in each of ``texts``, as matches."""
        self._flush()
        allowed = self._allowed(None if banks is None else tuple(sorted(set(banks))))
        found = self._phrases.match_many(texts, html=html, allowed=allowed)
        return [
            [
                self._phrase_match(pm.item, pm.spans, pm.coverage, None if queries is None else queries[i])
                for pm in pms
            ]
            for i, pms in enumerate(found)
        ]

    def _phrase_match(
        self, idx: int, spans: Sequence[tuple[int, int]], coverage: float, query: str | None
    ) -> Match:
        """The match of phrase item ``idx`` found at ``spans`` of the query."""
        bank, item_id = self._names[idx]
        item_start, item_end = self._phrase_span(idx) if spans else (None, None)
        earliest = self._families.family_of(idx)
        return Match(
            bank,
            item_id,
            1.0,
            coverage,
            1.0,
            tuple(Span(a, b, item_start, item_end) for a, b in spans),
            query,
            family=item_id if earliest == idx else self._names[earliest][1],
            family_size=self._families.size(idx),
            kind="phrase",
        )

    def _phrase_span(self, idx: int) -> tuple[int | None, int | None]:
        """Where phrase item ``idx``'s tokens run in its text (None without its text); kept once found."""
        span = self._phrase_spans.get(idx)
        if span is None:
            span = (None, None)
            held = self._item_text(idx)
            if held is not None:
                toks = phrase_tokens(held[0], html=held[1])
                if len(toks):
                    span = (int(toks.starts[0]), int(toks.ends[-1]))
            self._phrase_spans[idx] = span
        return span

    def is_phrase(self, item_id: str, *, bank: str = DEFAULT_BANK) -> bool:
        """True when the item is matched as a phrase."""
        idx = self._names.number(bank, item_id)
        if idx is None:
            raise UnknownItemError(bank, item_id)
        return bool(np.any(self._phrases.items() == idx))

    @property
    def n_phrases(self) -> int:
        """Number of live items kept as phrases."""
        numbers = self._phrases.items()
        return int(np.count_nonzero(self._alive[numbers])) if len(numbers) else 0

    def versions_of(
        self,
        fp: Fingerprint,
        *,
        bank: str = DEFAULT_BANK,
        limit: int = MAX_LINKS,
        added_before: str | None = None,
    ) -> list[str]:
        """Ids of the items of ``bank`` that ``fp`` is a version of (``families.is_version``), best first
        (largest smaller containment, then earliest added), at most ``limit``: the links an item added
        with this fingerprint would get.  ``added_before`` names an item of ``bank``: only items added
        before it are considered (how the items of one batch link to each other)."""
        if fp.params != self.params:
            raise ParameterMismatchError(self.params, fp.params, what="item")
        if len(fp) == 0 or not self._n_present:
            return []
        before = None if added_before is None else self._names.number(bank, added_before)
        # Versions are looked for among the earliest holders of each fingerprint only: a family of 10,000
        # versions links its next one after chaining 64 of them, not 10,000.
        items, qc, ic, _ = self._results(fp, (bank,), before=before, max_anchors=_LINK_ANCHORS)
        if len(items) == 0:
            return []
        both = np.minimum(qc, ic)
        ok = np.flatnonzero(both >= VERSION_CONTAINMENT)
        ok = ok[np.lexsort((items[ok], -both[ok]))][:limit]
        return [self._names[i][1] for i in items[ok].tolist()]

    def _results(
        self,
        fp: Fingerprint,
        banks: Iterable[str] | None,
        *,
        before: int | None = None,
        max_anchors: int = -1,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every item (numbered below ``before``) with evidence in ``fp``: item numbers, query and item
        containments, kept chains."""
        r_item, r_qm, r_im, _r_ev, segs = _matching.match_query(
            self._kernel_index(banks, before), fp.hashes, fp.positions, self._kernel_params(max_anchors)
        )
        if not len(r_item):
            return r_item, r_item, r_item, segs
        return r_item, r_qm / len(fp), r_im / np.maximum(1, self._nfp[r_item]), segs

    def _kernel_index(self, banks: Iterable[str] | None, before: int | None) -> tuple[object, ...]:
        """The index's side of a kernel call: postings, pages, allowed items, families, scratch."""
        self._flush()
        allowed = self._allowed(None if banks is None else tuple(sorted(set(banks))))
        n = len(self._names)
        main, delta = self._main, self._delta
        return (
            main.bits,
            main.offsets,
            main.tags,
            main.refs,
            main.pos,
            *delta.kernel(),
            self._page_item,
            self._page_no,
            allowed,
            n if before is None else min(before, n),
            self._families.labels,  # as long as the items at least (every item is in a family)
            self._seen(n),
            self._nfp,
        )

    def _kernel_params(self, max_anchors: int, *, quotes: bool = False) -> tuple[object, ...]:
        """The matching parameters of a kernel call; ``quotes``: of the pass that finds quote candidates
        (every chain with a shared fingerprint of weight 1, ``copytrace.index.quotes``)."""
        mp = self.match_params
        g = self.params.guarantee
        return (
            float(mp.common_df),
            mp.max_postings,
            MAX_REPEATS,
            max_anchors,
            mp.gap_for(g),
            mp.skew_for(g),
            1.0 if quotes else mp.min_evidence,
            0 if quotes else mp.min_tokens_for(g) - self.params.k,
            g,
        )

    # --------------------------------------------------------------------------------------- families
    def links(self, item_id: str, *, bank: str = DEFAULT_BANK) -> list[str]:
        """Ids of the items of ``bank`` that the item was linked to as a version when it was added."""
        if self._names.number(bank, item_id) is None:
            raise UnknownItemError(bank, item_id)
        return [str(name[1]) for name in self._families.links((bank, item_id))]  # type: ignore[index]

    def family(self, item_id: str, *, bank: str = DEFAULT_BANK) -> tuple[str, int]:
        """The item's copy family: (id of its earliest-added member, number of versions present)."""
        idx = self._names.number(bank, item_id)
        if idx is None:
            raise UnknownItemError(bank, item_id)
        return self._names[self._families.family_of(idx)][1], self._families.size(idx)

    def n_families(self, bank: str | None = None) -> int:
        """Number of copy families among the items (of ``bank``)."""
        present = np.flatnonzero(self._alive[: len(self._names)])
        if bank is not None:
            code = self._names.bank_code(bank)
            present = present[self._names.bank_of[present] == code] if code is not None else present[:0]
        return self._families.count(present.tolist())

    def _item_text(self, idx: int) -> tuple[str, bool | None] | None:
        held = self._texts.get(idx)
        if held is not None:
            return held
        if self.text_lookup is not None:
            text = self.text_lookup(*self._names[idx])
            if text is not None:
                return text, None
        return None

    def _spans(self, idx: int, fp: Fingerprint, chains: list[list[int]]) -> tuple[Span, ...]:
        if fp.tokens is None or not chains:
            return ()
        item_tokens = None
        held = self._item_text(idx)
        if held is not None:
            item_tokens = tokenize(held[0], html=held[1])
        if item_tokens is not None and len(item_tokens) != int(self._ntok[idx]):
            item_tokens = None  # text does not belong to this fingerprint: report query offsets only
        return evidence_spans(chains, self.params.k, fp.tokens, item_tokens)

    # ------------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str] | BinaryIO, *, origin: dict[str, Any] | None = None) -> None:
        """Write the index as a snapshot (``copytrace.index.snapshot``): to a path (through a temporary file,
        then renamed, so a crash never leaves half an index) or to a binary stream.  ``load`` maps it.
        ``origin`` records what the index was derived from (``load`` checks it)."""
        self._compact()
        n, pages, main = len(self._names), self._n_pages, self._main
        meta, arrays = snapshot_contents.contents(
            params=self.params,
            bits=main.bits,
            postings={"offsets": main.offsets, "tags": main.tags, "refs": main.refs, "pos": main.pos},
            page_item=self._page_item[:pages],
            page_no=self._page_no[:pages],
            item_page=self._item_page[:n],
            nfp=self._nfp[:n],
            ntok=self._ntok[:n],
            names=self._names,
            families=self._families,
            texts=self._texts,
            phrases=self._phrases,
            origin=origin,
        )
        snapshot.write(path, FORMAT, meta, arrays)  # type: ignore[arg-type]  # no placeholders here

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | BinaryIO,
        *,
        key: Key | str | bytes | None = None,
        match_params: MatchParams = DEFAULT_MATCH_PARAMS,
        text_lookup: TextLookup | None = None,
        origin: dict[str, Any] | None = None,
    ) -> Index:
        """Open an index written by ``save``: a path is memory-mapped, not read (its postings stay in the page
        cache, shared by every process that opens it); changes made afterwards are kept in memory.
        ``key`` must be the key it was built with; without it, an index of keyed fingerprints matches
        fingerprints only (see ``for_params``).  Raises ``SnapshotError`` for a file that is not a whole,
        valid snapshot (or a symbolic link, FIFO or folder), and its ``StaleSnapshotError`` when ``origin``
        is given and the snapshot was not saved with exactly that origin."""
        meta, arrays = snapshot.read(path, FORMAT, origin=origin)
        try:
            params = FingerprintParams.parse(meta["params"])
        except (KeyError, FingerprintFormatError) as exc:
            raise SnapshotError(f"{_name(path)} has bad parameters: {exc}") from exc
        if key is None and params.key_id != PUBLIC_KEY.key_id:
            index = cls.for_params(params, match_params=match_params, text_lookup=text_lookup)
        else:
            key_ = as_key(key)
            if key_.key_id != params.key_id:
                raise ParameterMismatchError(params, f"key {key_.key_id}", what="index key")
            index = cls(
                key=key_,
                k=params.k,
                window=params.window,
                match_params=match_params,
                text_lookup=text_lookup,
            )
        try:
            index._open(meta, arrays)
        except (KeyError, TypeError, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"{_name(path)} is corrupt: {exc}") from exc
        return index

    def _open(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Take the arrays of a snapshot as they are (mapped arrays stay shared), after checking every bound
        the matching code relies on: a corrupt snapshot is refused, never read out of bounds."""
        snapshot_contents.check(meta, arrays)
        n, pages, bits = int(meta["n_items"]), int(meta["n_pages"]), int(meta["bits"])
        self._main = _postings.Level(
            bits, arrays["offsets"], arrays["tags"], arrays["refs"], arrays["pos"], None
        )
        self._page_item, self._page_no, self._n_pages = arrays["page_item"], arrays["page_no"], pages
        self._item_page, self._nfp, self._ntok = arrays["item_page"], arrays["nfp"], arrays["ntok"]
        self._alive = np.ones(n, dtype=bool)
        self._names = ItemNames.from_arrays(list(meta["banks"]), arrays)
        self._n_present = n
        self._texts = {int(i): (str(t), h) for i, (t, h) in meta["texts"].items()}
        self._families.restore(arrays["labels"], snapshot_contents.links(meta, arrays, self._names))
        try:
            phrase_params = PhraseParams.parse(meta["phrase_params"])
        except FingerprintFormatError as exc:
            raise ValueError(str(exc)) from exc
        if phrase_params.key_id != self.params.key_id:
            raise ValueError(
                f"phrases made with key {phrase_params.key_id}, postings with {self.params.key_id}"
            )
        self._phrases = PhraseTable.from_arrays(phrase_params, self._key, arrays, n)
        self._phrase_mask = None


def _merged(text: list[Match], phrases: list[Match], limit: int | None) -> list[Match]:
    """Text and phrase matches of one query, best first (score, then bank and item id), at most ``limit``;
    an item found both ways is reported once, as a phrase."""
    if not phrases:
        return text
    found = {(m.bank, m.item_id) for m in phrases}
    text = [m for m in text if (m.bank, m.item_id) not in found]
    out = sorted(text + phrases, key=lambda m: (-m.score, m.bank, m.item_id))
    return out if limit is None else out[:limit]
