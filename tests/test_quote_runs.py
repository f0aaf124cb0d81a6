"""The quote pass's compiled first check: it keeps exactly the candidates the exact verification could
accept, reads an item's text once rather than once per query, and leaves every answer as it was; the
long-text search of a batch skips the queries without a candidate and still answers each query as
``match`` does alone."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import Index, MatchParams, QuoteParams, fingerprint
from copytrace.index import _quote_runs, quotes
from copytrace.text.normalize import Tokens, tokenize

WORDS = [
    "tide",
    "harbor",
    "lantern",
    "copper",
    "violet",
    "meadow",
    "quarry",
    "ember",
    "falcon",
    "thistle",
    "orchard",
    "granite",
    "willow",
]


def tokens_of(hashes: list[int]) -> Tokens:
    n = len(hashes)
    return Tokens(np.arange(n, dtype=np.int64), np.arange(n, dtype=np.int64) + 1, np.array(hashes, np.uint64))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 3), min_size=5, max_size=40),
    st.lists(st.integers(0, 3), min_size=5, max_size=40),
    st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39), st.integers(0, 39), st.integers(0, 39))),
    st.integers(1, 20),
)
def test_the_kernel_keeps_a_chain_exactly_when_the_exact_run_is_long_enough(
    query: list[int], item: list[int], anchors: list[tuple[int, int, int, int]], min_tokens: int
) -> None:
    """Over texts of few distinct tokens (long shared runs, repeats, collisions of k-grams at the ends),
    the compiled longest run reaches ``min_tokens`` exactly where ``quotes.text_run`` finds a run."""
    k = 3
    chains = [[0, q0, q1, i0, i1, 2] for q0, q1, i0, i1 in anchors]
    runs = _quote_runs.runs_of(
        np.zeros(len(chains), dtype=np.int64),
        np.full(len(chains), 7, dtype=np.int64),
        np.array([c[1:5] for c in chains], dtype=np.int64).reshape(-1, 4),
        [np.array(query, np.uint64)],
        {7: np.array(item, np.uint64)},
        k,
        quotes.MAX_RUN,
    )
    bg = quotes.model(QuoteParams())
    for chain, run in zip(chains, runs.tolist(), strict=True):
        found = quotes.text_run([chain], k, tokens_of(query), tokens_of(item), bg, min_tokens)
        assert (found is not None) == (run >= min_tokens)
        if found is not None:
            assert found.tokens <= run


def prose(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def test_an_items_text_is_read_once_for_many_queries_sharing_a_few_words_with_it() -> None:
    rng = random.Random(5)
    item = "the committee met on tuesday to discuss the harbour budget and " + prose(rng, 60)
    reads: list[tuple[str, str]] = []

    def lookup(bank: str, item_id: str) -> str | None:
        reads.append((bank, item_id))
        return item

    index = Index(text_lookup=lookup)
    index.add("minutes", fingerprint(item), bank="b")
    posts = [f"Yesterday {w} said the committee met on tuesday to discuss nothing at all." for w in WORDS]
    assert index.match_many(posts) == [[] for _ in posts]  # five words in common by chance: no quote
    assert reads == [("b", "minutes")]  # read and tokenized once, not once per query


@pytest.mark.parametrize("params", [MatchParams(), MatchParams(quotes=None), MatchParams(min_tokens=3)])
def test_a_mixed_batch_is_answered_as_each_query_alone(params: MatchParams) -> None:
    """Copies, quotes, chance words and nothing at all in one batch: the long-text search skips the
    queries without a quote candidate and maps its results back to the right queries."""
    rng = random.Random(11)
    items = {f"i{n}": prose(rng, 120) for n in range(12)}
    index = Index(match_params=params)
    for item_id, text in items.items():
        index.add(item_id, text)
    queries = []
    for n in range(60):
        source = items[f"i{n % 12}"].split()
        kind = n % 4
        if kind == 0:
            queries.append(" ".join(source[10:70]))  # a long excerpt
        elif kind == 1:
            queries.append("Someone wrote " + " ".join(source[30:42]) + " and left.")  # a 12-word quote
        elif kind == 2:
            queries.append("nothing in common here at all, said the reporter, " + str(n))
        else:
            queries.append(" ".join(source[50:55]) + " with other words entirely unrelated to anything")
    batch = index.match_many(queries)
    assert batch == [index.match(q) for q in queries]
    assert any(batch[n] for n in range(0, 60, 4)) and not any(batch[n] for n in range(2, 60, 4))


def test_compaction_forgets_the_token_hashes_of_renumbered_items() -> None:
    rng = random.Random(3)
    index = Index()
    texts = {f"old{n}": prose(rng, 80) for n in range(40)}
    for item_id, text in texts.items():
        index.add(item_id, text)
    post = "A post quoting " + " ".join(texts["old39"].split()[20:32]) + " and nothing more."
    assert [m.item_id for m in index.match(post)] == ["old39"]
    for n in range(39):
        index.remove(f"old{n}")  # compacts: old39 becomes item 0
    fresh = prose(rng, 80)
    index.add("new", fresh)
    assert [m.item_id for m in index.match(post)] == ["old39"]
    post2 = "A post quoting " + " ".join(fresh.split()[20:32]) + " and nothing more."
    assert [m.item_id for m in index.match(post2)] == ["new"]


def colliding_words() -> tuple[str, str]:
    """Two one-token words whose cut hashes (``_quote_runs.cut``) are equal, their tokens not."""
    seen: dict[int, str] = {}
    for n in range(100_000):
        word = f"w{n}"
        c = int(_quote_runs.cut(tokenize(word).hashes)[0])
        if c in seen:
            return seen[c], word
        seen[c] = word
    raise AssertionError("no two words with equal cut hashes")


def test_token_hashes_forget_the_least_recently_used_item_first() -> None:
    cache = _quote_runs.TokenHashes(budget=10)
    four = np.zeros(4, dtype=np.uint16)
    cache.put(1, four)
    cache.put(2, four)
    held, hashes = cache.get(1)  # used: now the most recent
    assert held and hashes is not None and np.array_equal(hashes, four)
    cache.put(3, four)  # over the budget: item 2, the least recently used, goes
    assert 1 in cache and 2 not in cache and 3 in cache and cache.size == 8
    cache.put(4, None)  # no text: kept, no tokens
    assert cache.get(4) == (True, None) and cache.get(2) == (False, None) and cache.size == 8
    cache.put(5, np.zeros(11, dtype=np.uint16))  # larger than the budget: not kept, nothing evicted for it
    assert 5 not in cache and cache.size == 8
    cache.pop(1)
    assert 1 not in cache and cache.size == 4


def test_cut_hashes_differ_for_words_that_differ_in_their_last_letter() -> None:
    words = [f"{stem}{last}" for stem in ("cat", "harbour", "w") for last in "abcdefghij0123456789"]
    cut = _quote_runs.cut(np.concatenate([tokenize(w).hashes for w in words]))
    assert len(set(cut.tolist())) == len(words)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=5, max_size=40),
    st.lists(
        st.one_of(st.just([]), st.lists(st.integers(0, 5), min_size=8, max_size=40)), min_size=1, max_size=3
    ),
    st.lists(st.tuples(st.integers(0, 2), st.integers(0, 39), st.integers(0, 39), st.integers(0, 39))),
    st.integers(1, 20),
)
def test_the_chains_kept_are_those_whose_exact_run_is_long_enough(
    query: list[int],
    items: list[list[int]],
    chains: list[tuple[int, int, int, int]],
    min_tokens: int,
) -> None:
    """Over texts of few distinct words, two of them with equal cut hashes (so runs on cut hashes run
    longer than the exact ones): ``long_enough`` keeps a chain exactly when its run on the exact tokens
    reaches ``min_tokens``; an item without text (the empty list: added as a fingerprint) keeps its
    chains."""
    a, b = colliding_words()
    vocabulary = [a, b, "tide", "harbor", "lantern", "copper"]
    index = Index()
    for n, words in enumerate(items):
        if words:
            index.add(f"i{n}", " ".join(vocabulary[w] for w in words))
        else:
            index.add(f"i{n}", fingerprint(" ".join(WORDS)))  # no text kept
    contents = index._contents
    q_tokens = tokenize(" ".join(vocabulary[w] for w in query))
    chains = [c for c in chains if c[0] < len(items)]
    k = 3
    chain_item = np.array([c[0] for c in chains], dtype=np.int64)
    anchors = np.array([[c[1], c[1] + c[3] % 4, c[2], c[2] + c[3] % 4] for c in chains], dtype=np.int64)
    anchors = anchors.reshape(-1, 4)
    keep = _quote_runs.long_enough(
        contents,
        np.zeros(len(chains), dtype=np.int64),
        chain_item,
        anchors,
        [q_tokens.hashes],
        k,
        min_tokens,
        quotes.MAX_RUN,
    )
    for c, kept in zip(chains, keep.tolist(), strict=True):
        words = items[c[0]]
        if not words:
            assert kept
            continue
        exact = _quote_runs.runs_of(
            np.zeros(1, dtype=np.int64),
            np.zeros(1, dtype=np.int64),
            anchors[[chains.index(c)]],
            [q_tokens.hashes],
            {0: tokenize(" ".join(vocabulary[w] for w in words)).hashes},
            k,
            quotes.MAX_RUN,
        )
        assert kept == (int(exact[0]) >= min_tokens)


def test_a_run_the_cut_hashes_alone_extend_is_not_kept() -> None:
    """Nine shared words, then two different words with equal cut hashes: ten tokens on cut hashes,
    nine exactly, so the chain is not kept for a ten-token quote."""
    a, b = colliding_words()
    shared = "the committee met on tuesday to discuss the harbour"
    index = Index()
    index.add("item", f"copper lantern {shared} {a} violet meadow")
    query = tokenize(f"ember falcon {shared} {b} quarry granite")
    args = (np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.array([[2, 2, 2, 2]]))
    cut_run = _quote_runs.longest_runs(
        *args,
        _quote_runs.cut(query.hashes),
        np.array([0, len(query)]),
        _quote_runs.cut(tokenize(f"copper lantern {shared} {a} violet meadow").hashes),
        np.array([0, 15]),
        5,
        quotes.MAX_RUN,
    )
    assert int(cut_run[0]) == 10
    keep = _quote_runs.long_enough(index._contents, *args, [query.hashes], 5, 10, quotes.MAX_RUN)
    assert keep.tolist() == [False]
    assert _quote_runs.long_enough(index._contents, *args, [query.hashes], 5, 9, quotes.MAX_RUN).tolist() == [
        True
    ]


class _CountingLookup:
    """A text lookup over ``texts`` that counts its batch reads (``prefetch``: their sizes) and the items
    read one by one, outside the last batch."""

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts
        self.batch: set[tuple[str, str]] = set()
        self.prefetched: list[int] = []
        self.one_by_one = 0

    def prefetch(self, names: list[tuple[str, str]]) -> None:
        self.batch = set(names)
        self.prefetched.append(len(names))

    def __call__(self, bank: str, item_id: str) -> str | None:
        self.one_by_one += (bank, item_id) not in self.batch
        return self.texts[item_id]


def test_a_batch_reads_its_candidates_texts_in_one_go_even_when_the_cache_overflows() -> None:
    """Candidates beyond the cache's budget are still read in the batch's one prefetch, never one by one,
    and an item kept from an earlier batch is not read again."""
    rng = random.Random(8)
    texts = {f"i{n}": prose(rng, 60) for n in range(30)}

    lookup = _CountingLookup(texts)
    index = Index(text_lookup=lookup)
    for item_id, text in texts.items():
        index.add(item_id, fingerprint(text))
    index._contents.hash_cache = _quote_runs.TokenHashes(budget=10 * 70)  # ten of the thirty items
    posts = [  # seven words of each of five items: a few words in common by chance, no quote
        " and then ".join(" ".join(texts[f"i{n}"].split()[20:27]) for n in range(p, p + 5))
        for p in range(0, 30, 5)
    ]
    assert index.match_many(posts) == [[] for _ in posts]
    assert lookup.one_by_one == 0 and len(lookup.prefetched) == 1
    candidates = lookup.prefetched[0]
    assert candidates > 12  # more than the cache holds
    index._contents.hash_cache = _quote_runs.TokenHashes()
    index.match_many(posts)
    index.match_many(posts)
    assert lookup.one_by_one == 0
    assert lookup.prefetched[1:] == [candidates, 0]  # the second batch finds every item kept


@pytest.mark.parametrize(
    "params", [MatchParams(), MatchParams(min_tokens=3, common_df=2)], ids=["default", "loose"]
)
def test_chaining_once_gives_each_rules_results_as_chaining_twice(params: MatchParams) -> None:
    """``match_batch_both`` chains each query's anchors once and keeps each chain under both rules: the
    same results as the long-text rule's and the quote pass's kernels run apart."""
    from copytrace.fingerprints.batch import fingerprint_many
    from copytrace.index import _matching

    rng = random.Random(21)
    items = {f"i{n}": prose(rng, 120) for n in range(40)}
    index = Index(match_params=params)
    for item_id, text in items.items():
        index.add(item_id, text)
    queries = []
    for n in range(80):
        source = items[f"i{n % 40}"].split()
        start = rng.randrange(0, 100)
        queries.append(
            "A post: " + " ".join(source[start : start + rng.choice((6, 12, 40))]) + " " + prose(rng, 20)
        )
    batch, _ = fingerprint_many(queries)
    search = index._search
    kernel_index = search.contents.kernel_index(None, None)
    strict_params, wide_params = search._kernel_params(-1), search._kernel_params(-1, quotes=True)
    args = (kernel_index, batch.hashes, batch.positions, batch.offsets)
    strict, wide = _matching.match_batch_both(*args, strict_params, wide_params)
    for got, want in zip(wide, _matching.match_batch(*args, wide_params), strict=True):
        assert np.array_equal(got, want)
    for got, want in zip(strict, _matching.match_batch(*args, strict_params), strict=True):
        assert np.array_equal(got, want)
    assert len(strict[0]) and len(wide[0]) > len(strict[0])


def test_token_hashes_shared_by_threads_stay_consistent() -> None:
    """Threads asking for and adding items at once (queries of a service's workers share one index):
    no lost or doubled count, never over the budget."""
    import sys
    import threading

    cache = _quote_runs.TokenHashes(budget=50)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(20_000):
                idx = rng.randrange(40)
                held, _ = cache.get(idx)
                if not held:
                    cache.put(idx, np.zeros(rng.randrange(0, 8), dtype=np.uint16))
                elif rng.random() < 0.1:
                    cache.pop(idx)
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often: without the lock, a KeyError within a run or two
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    held = [cache.get(idx) for idx in range(40)]
    assert cache.size == sum(len(h) for ok, h in held if ok and h is not None) <= 50


def test_a_batch_with_matches_and_quotes_reads_its_texts_in_one_go() -> None:
    """A batch whose queries both copy an item (its spans need the item's text) and quote others (the
    candidates' texts, to measure and verify their runs) asks the text lookup once: the first time, for
    the candidates not kept and the matched items; the next time, with the candidates' cut hashes kept,
    for those measured exactly and the matched items.  Nothing is read one by one, and the answers are
    those of an index holding the texts."""
    rng = random.Random(12)
    texts = {f"i{n}": prose(rng, 80) for n in range(12)}
    said = [
        "the lighthouse keeper painted seventeen violet herons across the granite quarry wall",
        "our orchestra rehearsed the forgotten sonata beneath crumbling basilica arches at midnight",
        "a blacksmith forged copper lanterns for smugglers hiding near the estuary caves",
    ]
    for n, words in zip(range(3, 6), said, strict=True):
        texts[f"i{n}"] = f"{prose(rng, 30)} {words}, {prose(rng, 40)}"

    lookup = _CountingLookup(texts)
    index, kept = Index(text_lookup=lookup), Index()
    for item_id, text in texts.items():
        index.add(item_id, fingerprint(text))
        kept.add(item_id, text)
    posts = [f"Seen today: {' '.join(texts[f'i{n}'].split()[5:60])} and more." for n in range(3)] + [
        f"Someone wrote that {words} and left." for words in said
    ]
    first = index.match_many(posts)
    assert first == kept.match_many(posts)
    assert {m.kind for found in first for m in found} == {"text", "quote"}
    assert len(lookup.prefetched) == 1 and lookup.prefetched[0] >= 6 and lookup.one_by_one == 0
    assert index.match_many(posts) == first
    assert len(lookup.prefetched) == 2 and lookup.prefetched[1] >= 6 and lookup.one_by_one == 0
