"""Linking a new item to its versions: a match against the index of its bank, before the item is stored.

The rule and the bookkeeping are ``copytrace.index.families``; this module applies them to items being
added.  An item's *links* (the items of its bank it is a version of) are found once, when it is added, and
stored with it: every process that reads the store then derives the same families.  They are found outside
the write transaction, against the bank as it stands (``versions``: the service passes its live index, the
CLI an index built from the store) and against the items added before it in the same call.

The items of a call are added to that index at once and linked in compiled calls (``Index.add_batch``).
A call that adds millions of postings (a bulk add, in chunks) has the index keep them in a file
(``Index.keep_postings_in_file``), so that the memory it holds does not grow with the bank.

``Linker`` keeps the index the last add to a bank linked against, holding that add's items, with the
generation that add committed: the next add to the bank reuses it when nothing changed in between.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Iterable, Sequence

from ..errors import FingerprintFormatError, ParameterMismatchError, UnknownBankError
from ..fingerprints.batch import FingerprintBatch
from ..fingerprints.fingerprint import Fingerprint, FingerprintParams
from ..index import Index
from ..index.families import MAX_LINKS, Families
from ..index.match import DEFAULT_MATCH_PARAMS
from ..phrases import PhraseParams
from ..store.store import ItemRecord, Store
from .cache import SnapshotCache

VersionFinder = Callable[[str, Fingerprint], "list[str] | None"]
"""``(bank, fingerprint) -> ids`` of the bank's items that the fingerprinted text is a version of, or None
when the finder cannot tell (an index of the bank is then built, or loaded from the cache)."""


IN_FILE_FROM = 1 << 22
"""Postings a call adds (about 60,000 items of 180 words) from which its linking index keeps them in a
file."""
IN_FILE_ABOVE = 1 << 21
"""Postings the linking index of such a call holds in memory before it merges them into its file."""


def link_new_items(
    bank: str,
    params: FingerprintParams,
    items: Sequence[tuple[str, Fingerprint]],
    versions: VersionFinder | None,
    bank_index: Callable[[], Index | None],
    *,
    expected: int = 0,
) -> tuple[list[list[str]], Index | None]:
    """The links of each of ``items`` (id, fingerprint), in order, at most ``MAX_LINKS`` each.

    With a ``versions`` finder that can tell (a service's live index), the versions in the bank come from it
    and the versions among the items of this call from a small index of them.  Otherwise ``bank_index()``
    gives an index of the bank as stored (None for a new bank) and the items are added to it
    (``Index.add_batch``), each matched against everything before it, as ``Index.add`` one by one would.
    ``expected``: the postings the call adds in all (a bulk add links its items a chunk at a time): from
    ``IN_FILE_FROM``, the index keeps its postings in a file.
    Returns the links, and that index of the bank with the items added (None when the finder answered).
    """
    found: list[list[str]] | None = None
    if versions is not None:
        answers = [versions(bank, fp) for _, fp in items]
        if all(a is not None for a in answers):
            found = [a or [] for a in answers]
    index = Index.for_params(params) if found is not None else bank_index() or Index.for_params(params)
    unique = list(
        {item_id: (item_id, fp) for item_id, fp in items}.values()
    )  # a repeated id is refused later
    ids = [item_id for item_id, _ in unique]
    for item_id, there in zip(ids, index.present(ids, bank=bank), strict=True):
        if there:
            index.remove(item_id, bank=bank)  # replaced: the new version links afresh
    if found is None and expected >= IN_FILE_FROM:
        index.keep_postings_in_file(above=IN_FILE_ABOVE, expected=index.n_fingerprints + expected)
    batch = FingerprintBatch.from_fingerprints([fp for _, fp in unique], params)
    index.add_batch(ids, batch, bank=bank)  # each against those before it
    out = []
    links = index.links_of([item_id for item_id, _ in items], bank=bank)
    for n, (item_id, _) in enumerate(items):
        mine = [*(found[n] if found is not None else []), *links[n]]
        out.append([i for i in dict.fromkeys(mine) if i != item_id][:MAX_LINKS])
    return out, (index if found is None else None)


def count_families(items: Iterable[tuple[str, Sequence[str] | None]]) -> int:
    """Number of copy families among items given as (id, stored links), in the order they were added."""
    number: dict[Hashable, int] = {}
    names: list[Hashable] = []
    families = Families(number.get, names.__getitem__)
    for item_id, links in items:
        number[item_id] = len(names)
        names.append(item_id)
        families.add(len(names) - 1, item_id, links or ())
    return families.count(range(len(names)))


def check_phrase_keys(
    stored: str | None, create: FingerprintParams | None, records: Iterable[ItemRecord]
) -> None:
    """Refuse a phrase made with another key than its bank's (made with ``stored``, or ``create`` for a new
    bank; an unknown bank, or one whose parameters do not parse, is left to the write to refuse)."""
    phrased = [r for r in records if r.phrase is not None]
    if not phrased:
        return
    try:
        params = FingerprintParams.parse(stored) if stored is not None else create
    except FingerprintFormatError:
        return
    if params is None:
        return
    want = PhraseParams(key_id=params.key_id)
    for rec in phrased:
        if rec.phrase is not None and rec.phrase.params != want:
            raise ParameterMismatchError(want, rec.phrase.params, what=f"phrase of item {rec.item_id!r}")


class Linker:
    """Finds the links of the items added to a store's banks (``with_links``), remembering the index it
    linked the last add against (``committed``) for the next add to the same bank."""

    def __init__(self, store: Store, snapshots: SnapshotCache) -> None:
        self.store = store
        self.snapshots = snapshots
        # How added items find the versions already in their bank: a running service sets its live index
        # here; otherwise an index of the bank is built (or loaded from the cache).
        self.find_versions: VersionFinder | None = None
        self._held: tuple[str, int, Index] | None = None  # (bank, generation committed, index)
        self._pending: tuple[str, Index] | None = None  # the index the add in progress linked against
        # Postings a bulk add is about to add in all, set by its caller for the time of the add: from
        # IN_FILE_FROM, the index its chunks are linked against keeps its postings in a file.
        self.bulk_postings = 0

    def with_links(
        self, bank: str, stored: str | None, create: FingerprintParams | None, records: list[ItemRecord]
    ) -> list[ItemRecord]:
        """``records`` with the links of those that have none, found outside any write transaction, for a
        bank made with ``stored`` (its parameter string; None: a new bank, made with ``create``).  An item
        of a phrase bank is a family of its own: it links to nothing."""
        if bank in self.store.phrase_banks():
            records = [dataclasses.replace(r, links=[]) if r.phrase is not None else r for r in records]
        todo = [r for r in records if r.links is None]
        if not todo:
            return records
        if stored is None and create is None:
            raise UnknownBankError(bank)
        try:
            params = FingerprintParams.parse(stored) if stored is not None else create
        except FingerprintFormatError as exc:
            raise FingerprintFormatError(f"bank {bank!r}: {exc}") from exc
        assert params is not None
        todo = [r for r in todo if r.fingerprint.params == params]  # others are refused when written
        held, self._held = self._held, None  # taken: the index is about to change

        def bank_index() -> Index | None:
            if stored is None:
                return None
            assert params is not None
            if held is not None and held[0] == bank and held[1] == self.store.generation():
                return held[2]  # this process's last add to the bank, and nothing has changed since
            return self.snapshots.index([bank], params, None, DEFAULT_MATCH_PARAMS)

        items = [(r.item_id, r.fingerprint) for r in todo]
        links, index = link_new_items(
            bank, params, items, self.find_versions, bank_index, expected=self.bulk_postings
        )
        self._pending = None if index is None else (bank, index)
        found = iter(links)
        linked = {id(r): next(found) for r in todo}
        return [dataclasses.replace(r, links=linked[id(r)]) if id(r) in linked else r for r in records]

    def committed(self, generation: int | None) -> None:
        """The add in progress committed ``generation`` (None: nothing, or it failed): keep the index it
        linked against for the next add to the bank."""
        pending, self._pending = self._pending, None
        if generation is not None and pending is not None:
            self._held = (pending[0], generation, pending[1])
