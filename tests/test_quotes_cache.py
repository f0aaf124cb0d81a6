"""The quote pass's token-hash cache (``_quote_runs.TokenHashes``) answers a batch's candidates in a few array
operations (``take``) and stores a batch's new ones in one call (``put_many``), least recently used first
out, as one ``get`` or ``put`` at a time does; ``cut_hashes`` gives the same hashes from the cache as from
the texts."""

from __future__ import annotations

import numpy as np

from copytrace import Index
from copytrace.index import _quote_runs
from copytrace.index._quote_runs import ABSENT, NO_TEXT, TEXT, TokenHashes
from copytrace.text.normalize import tokenize


def test_take_answers_a_batch_and_makes_it_the_most_recently_used() -> None:
    cache = TokenHashes(budget=12)
    a, b = np.arange(4, dtype=np.uint16), np.arange(5, dtype=np.uint16)
    cache.put_many([3, 7, 9], [a, None, b])
    assert len(cache) == 3 and cache.size == 9
    state, parts = cache.take(np.array([9, 1, 3, 7, 10_000], dtype=np.int64))
    assert state.tolist() == [TEXT, ABSENT, TEXT, NO_TEXT, ABSENT]
    assert np.array_equal(parts[0], b) and np.array_equal(parts[2], a)
    assert parts[1] is None and parts[3] is None and parts[4] is None
    cache.get(3)  # 3 used last, 9 and 7 before it (one batch: alike)
    cache.put(20, np.zeros(6, dtype=np.uint16))  # 9 + 6 > 12: the least recently used go until it fits
    assert 3 in cache and 20 in cache and 9 not in cache and cache.size == 10


def test_put_many_keeps_the_budget_and_evicts_the_least_recently_used() -> None:
    rng = np.random.default_rng(5)
    cache = TokenHashes(budget=60)
    length: dict[int, int] = {}  # the tokens of each item the cache holds
    used: dict[int, int] = {}  # each item's last use (the items of one call alike)
    evicted = 0
    for step in range(300):
        asked = rng.choice(30, size=4, replace=False)
        state, _ = cache.take(asked)
        assert (state != ABSENT).tolist() == [int(n) in length for n in asked], step
        used.update({int(n): 2 * step for n in asked if int(n) in length})
        numbers = [int(n) for n in rng.choice(30, size=int(rng.integers(1, 4)), replace=False)]
        hashes = [
            None if rng.random() < 0.2 else np.zeros(int(rng.integers(0, 15)), np.uint16) for _ in numbers
        ]
        others = [n for n in length if n not in numbers]
        cache.put_many(numbers, hashes)  # at most 42 tokens: they fit the budget
        assert all(n in cache for n in numbers), step
        gone = [n for n in others if n not in cache]
        kept = [n for n in others if n in cache]
        if gone and kept:  # the least recently used went first
            assert max(used[n] for n in gone) <= min(used[n] for n in kept), step
        evicted += len(gone)
        length = {n: length[n] for n in kept}
        length.update({n: 0 if h is None else len(h) for n, h in zip(numbers, hashes, strict=True)})
        used.update({n: 2 * step + 1 for n in numbers})
        assert cache.size == sum(length.values()) <= 60 and len(cache) == len(length), step
    assert evicted  # the budget was reached


def test_hashes_are_read_in_place_and_never_written_again() -> None:
    """``take_in_place`` gives each held item's hashes as a region of one array, the same as ``take``;
    a region once given keeps its hashes while later puts evict items and move the rest to a new array
    (a thread may still be reading it)."""
    rng = np.random.default_rng(3)
    cache = TokenHashes(budget=5000)
    kept: dict[int, np.ndarray | None] = {}
    given: list[tuple[np.ndarray, int, np.ndarray]] = []  # regions handed out, with what they held
    for step in range(200):
        numbers = [int(n) for n in rng.choice(400, size=5, replace=False)]
        hashes = [
            None
            if rng.random() < 0.1
            else rng.integers(0, 65536, int(rng.integers(0, 300))).astype(np.uint16)
            for _ in numbers
        ]
        cache.put_many(numbers, hashes)
        kept.update(zip(numbers, hashes, strict=True))
        asked = rng.choice(400, size=20, replace=False)
        state, arena, starts, lengths = cache.take_in_place(asked)
        same, parts = cache.take(asked)
        assert state.tolist() == same.tolist(), step
        for j, n in enumerate(asked.tolist()):
            if state[j] == TEXT:
                region = arena[starts[j] : starts[j] + lengths[j]]
                assert np.array_equal(region, kept[n]) and np.array_equal(region, parts[j]), (step, n)
                given.append((arena, int(starts[j]), region.copy()))
            else:
                assert lengths[j] == 0 and parts[j] is None, (step, n)
                assert state[j] == ABSENT or kept[n] is None, (step, n)
    assert cache.size <= 5000
    assert len({id(arena) for arena, _, _ in given}) > 1  # room was made in new arrays
    for arena, start, held in given:
        assert np.array_equal(arena[start : start + len(held)], held)


def test_cut_hashes_of_a_batch_are_the_texts_cut_hashes_kept_or_read() -> None:
    texts = {f"i{n}": f"item {n} says " + " ".join(f"word{n * 7 + w}" for w in range(30)) for n in range(6)}
    index = Index(text_lookup=lambda bank, item_id: texts[item_id])
    for item_id, text in texts.items():
        index.add(item_id, text)
    contents = index._contents
    numbers = np.array([4, 1, 2], dtype=np.int64)
    want = [_quote_runs.cut(tokenize(texts[f"i{n}"]).hashes) for n in numbers.tolist()]
    for read_now in (True, False):  # read from the texts, then taken from the cache
        hashes, starts, ends, with_text, read = _quote_runs.cut_hashes(contents, numbers)
        assert with_text.all() and read.tolist() == [read_now] * 3
        for j, w in enumerate(want):
            assert np.array_equal(hashes[starts[j] : ends[j]], w)


def test_a_batch_larger_than_the_budget_leaves_an_arena_of_about_the_budget() -> None:
    """The earliest of a batch's new items, which the later ones evict at once, are never written: the
    arena the cache keeps is at most half as large again as its budget, not as large as the batch."""
    rng = np.random.default_rng(11)
    cache = TokenHashes(budget=20_000)
    for _ in range(5):
        numbers = rng.choice(5_000, size=300, replace=False).tolist()
        hashes: list[np.ndarray | None] = [
            rng.integers(0, 2**16, size=int(rng.integers(200, 2_000)), dtype=np.uint16) for _ in numbers
        ]
        cache.put_many(numbers, hashes)
        assert cache.size <= cache.budget
        assert len(cache._arena) <= cache.budget * 3 // 2
        state, parts = cache.take(np.array(numbers[-5:], dtype=np.int64))  # the last ones put are held
        assert (state == TEXT).all()
        assert all(np.array_equal(p, h) for p, h in zip(parts, hashes[-5:], strict=True))
