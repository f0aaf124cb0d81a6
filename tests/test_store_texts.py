"""A scan worker's item texts: read from the store in one statement per bank for all the quote
candidates of a batch, then served from memory; items without a text, unknown items and unknown banks
give None, as one by one; a batch of documents answers as an index that keeps the texts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from copytrace import DEFAULT_PARAMS, Index, fingerprint
from copytrace.banks import Store
from copytrace.batch.store_texts import StoreTexts
from copytrace.errors import UnknownBankError
from copytrace.store import ItemRecord

from .store_texts_helpers import prose, statements


@pytest.fixture
def stored(db_url: str) -> Iterator[tuple[Store, dict[str, str]]]:
    rng = random.Random(2)
    texts = {f"t{n}": f"the minutes of meeting {n} record that " + prose(rng, 80) for n in range(30)}
    store = Store(db_url, create=True)
    store.create_bank("b", DEFAULT_PARAMS)
    store.add_items("b", [ItemRecord(i, fingerprint(t), t) for i, t in texts.items()])
    store.add_items("b", [ItemRecord("fp-only", fingerprint(prose(rng, 80)), None)])
    try:
        yield store, texts
    finally:
        store.close()


@pytest.fixture
def lookup(stored: tuple[Store, dict[str, str]]) -> Iterator[StoreTexts]:
    texts = StoreTexts(stored[0].url)
    try:
        yield texts
    finally:
        texts.close()


def test_prefetched_texts_are_served_without_another_statement(
    stored: tuple[Store, dict[str, str]], lookup: StoreTexts
) -> None:
    _, texts = stored
    names = [("b", i) for i in texts] + [("b", "fp-only"), ("b", "gone"), ("nobank", "x")]
    lookup.prefetch(names)
    seen = statements(lookup._open())
    assert [lookup(*name) for name in names] == [*texts.values(), None, None, None]
    assert seen == []


def test_a_batch_reads_its_candidates_texts_at_once_and_answers_as_kept_texts(
    stored: tuple[Store, dict[str, str]], lookup: StoreTexts
) -> None:
    _, texts = stored
    from_store = Index(text_lookup=lookup)
    kept = Index()
    for item_id, text in texts.items():
        from_store.add(item_id, fingerprint(text), bank="b")
        kept.add(item_id, text, bank="b")
    posts = [
        f"Notes: the minutes of meeting {n} record that nobody came. "
        + " ".join(texts[f"t{n}"].split()[20:32])
        for n in range(30)
    ]
    seen = statements(lookup._open())
    found = from_store.match_many(posts)
    assert found == kept.match_many(posts)
    assert sum(1 for f in found if f) >= 25  # the 12-word quotes, at least
    # per pass (the long-text matches' spans, then the quote candidates), the bank's id and its items'
    # texts: not one statement per item
    assert 1 <= len(seen) <= 4


def test_texts_of_names_the_unknown_bank(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.db"), create=True)
    try:
        with pytest.raises(UnknownBankError):
            store.texts_of("nobank", ["a"])
    finally:
        store.close()


def test_texts_of_reads_the_same_in_every_parameter_style(
    stored: tuple[Store, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``texts_of`` writes its SQL in the driver's parameter style (SQLite's and psycopg's), and goes through
    SQLAlchemy's statement for any other: the same texts either way, in batches of any size."""
    from copytrace.store import items

    store, texts = stored
    asked = [*texts, "fp-only", "gone", *texts]  # repeated ids, an item without a text, an unknown one
    monkeypatch.setattr(items, "_IDS_PER_QUERY", 7)
    written = store.texts_of("b", asked)
    monkeypatch.setattr(items, "_MARKS", {})
    assert written == store.texts_of("b", asked) == texts
    with pytest.raises(UnknownBankError):
        store.texts_of("nobank", ["a"])
