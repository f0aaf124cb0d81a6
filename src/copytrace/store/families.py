"""Copy families in the store: the links of items being added, and the families of a bank's stored items.

The rule and the bookkeeping are ``copytrace.families``; this module applies them to what the store holds.
An item's *links* (the items of its bank it is a version of) are found once, when it is added, and stored
with it: every process that reads the store then derives the same families.  They are found outside the
write transaction, against the bank as it stands (``versions``: the service passes its live index, the CLI
an index built from the store) and against the items added before it in the same call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

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
    out = []
    for item_id, fp in items:
        found = versions(bank, fp) if versions is not None else []
        if len(batch):
            found += batch.versions_of(fp, bank=bank)
        if item_id in batch:  # the same id twice in one call is refused later; keep the first here
            batch.remove(item_id, bank=bank)
        batch.add(item_id, fp, bank=bank, links=())
        out.append([i for i in dict.fromkeys(found) if i != item_id][:MAX_LINKS])
    return out


def count_families(items: Iterable[tuple[str, Sequence[str] | None]]) -> int:
    """Number of copy families among items given as (id, stored links)."""
    families = Families()
    n = 0
    for n, (item_id, links) in enumerate(items, start=1):
        families.add(n - 1, item_id, links or ())
    return families.count(range(n))
