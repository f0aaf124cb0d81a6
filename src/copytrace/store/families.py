"""Copy families in the store: the links of items being added, and the families of a bank's stored items.

The rule and the bookkeeping are ``copytrace.families``; this module applies them to what the store holds.
An item's *links* (the items of its bank it is a version of) are found once, when it is added, and stored
with it: every process that reads the store then derives the same families.  They are found outside the
write transaction, against the bank as it stands (``versions``: the service passes its live index, the CLI
an index built from the store) and against the items added before it in the same call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from ..families import MAX_LINKS, Families
from ..fingerprint import Fingerprint, FingerprintParams
from ..index import Index

VersionFinder = Callable[[str, Fingerprint], "list[str] | None"]
"""``(bank, fingerprint) -> ids`` of the bank's items that the fingerprinted text is a version of, or None
when the finder cannot tell (the store then builds an index of the bank itself)."""


def link_new_items(
    bank: str,
    params: FingerprintParams,
    items: Sequence[tuple[str, Fingerprint]],
    versions: Callable[[str, Fingerprint], list[str]] | None,
) -> list[list[str]]:
    """The links of each of ``items`` (id, fingerprint), in order: versions in the bank, then earlier items
    of this call, best first, at most ``MAX_LINKS``."""
    batch = Index.for_params(params)
    for item_id, fp in items:
        if item_id not in batch:  # the same id twice in one call is refused when written
            batch.add(item_id, fp, bank=bank, links=())
    out = []
    for item_id, fp in items:
        found = versions(bank, fp) if versions is not None else []
        found += batch.versions_of(fp, bank=bank, added_before=item_id)
        out.append([i for i in dict.fromkeys(found) if i != item_id][:MAX_LINKS])
    return out


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
