"""The change feed: what changed in the store after a given generation, for indexes that follow it.

Each write transaction raises the store generation first and records one ``changes`` row per touched item
(``copytrace.store.store``), so generations become visible in order: reading the changes with generation in
``(after, upto]`` where ``upto`` is a generation already read from the store never skips a change that a
later read would reveal.  An ``add`` carries the item's fingerprint as stored *now* (``None`` when it was
removed since), so replaying changes in order from any point at or before a snapshot converges on the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from .sessions import Sessions
from .tables import banks, changes, items


@dataclass(frozen=True)
class Change:
    generation: int
    op: str  # add | remove | create_bank | drop_bank
    bank: str
    item_id: str | None
    fingerprint: str | None  # for ``add``: the stored fingerprint, None if the item is gone
    links: list[str]  # for ``add``: the item's stored copy-family links (``copytrace.index.families``)
    phrase: str | None = None  # for ``add``: the item's stored phrase fingerprint (``copytrace.phrases``)


def changes_since(store: Sessions, after: int, upto: int) -> Iterator[Change]:
    """Changes with ``after < generation <= upto`` in the order they were made, streamed."""
    stmt = (
        select(
            changes.c.generation,
            changes.c.op,
            changes.c.bank,
            changes.c.item_id,
            items.c.fingerprint,
            items.c.links,
            items.c.phrase,
        )
        .select_from(changes)
        .outerjoin(banks, and_(banks.c.name == changes.c.bank, changes.c.op == "add"))
        .outerjoin(items, and_(items.c.bank_id == banks.c.id, items.c.item_id == changes.c.item_id))
        .where(changes.c.generation > after, changes.c.generation <= upto)
        .order_by(changes.c.generation, changes.c.id)
    )
    with store.engine.connect() as conn:
        rows = conn.execution_options(yield_per=5000).execute(stmt)
        for generation, op, bank, item_id, fp, links, phrase in rows:
            yield Change(int(generation), op, bank, item_id, fp, list(links or []), phrase)


def oldest_generation(store: Sessions) -> int | None:
    """The generation of the oldest change kept, or None when the feed is empty."""
    with store.engine.connect() as conn:
        value = conn.execute(select(func.min(changes.c.generation))).scalar()
        return None if value is None else int(value)
