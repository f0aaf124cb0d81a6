"""The store with its bank layer: what ``copytrace.store.Store`` persists, and the indexes of its banks.

Adding items is a straight way down: the items are fingerprinted by the caller, linked against the index of
their bank (``linking``), and persisted (``copytrace.store``).  A search chooses its banks (``selection``)
and gets their index from the cache of snapshots (``cache``), built from the stored fingerprints when the
store has changed (``build``).  A running service follows the store into its live index (``live``) and
lends it to the store for linking (``find_versions``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import FingerprintFormatError, UnknownBankError
from ..fingerprints.fingerprint import FingerprintParams
from ..fingerprints.keys import Key, as_key
from ..index import Index
from ..index.match import DEFAULT_MATCH_PARAMS, MatchParams
from ..names import check_bank_name, check_item_id
from ..store.store import DEFAULT_BUSY_TIMEOUT, ItemRecord
from ..store.store import Store as StoredBanks
from .cache import SnapshotCache
from .linking import Linker, VersionFinder, check_phrase_keys, count_families, link_new_items
from .selection import BankSelection, banks_for, search_params


class Store(StoredBanks):
    """Banks and items in a SQL database (``copytrace.store.Store``), with the indexes of the banks.

    ``add_items`` finds each new item's links (the items of its bank it is a version of) before storing
    it; ``build_index`` gives the index of banks, from the cache of snapshots while the store is unchanged;
    ``delete_bank`` and ``vacuum`` also delete the cached snapshots no one will load again.
    """

    def __init__(
        self,
        db: str | None = None,
        *,
        create: bool = True,
        migrate: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        super().__init__(db, create=create, migrate=migrate, busy_timeout=busy_timeout)
        self.snapshots = SnapshotCache(self)
        self.linker = Linker(self, self.snapshots)

    @property
    def find_versions(self) -> VersionFinder | None:
        """How added items find the versions already in their bank: a running service sets its live
        index here (``LiveIndex.versions_of``); when None, an index of the bank is built or loaded from the
        cache."""
        return self.linker.find_versions

    @find_versions.setter
    def find_versions(self, finder: VersionFinder | None) -> None:
        self.linker.find_versions = finder

    # ------------------------------------------------------------------------------------------- items
    def add_items(
        self,
        bank: str,
        records: Iterable[ItemRecord],
        *,
        replace: bool = False,
        create: FingerprintParams | None = None,
        actor: str | None = None,
    ) -> int:
        """Store items in one transaction, each with the links to the versions of it its bank holds (found
        outside the transaction, against the bank's index and the items before it in this call).

        On any error nothing of this call is stored; see ``copytrace.store.Store.add_items`` for the rest.
        """
        if create is not None:
            check_bank_name(bank)
        records = list(records)
        for rec in records:
            check_item_id(rec.item_id)
        stored = self.bank_param_strings([bank]).get(bank)  # the bank's parameters, None for a new bank
        linked = self.linker.with_links(bank, stored, create, records)
        generation = None
        try:
            check_phrase_keys(stored, create, linked)
            # the ids were checked above: written without checking them again
            n, generation = self._write_checked(bank, linked, replace=replace, create=create, actor=actor)
        finally:
            self.linker.committed(generation)  # the linking index holds items only if they are stored
        return n

    def add_item_chunks(
        self,
        bank: str,
        chunks: Iterable[Sequence[ItemRecord]],
        *,
        replace: bool = False,
        create: FingerprintParams | None = None,
        actor: str | None = None,
    ) -> Iterator[int]:
        """Store items chunk by chunk, each chunk in a transaction of its own, yielding how many items each
        chunk stored once it is committed: how a bulk add holds a chunk or two in memory, not the whole
        input.

        The links come out as one ``add_items`` of every item would give them: each chunk is linked
        against the index the chunk before it was linked against, which then holds that chunk's items too
        (the bank's index is built or loaded once, for the first chunk).  A chunk is linked while the one
        before it is written, in a thread (the database's inserts, commit and checkpoint leave the
        interpreter to the linking most of their time); when that write's generation shows that another
        writer changed the store since the chunk before, the chunk is linked again against the bank's
        index as stored, as the next chunk of ``add_items`` one by one would be.  That holds while
        ``find_versions`` is None (the command line); with a live index set there, each chunk is an
        ``add_items`` of its own, in turn.  What a chunk committed stays stored when a later chunk fails;
        nothing of a failed chunk is stored.
        """
        if self.find_versions is not None:
            for chunk in chunks:
                yield self.add_items(bank, chunk, replace=replace, create=create, actor=actor)
            return
        if create is not None:
            check_bank_name(bank)
        stored = self.bank_param_strings([bank]).get(bank)  # the bank's parameters, None for a new bank
        links = _ChunkLinks(self, bank, stored, create)
        pending: Future[tuple[int, int | None]] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="copytrace-write") as writer:
            for chunk in chunks:
                records = list(chunk)
                try:
                    for rec in records:
                        check_item_id(rec.item_id)
                    if pending is not None and links.index is None:  # to be read from the store: once
                        n, generation = pending.result()  # the chunk before is in it
                        pending = None
                        links.committed(generation)
                        yield n
                    linked = links.link(records)
                    if pending is not None:
                        n, generation = pending.result()  # the chunk before: committed, or its error
                        pending = None
                        if links.committed(generation):  # another writer changed the store meanwhile
                            linked = links.link(records)
                        yield n
                    check_phrase_keys(stored, create, linked)
                except BaseException:
                    if pending is not None:  # the chunk before is stored, or its own error is raised
                        yield pending.result()[0]
                    raise
                # the ids were checked above: written without checking them again
                pending = writer.submit(
                    self._write_checked, bank, linked, replace=replace, create=create, actor=actor
                )
            if pending is not None:
                n, generation = pending.result()
                links.committed(generation)
                yield n

    def family_counts(self) -> dict[str, int]:
        """Number of copy families in each bank, derived from the items' stored links."""
        return {name: count_families(items) for name, items in self.bank_links().items()}

    def delete_bank(self, name: str, *, actor: str | None = None) -> int:
        """Delete a bank and its items, and the cached indexes no one will load again (``prune_cache``);
        returns how many items went with it.  The database file keeps its size until ``vacuum``."""
        n = super().delete_bank(name, actor=actor)
        self.snapshots.prune(superseded=False)
        return n

    def vacuum(self) -> tuple[int, int] | None:
        """``prune_cache``, then ``copytrace.store.Store.vacuum``: the space of deleted rows back to the
        operating system (SQLite: the bytes of the database file and its log before and after)."""
        self.snapshots.prune()
        return super().vacuum()

    # ------------------------------------------------------------------------------------------- index
    def banks_for(self, params: FingerprintParams) -> BankSelection:
        """The banks made with exactly ``params`` (key, k, window and versions) and the others, left out."""
        return banks_for(self, params)

    def build_index(
        self,
        banks: Iterable[str] | None = None,
        *,
        key: Key | str | bytes | None = None,
        match_params: MatchParams = DEFAULT_MATCH_PARAMS,
        cache: bool = True,
    ) -> Index:
        """An index over the items of ``banks`` (default: the banks made with this key, default k and window).

        Named banks must share their parameters and be made with ``key``, else ``ParameterMismatchError``
        names the banks and both parameter strings.  With no bank named, banks made with other parameters
        (key, k, window or version; ``banks_for``) are left out, and when the store has banks but none of
        them can be searched that is a ``ParameterMismatchError`` too.  An item whose stored fingerprint
        cannot be parsed or indexed is skipped with a warning (``quarantine``).  With ``cache``, the index is
        saved under ``$COPYTRACE_CACHE`` (default ``$XDG_CACHE_HOME/copytrace``) for the store's current
        generation, and later loaded from there and caught up with the changes made since, so a command starts
        in a fraction of the time a rebuild takes (``copytrace.banks.cache``).
        """
        key_ = as_key(key)
        if banks is None:
            selection = banks_for(self, FingerprintParams(key_id=key_.key_id))
            if not selection.searched and selection.left_out:
                raise selection.nothing_searchable()
            names = selection.searched
        else:
            names = list(dict.fromkeys(banks))
        p = search_params(self, names, key_)
        if p is None:  # no bank: an empty index that fingerprints with the key
            return Index(key=key_, match_params=match_params, keep_text=False, text_lookup=self.text)
        return self.snapshots.index(names, p, key_, match_params, cache=cache)

    def prune_cache(self) -> int:
        """Delete this store's cached indexes that a newer one of the same banks supersedes, and those of
        a store that was at its URL before (another store id); returns how many.

        A cached index is caught up with the changes made after it (``copytrace.banks.cache``), so only a
        newer one of the same banks makes it useless.  Indexes are also pruned whenever one is cached, and
        every older one when a bank is deleted.
        """
        return self.snapshots.prune()


class _ChunkLinks:
    """The links of the chunks of one ``Store.add_item_chunks``: each chunk linked against the index of its
    bank that holds the chunks before it (``linking.link_new_items``), and the generations those chunks
    committed, to tell when another writer changed the store in between."""

    def __init__(self, store: Store, bank: str, stored: str | None, create: FingerprintParams | None) -> None:
        self.store = store
        self.bank = bank
        self.phrase_bank = bank in store.phrase_banks()
        self.params: FingerprintParams | None = create
        if stored is not None:
            try:
                self.params = FingerprintParams.parse(stored)
            except FingerprintFormatError as exc:
                raise FingerprintFormatError(f"bank {bank!r}: {exc}") from exc
        self.index: Index | None = None  # the bank's index with the chunks linked so far
        self.generation = store.generation()  # the store's generation the chunks so far were linked at

    def _bank_index(self) -> Index | None:
        if self.index is not None:
            return self.index
        assert self.params is not None
        self.generation = self.store.generation()
        if self.store.bank_param_strings([self.bank]).get(self.bank) is None:
            return None  # a new bank: nothing stored yet
        return self.store.snapshots.index([self.bank], self.params, None, DEFAULT_MATCH_PARAMS)

    def link(self, records: list[ItemRecord]) -> list[ItemRecord]:
        """``records`` with the links of those that have none (``Linker.with_links``, for a bulk add)."""
        if self.phrase_bank:
            records = [_with_links(r, []) if r.phrase is not None else r for r in records]
        todo = [r for r in records if r.links is None]
        if not todo:  # nothing added to the index: the next chunk links against the bank as stored
            self.index = None
            return records
        if self.params is None:
            raise UnknownBankError(self.bank)
        todo = [r for r in todo if r.fingerprint.params == self.params]  # others are refused when written
        items = [(r.item_id, r.fingerprint) for r in todo]
        found, self.index = link_new_items(
            self.bank, self.params, items, None, self._bank_index, expected=self.store.linker.bulk_postings
        )
        linked = {id(r): item_links for r, item_links in zip(todo, found, strict=True)}
        return [_with_links(r, linked[id(r)]) if id(r) in linked else r for r in records]

    def committed(self, generation: int | None) -> bool:
        """A chunk committed ``generation`` (None: it changed nothing).  True when the store changed in
        between as well: the index is then dropped, and the chunk linked since must be linked again."""
        if generation is None:
            return False
        changed = generation != self.generation + 1
        self.generation = generation
        if changed:
            self.index = None
        return changed


def _with_links(rec: ItemRecord, links: list[str]) -> ItemRecord:
    """``dataclasses.replace(rec, links=links)`` in a fraction of its time: a copy of every field of the
    frozen record (``replace`` runs ``__init__``, which sets each field through ``object.__setattr__``)."""
    out = object.__new__(ItemRecord)
    out.__dict__.update(rec.__dict__, links=links)
    return out
