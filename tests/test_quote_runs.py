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
from copytrace.text.normalize import Tokens

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
