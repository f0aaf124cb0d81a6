"""Made-up prose for a store's item texts, and a record of the SQL statements a store runs (used by the tests
of texts read in batches: ``test_batch_texts`` and ``test_store_texts``)."""

from __future__ import annotations

import random

from sqlalchemy import event

from copytrace.store import Store

WORDS = [
    *("tide", "harbor", "lantern", "copper", "violet", "meadow", "quarry"),
    *("ember", "falcon", "thistle", "orchard", "granite", "willow"),
]


def prose(rng: random.Random, n: int) -> str:
    """``n`` words drawn from ``WORDS``, then a full stop."""
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def statements(store: Store) -> list[str]:
    """The list every SQL statement ``store`` runs from now on is appended to."""
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen
