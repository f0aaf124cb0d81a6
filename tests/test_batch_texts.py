"""Texts for an index over a store whose texts change (the service's live index): a batch's texts are read
in one statement per bank and forgotten at the thread's next batch, so a replaced item is read anew; each
thread serves its own batch; a search over the store answers as an index holding the texts does."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest

from copytrace import DEFAULT_PARAMS, Index, fingerprint
from copytrace.banks.texts import BatchTexts
from copytrace.store import ItemRecord, Store

from .store_texts_helpers import prose, statements


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    rng = random.Random(4)
    s = Store(db_url, create=True)
    s.create_bank("b", DEFAULT_PARAMS)
    texts = {f"t{n}": f"minutes of meeting {n}: " + prose(rng, 90) for n in range(20)}
    s.add_items("b", [ItemRecord(i, fingerprint(t), t) for i, t in texts.items()])
    s.add_items("b", [ItemRecord("fp-only", fingerprint(prose(rng, 90)), None)])
    try:
        yield s
    finally:
        s.close()


def test_a_batch_is_read_at_once_and_forgotten_at_the_next(store: Store) -> None:
    texts = BatchTexts(store)
    names = [("b", f"t{n}") for n in range(20)] + [("b", "fp-only"), ("b", "gone"), ("nobank", "x")]
    texts.prefetch(names)
    seen = statements(store)
    got = [texts(*name) for name in names]
    assert seen == [] and got[-3:] == [None, None, None] and all(got[:20])
    assert got[0] == store.text("b", "t0")
    store.add_items("b", [ItemRecord("t0", fingerprint("replaced " * 10), "replaced " * 10)], replace=True)
    assert texts("b", "t0") == got[0]  # within the batch: the text it read
    texts.prefetch([("b", "t1")])
    assert texts("b", "t0") == "replaced " * 10  # the next batch forgot it: read anew


def test_each_thread_serves_its_own_batch(store: Store) -> None:
    texts = BatchTexts(store)
    texts.prefetch([("b", "t0")])
    seen = statements(store)
    other: list[str | None] = []
    worker = threading.Thread(target=lambda: other.append(texts("b", "t0")))
    worker.start()
    worker.join()
    assert other == [store.text("b", "t0")] and len(seen) >= 1  # the other thread read it itself
    seen.clear()
    assert texts("b", "t0") == other[0] and seen == []


def test_an_index_over_the_store_reads_a_batch_at_once_and_answers_as_kept_texts(store: Store) -> None:
    texts = BatchTexts(store)
    from_store = Index(text_lookup=texts)
    kept = Index()
    for record in store.iter_items("b", with_text=True):
        from_store.add(record.item_id, record.fingerprint, bank="b")
        if record.text is not None:
            kept.add(record.item_id, record.text, bank="b")
        else:
            kept.add(record.item_id, record.fingerprint, bank="b")
    posts = [
        f"Seen today: {' '.join((store.text('b', f't{n}') or '').split()[5:60])} and more." for n in range(20)
    ] + [f"A quote: {' '.join((store.text('b', f't{n}') or '').split()[30:42])}." for n in range(20)]
    seen = statements(store)
    found = from_store.match_many(posts)
    assert found == kept.match_many(posts)
    assert sum(1 for f in found if f) == 40
    assert len(seen) <= 4  # per pass, the bank's id and its items' texts: not one statement per item
