"""The public ``Index``: banked items' fingerprints, searchable without scanning the bank.

A thin class over one module per question: what an added item becomes (``_prepare``); what the index holds
(``_contents``: item names, pages, postings bucketed by hash in ``_postings`` — 10 bytes a stored
fingerprint, a lookup reads one bucket's tags — families and phrases); and how a query is answered
(``_search``: each held hash weighed by how many copy families hold it, the shared fingerprints of each
item chained in order by the compiled loops of ``_matching``, the items with enough evidence reported
(``MatchParams``); ``match_many`` does it for many texts in one compiled call).

Additions go to a delta of sorted runs that merge as they grow (``_delta``: adding an item costs
``O(log n)`` amortised, however many were added before it), merged into the main level when it grows past
an eighth of it, so adding one item never re-sorts the index; removals mark the item dead and are
compacted away in bulk, renumbering the live items, so an index that keeps adding and removing items holds
memory for its live items only.  ``save`` writes a snapshot (``copytrace.index.snapshot``) that
``load`` maps: processes that load one file share its pages.  Layout and design: ``docs/index.md``.

An item too short for the long-text evidence rule (``phrase_rules.is_short``), or added with ``phrase=True``
(an item of a phrase bank, then matched as a phrase only), is also kept as a *phrase* (``copytrace.phrases``):
it is found, with its evasive spellings, wherever its folded letters occur from a token start to a token end
of a query, and reported with ``Match.kind == "phrase"``.

>>> index = Index()
>>> fp = index.add("speech", "We will continue our endeavors for the victory of the resistance.")
>>> said = "they said: we will continue our endeavors for the victory of the resistance!"
>>> [m.item_id for m in index.match(said)]
['speech']
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ..errors import DuplicateItemError, FingerprintFormatError, ParameterMismatchError, UnknownItemError
from ..fingerprints.fingerprint import DEFAULT_K, DEFAULT_WINDOW, Fingerprint, FingerprintParams
from ..fingerprints.keys import PUBLIC_KEY, Key, as_key
from ..phrases import PhraseFingerprint, PhraseParams, PhraseTable
from . import snapshot, snapshot_contents
from ._contents import Contents, TextLookup
from ._file_level import FilePostings
from ._link_batch import link_batch
from ._phrase_matches import PhraseMatches, phrase_hits
from ._prepare import PhraseOption, check_batch, prepare
from ._search import LINK_ANCHORS, Search
from .families import MAX_LINKS
from .match import DEFAULT_MATCH_PARAMS, Match, MatchParams
from .snapshot import SnapshotError
from .snapshot_contents import FORMAT

if TYPE_CHECKING:
    from ..fingerprints.batch import FingerprintBatch

DEFAULT_BANK = "default"
FILE_MERGE_POSTINGS = 1 << 21
"""Postings added between two merges into the file of an index that keeps its postings in one."""
ADD_MANY_CHUNK = 4096
"""Items ``Index.add_many`` prepares (fingerprints, with their tokens) before it inserts and links them: what
bounds the memory of a call that adds millions."""

__all__ = ["DEFAULT_BANK", "Index", "PhraseOption", "TextLookup"]


def _name(path: object) -> str:
    return repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else "stream"


class Index:
    """Banked items' fingerprints, searchable by text.

    ``key`` (a ``Key`` or secret) keys every fingerprint the index makes and must match every fingerprint
    added to it.  ``keep_text`` keeps added texts in memory so that matches carry item spans; an index built
    from fingerprints alone can get texts from ``text_lookup(bank, item_id)``.  A lookup that reads from
    somewhere slow (a database) may also have a method ``prefetch(names)``, called with the ``(bank,
    item_id)`` of every item whose text a batch of queries is about to ask for, to read them in one go.
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
        params = FingerprintParams(k=k, window=window, key_id=self._key.key_id)
        self._contents = Contents(PhraseTable(self._key), keep_text=keep_text, text_lookup=text_lookup)
        self._search = Search(self._contents, params, match_params, self._key)

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
        index._key = PUBLIC_KEY if params.key_id == PUBLIC_KEY.key_id else None
        index._contents.phrases = PhraseTable(index._key, params=PhraseParams(key_id=params.key_id))
        index._search = Search(index._contents, params, match_params, index._key)
        return index

    @property
    def params(self) -> FingerprintParams:
        """The parameters of every fingerprint the index holds and makes."""
        return self._search.params

    @property
    def match_params(self) -> MatchParams:
        """The settings that decide what a query reports (``MatchParams``)."""
        return self._search.match_params

    @property
    def keep_text(self) -> bool:
        """Whether added texts are kept, so that matches carry item spans."""
        return self._contents.keep_text

    @property
    def text_lookup(self) -> TextLookup | None:
        """Where the texts of items added without one are found (``text_lookup(bank, item_id)``)."""
        return self._contents.text_lookup

    # ----------------------------------------------------------------------------------------- contents
    def __len__(self) -> int:
        return self._contents.n_present

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            item = (DEFAULT_BANK, item)
        if not isinstance(item, tuple) or len(item) != 2:
            return False
        return self._contents.names.number(*item) is not None

    def present(self, item_ids: Sequence[str], *, bank: str = DEFAULT_BANK) -> list[bool]:
        """Whether each of ``item_ids`` is an item of ``bank`` here: ``(bank, i) in index`` of each, for
        many ids at once."""
        return [n is not None for n in self._contents.names.numbers(bank, list(item_ids))]

    def items(self) -> Iterator[tuple[str, str]]:
        """(bank, item id) of every item, in the order added."""
        names = self._contents.names
        return names.iter_numbers(np.flatnonzero(self._contents.alive[: len(names)]))

    @property
    def n_fingerprints(self) -> int:
        """Number of stored fingerprints (postings) of live items."""
        return self._contents.n_fingerprints

    @property
    def nbytes(self) -> int:
        """Bytes held by the postings and the per-item and per-page arrays (texts and ids excluded; the top
        hash bits an index built in memory keeps to re-bucket as it grows excluded too)."""
        return self._contents.nbytes

    def _number(self, bank: str, item_id: str) -> int:
        """The number of item ``item_id`` of ``bank``; ``UnknownItemError`` when absent."""
        idx = self._contents.names.number(bank, item_id)
        if idx is None:
            raise UnknownItemError(bank, item_id)
        return idx

    def _prepare(
        self,
        item_id: str,
        text_or_fingerprint: str | Fingerprint | PhraseFingerprint,
        html: bool | None,
        phrase: PhraseOption,
    ) -> tuple[Fingerprint, str | None, PhraseFingerprint | None]:
        return prepare(
            item_id,
            text_or_fingerprint,
            html,
            phrase,
            key=self._key,
            params=self.params,
            phrase_params=self._contents.phrases.params,
            match_params=self.match_params,
        )

    # ------------------------------------------------------------------------------------------ changes
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
        rule (``phrase_rules.is_short``; found as a phrase, it is not reported again as text); ``True``
        always, and as a phrase only (an item of a phrase bank); ``False`` never; a ``PhraseFingerprint``
        gives the item's phrase (an item added from fingerprints).  ``phrase_only`` (default:
        ``phrase is True``) says whether the item is reported as a phrase only.  Text with no token at all
        raises ``NoTokenError`` (a ``TooShortError``).

        The item joins the copy family of the items of its bank it is a version of (``families``):
        ``links`` names them (ids in the same bank, as stored with the item); ``None`` finds them by matching
        the item against its bank first (``versions_of``).  ``links(bank, item_id)`` tells what was used.
        Raises ``DuplicateItemError`` if (bank, item_id) is present and ``ParameterMismatchError`` for a
        fingerprint made with other parameters or another key.
        """
        if self._contents.names.number(bank, item_id) is not None:
            raise DuplicateItemError(bank, item_id)
        fp, text, pfp = self._prepare(item_id, text_or_fingerprint, html, phrase)
        only = pfp is not None and (phrase is True if phrase_only is None else phrase_only)
        if links is None:
            links = [] if only else self.versions_of(fp, bank=bank)
        self._contents.insert(item_id, fp, text, bank, html, links, pfp, only)
        return fp

    def add_many(
        self,
        items: Iterable[tuple[str, str | Fingerprint]],
        *,
        bank: str = DEFAULT_BANK,
        html: bool | None = None,
        phrase: bool | None = None,
    ) -> int:
        """Add many items at once, each linked to its versions among the bank and the items before it, as
        ``add`` one by one would (``phrase`` as there); all or none are added.  Returns how many were added.

        The postings are merged once a chunk, where ``add`` one by one merges them before each match: use
        it to build a bank.  ``items`` may be a generator: they are read, fingerprinted, inserted and linked
        ``ADD_MANY_CHUNK`` at a time, and nothing of a chunk but what the index keeps outlives it, so the
        memory of a call is the index's plus one chunk's, however many items it adds (fingerprint the items
        with ``fingerprint_many`` first if their fingerprints are wanted too).  When an item is refused (an
        id repeated or present already, text with no token, a fingerprint of other parameters) or reading
        ``items`` fails, the items of the chunks inserted before it are removed again before the error is
        raised: the index holds the same items and families as before the call.

        >>> index = Index()
        >>> index.add_many((str(i), f"item number {i} of a generated bank") for i in range(3))
        3
        >>> from copytrace.errors import DuplicateItemError
        >>> try:
        ...     index.add_many([("3", "a new item"), ("0", "an id that is there already")])
        ... except DuplicateItemError as exc:
        ...     print(f"{exc.item_id!r} refused; items: {len(index)}")
        '0' refused; items: 3
        """
        first = len(self._contents.names)
        try:
            stream = iter(items)
            while chunk := list(itertools.islice(stream, ADD_MANY_CHUNK)):
                self._add_chunk(chunk, bank, html, phrase)
                del chunk  # its texts and fingerprints go before the next chunk is read
        except BaseException:
            self._roll_back(first)
            raise
        return len(self._contents.names) - first

    def _add_chunk(
        self,
        chunk: Sequence[tuple[str, str | Fingerprint]],
        bank: str,
        html: bool | None,
        phrase: bool | None,
    ) -> None:
        """``add_many`` of one chunk: every item prepared (and so checked) before any is inserted."""
        contents = self._contents
        prepared = []
        seen: set[str] = set()  # the ids of earlier chunks are in the index already
        for item_id, text_or_fingerprint in chunk:
            if item_id in seen or contents.names.number(bank, item_id) is not None:
                raise DuplicateItemError(bank, item_id)
            seen.add(item_id)
            prepared.append((item_id, *self._prepare(item_id, text_or_fingerprint, html, phrase)))
        for item_id, fp, text, pfp in prepared:
            contents.insert(item_id, fp, text, bank, html, (), pfp, phrase is True)
        for item_id, fp, _, _ in prepared:  # each against the items before it, families as formed so far
            if phrase is True:
                continue  # an item of a phrase bank is a family of its own
            found = self.versions_of(fp, bank=bank, added_before=item_id)
            number = contents.names.number(bank, item_id)
            if found and number is not None:
                contents.families.link(number, (bank, item_id), [(bank, other) for other in found])

    def _roll_back(self, first: int) -> None:
        """Remove the items numbered from ``first`` on (those a failed ``add_many`` inserted), all at once:
        their links go with them, so the families are those they were before, each re-derived once."""
        self._contents.remove_many(range(first, len(self._contents.names)))

    def add_phrases(
        self, items: Iterable[tuple[str, str, PhraseFingerprint | str]], *, phrase_only: bool = False
    ) -> None:
        """Give items already added (``(bank, item id, phrase fingerprint)``) their phrases: how an index
        built from stored fingerprints (``add_batch``) gets the phrases stored beside them.  ``phrase_only``:
        the items are reported as phrases only (items of a phrase bank)."""
        contents = self._contents
        for bank, item_id, pfp in items:
            idx = self._number(bank, item_id)
            parsed = PhraseFingerprint.parse(pfp) if isinstance(pfp, str) else pfp
            contents.phrases.add(idx, parsed, only=phrase_only)
        contents.phrase_mask = None

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
            if item_id in seen or self._contents.names.number(bank, item_id) is not None:
                raise DuplicateItemError(bank, item_id)
            seen.add(item_id)
        if n == 0:
            return
        check_batch(item_ids, batch)
        first = self._contents.insert_batch(item_ids, batch, bank)
        if links is None:  # each against the items before it, in compiled calls (``_link_batch``)
            params = self._search._kernel_params(LINK_ANCHORS)
            link_batch(
                self._contents, params, bank, item_ids, first, batch.hashes, batch.positions, batch.offsets
            )
            return
        families = self._contents.families
        for i, item_id in enumerate(item_ids):
            if links[i]:
                families.link(first + i, (bank, item_id), [(bank, other) for other in links[i]])

    def keep_postings_in_file(
        self, folder: str | None = None, *, above: int = FILE_MERGE_POSTINGS, expected: int = 0
    ) -> None:
        """From now on, keep the postings in a file (in ``folder``; default: the temporary folder), not in
        memory: each time more than ``above`` postings were added, they are merged with the main level into
        a new file, which is mapped (only the pages lookups touch are resident; the file is deleted when
        the index is).  ``expected``: the postings the index will hold, which sizes its buckets.  How an
        index of millions of items is built in bounded memory; lookups and answers are unchanged."""
        held = self._contents.in_file
        if held is None:
            self._contents.in_file = FilePostings(folder, above, expected)
        else:  # already: the file stays, the settings change
            held.folder, held.above, held.expected = folder, above, expected

    @property
    def postings_in_memory(self) -> int:
        """Postings added since the last merge (pending and in the delta): what ``keep_postings_in_file``
        bounds."""
        contents = self._contents
        return len(contents.delta) + sum(len(p[0]) for p in contents.pending)

    def remove(self, item_id: str, *, bank: str = DEFAULT_BANK) -> None:
        """Remove an item; raises ``UnknownItemError`` if it is not there."""
        self._contents.remove(self._number(bank, item_id))

    def flush(self) -> None:
        """Merge pending additions into the searchable postings now (a query otherwise does it first).

        Afterwards, until the next change, a query only reads the index, so queries may share it.
        """
        self._contents.flush()

    def compact(self) -> None:
        """Merge pending additions and drop removed items now (it otherwise happens when worthwhile).

        Afterwards, until the next change, queries and ``save`` only read the index.
        """
        self._contents.compact()

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
        return self._search.match(text, banks, limit, html, query, per_family)

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
        return self._search.match_fingerprint(fp, banks, limit, query, per_family)

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
        return self._search.match_many(texts, banks, limit, html, queries, per_family)

    def match_phrases(
        self,
        texts: Sequence[str],
        *,
        banks: Iterable[str] | None = None,
        html: bool | None = None,
        queries: Sequence[str | None] | None = None,
    ) -> PhraseMatches:
        """The phrase matches of each of ``texts`` (``Match.kind == "phrase"`` only), as columns: the
        same finds as ``match_many``, without a ``Match`` per find until one is asked for
        (``PhraseMatches.matches``), which is what keeps a stream of posts checked against a long phrase
        list fast."""
        return phrase_hits(self._contents, texts, html, banks, queries)

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
        return self._search.match_fingerprints(fps, banks, limit, queries, per_family)

    def is_phrase(self, item_id: str, *, bank: str = DEFAULT_BANK) -> bool:
        """True when the item is matched as a phrase."""
        idx = self._number(bank, item_id)
        return bool(np.any(self._contents.phrases.items() == idx))

    @property
    def n_phrases(self) -> int:
        """Number of live items kept as phrases."""
        numbers = self._contents.phrases.items()
        return int(np.count_nonzero(self._contents.alive[numbers])) if len(numbers) else 0

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
        return self._search.versions_of(fp, bank, limit, added_before)

    # --------------------------------------------------------------------------------------- families
    def links(self, item_id: str, *, bank: str = DEFAULT_BANK) -> list[str]:
        """Ids of the items of ``bank`` that the item was linked to as a version when it was added."""
        self._number(bank, item_id)
        return [str(name[1]) for name in self._contents.families.links((bank, item_id))]  # type: ignore[index]

    def links_of(self, item_ids: Sequence[str], *, bank: str = DEFAULT_BANK) -> list[list[str]]:
        """``links`` of each of ``item_ids``, their numbers looked up together (``present``)."""
        for item_id, there in zip(item_ids, self.present(item_ids, bank=bank), strict=True):
            if not there:
                raise UnknownItemError(bank, item_id)
        links = self._contents.families.links
        return [[str(name[1]) for name in links((bank, i))] for i in item_ids]  # type: ignore[index]

    def family(self, item_id: str, *, bank: str = DEFAULT_BANK) -> tuple[str, int]:
        """The item's copy family: (id of its earliest-added member, number of versions present)."""
        idx = self._number(bank, item_id)
        families = self._contents.families
        return self._contents.names[families.family_of(idx)][1], families.size(idx)

    def n_families(self, bank: str | None = None) -> int:
        """Number of copy families among the items (of ``bank``)."""
        names = self._contents.names
        present = np.flatnonzero(self._contents.alive[: len(names)])
        if bank is not None:
            code = names.bank_code(bank)
            present = present[names.bank_of[present] == code] if code is not None else present[:0]
        return self._contents.families.count(present.tolist())

    # ------------------------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str] | BinaryIO, *, origin: dict[str, Any] | None = None) -> None:
        """Write the index as a snapshot (``copytrace.index.snapshot``): to a path (through a temporary file,
        then renamed, so a crash never leaves half an index) or to a binary stream.  ``load`` maps it.
        ``origin`` records what the index was derived from (``load`` checks it)."""
        meta, arrays = self._contents.snapshot(self.params, origin)
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
            index._contents.open(meta, arrays, index.params.key_id, index._key)
            names = index._contents.names  # numbered as the snapshot
            index._contents.families.mentions(snapshot_contents.mentioned(meta, arrays, names))
        except (KeyError, TypeError, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise SnapshotError(f"{_name(path)} is corrupt: {exc}") from exc
        return index
