"""Copy families in the store: the links of items being added, and the families of a bank's stored items.

The rule and the bookkeeping are ``copytrace.index.families``; this module applies them to the stored items.
An item's *links* (the items of its bank it is a version of) are found once, when it is added, and stored
with it: every process that reads the store then derives the same families.  They are found outside the
write transaction, against the bank as it stands (``versions``: the service passes its live index, the CLI
an index built from the store) and against the items added before it in the same call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from ..fingerprint import Fingerprint, FingerprintParams
from ..index import Index
from ..index.families import MAX_LINKS, Families

VersionFinder = Callable[[str, Fingerprint], "list[str] | None"]
"""``(bank, fingerprint) -> ids`` of the bank's items that the fingerprinted text is a version of, or None
when the finder cannot tell (the store then builds an index of the bank itself)."""


def link_new_items(
    bank: str,
    params: FingerprintParams,
    items: Sequence[tuple[str, Fingerprint]],
    versions: VersionFinder | None,
    bank_index: Callable[[], Index | None],
) -> tuple[list[list[str]], Index | None]:
    """The links of each of ``items`` (id, fingerprint), in order, at most ``MAX_LINKS`` each.

    With a ``versions`` finder that can tell (a service's live index), the versions in the bank come from it
    and the versions among the items of this call from a small index of them.  Otherwise ``bank_index()``
    gives an index of the bank as stored (None for a new bank) and the items are added to it
    (``Index.add_many``), each matched against everything before it, as ``Index.add`` one by one would.
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
    for item_id, _ in unique:
        if (bank, item_id) in index:
            index.remove(item_id, bank=bank)  # replaced: the new version links afresh
    index.add_many(unique, bank=bank)
    out = []
    for n, (item_id, _) in enumerate(items):
        mine = [*(found[n] if found is not None else []), *index.links(item_id, bank=bank)]
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
