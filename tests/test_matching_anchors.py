"""The compiled anchor gathering leaves out the items no chain of theirs can count for (their anchors weigh
too little in all, and they are not matched whole) before it sorts and chains: the kernels must answer
exactly as chaining every anchor of every posting does.  The reference here gathers every anchor in plain
Python (every posting of every query hash, the families counted with a set) and chains them with
``chain_anchors``; banks with shared boilerplate, copy families, removed items, a delta, a bank filter,
an ``added before`` bound and a budget of anchors per hash are all compared."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from copytrace import Index, MatchParams
from copytrace.fingerprints.batch import fingerprint_many
from copytrace.index import _matching
from copytrace.index._delta import lookup_runs

WORDS = [f"w{n}" for n in range(40)]
"""A small vocabulary: the same 5-grams in many items, so most anchors weigh less than 1."""
FOOTER = [f"footer{n}" for n in range(14)]
"""Boilerplate that many items end with: hashes with many postings."""


def all_anchors(
    index: tuple[Any, ...], q_hashes: np.ndarray, params: tuple[Any, ...]
) -> tuple[np.ndarray, ...]:
    """Every anchor of a query, ``(a_item, a_q, a_pos, a_df)`` in (item, query index) order, each
    posting visited in Python: the anchors ``query_anchors`` gathered before it left any item out."""
    mb, mo, mt, mr, mp, rb, ro, doff, dx, dr, dp, page_item, page_no, allowed, item_end, family = index[:16]
    _common_df, max_postings, max_repeats, max_anchors = params[:4]
    lo1, hi1 = _matching.lookup(mb, mo, mt, q_hashes)
    lo2, hi2 = lookup_runs(rb, ro, doff, dx, q_hashes)
    first = _matching.first_repeats(q_hashes, max_repeats)
    df = np.zeros(len(q_hashes), dtype=np.int64)
    found: list[tuple[int, int, int]] = []
    for j in range(len(q_hashes)):
        postings = [(int(mr[p]), int(mp[p])) for p in range(lo1[j], hi1[j])]
        for r in range(len(rb)):
            postings += [(int(dr[p]), int(dp[p])) for p in range(lo2[r, j], hi2[r, j])]
        if len(postings) > max_postings:
            df[j] = len(postings)
            continue
        held = [(int(page_item[ref]), (int(page_no[ref]) << 16) + pos) for ref, pos in postings]
        held = [(it, at) for it, at in held if it < item_end and (len(allowed) == 0 or allowed[it])]
        df[j] = len({int(family[it]) for it, _ in held})
        if first[j]:
            found += [(it, j, at) for it, at in (held if max_anchors < 0 else held[:max_anchors])]
    found.sort(key=lambda a: (a[0], a[1]))  # stable: an item's positions of one hash stay in order
    a = np.array(found, dtype=np.int64).reshape(-1, 3)
    return a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), df[a[:, 1]]


def reference(
    index: tuple[Any, ...], q_hashes: np.ndarray, q_pos: np.ndarray, params: tuple[Any, ...]
) -> tuple[np.ndarray, ...]:
    """``match_query``'s answer from every anchor, chained by ``chain_anchors``."""
    a_item, a_q, a_pos, a_df = all_anchors(index, q_hashes, params)
    common_df, _, _, _, max_gap, max_skew, min_evidence, min_span, near = params
    return tuple(
        _matching.chain_anchors(
            a_item,
            a_q,
            a_pos,
            a_df,
            q_pos,
            q_hashes,
            index[17],
            common_df,
            max_gap,
            max_skew,
            min_evidence,
            min_span,
            near,
        )
    )


def same(got: tuple[np.ndarray, ...], want: tuple[np.ndarray, ...]) -> bool:
    return len(got) == len(want) and all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def bank_of_boilerplate(params: MatchParams, seed: int) -> tuple[Index, list[str]]:
    """Items of a small vocabulary in two banks, many with one footer, with versions (copy families), some
    removed, the last ones left in the delta; and queries mixing passages of items with common words."""
    rng = random.Random(seed)
    index = Index(match_params=params)
    texts = []
    for n in range(160):
        if texts and rng.random() < 0.2:  # a version of an earlier item: linked into its family
            words = rng.choice(texts).split()
            at = rng.randrange(len(words))
            words[at : at + 2] = rng.choices(WORDS, k=rng.randrange(0, 4))
        else:
            words = rng.choices(WORDS[: rng.choice((8, 40))], k=rng.randrange(3, 60))
            if rng.random() < 0.4:
                words += FOOTER
        texts.append(" ".join(words))
        index.add(f"i{n}", texts[-1], bank="a" if n % 3 else "b")
        if n == 120:
            index.flush()  # the rest stays in the delta's runs
    for n in rng.sample(range(160), 12):
        index.remove(f"i{n}", bank="a" if n % 3 else "b")
    queries = []
    for _ in range(60):
        source = rng.choice(texts).split()
        at = rng.randrange(len(source))
        footer = FOOTER if rng.random() < 0.3 else []
        queries.append(
            " ".join(
                rng.choices(WORDS, k=rng.randrange(0, 20)) + source[at : at + rng.randrange(3, 40)] + footer
            )
        )
    return index, queries


PARAMS = [
    pytest.param(MatchParams(), id="default"),
    pytest.param(MatchParams(common_df=2), id="common-df-2"),
    pytest.param(MatchParams(common_df=1, min_evidence=0.5, min_tokens=3), id="weak-evidence"),
    pytest.param(MatchParams(common_df=3, min_evidence=4.0), id="strong-evidence"),
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("seed", [1, 2], ids=["seed-1", "seed-2"])
def test_batch_kernels_answer_as_chaining_every_anchor(params: MatchParams, seed: int) -> None:
    """``match_batch`` and ``match_batch_both`` (both rules, chained once) over the whole index and over
    one bank: each query's results are the reference's."""
    index, queries = bank_of_boilerplate(params, seed)
    search = index._search
    batch, _ = fingerprint_many(queries)
    strict_params, wide_params = search._kernel_params(-1), search._kernel_params(-1, quotes=True)
    starts = batch.offsets
    matched = 0
    for banks in (None, ("a",)):
        kernel_index = search.contents.kernel_index(banks, None)
        args = (kernel_index, batch.hashes, batch.positions, starts)
        strict, wide = _matching.match_batch_both(*args, strict_params, wide_params)
        for got_all, rule in ((strict, strict_params), (wide, wide_params)):
            assert same(tuple(got_all), tuple(_matching.match_batch(*args, rule)))
            r_query, *results, segs = got_all
            for i in range(len(queries)):
                a, b = int(starts[i]), int(starts[i + 1])
                want = reference(kernel_index, batch.hashes[a:b], batch.positions[a:b], rule)
                mine = np.flatnonzero(r_query == i)
                got = [r[mine] for r in results]
                chains = segs[np.isin(segs[:, 0], mine)].copy()
                if len(mine):
                    chains[:, 0] -= mine[0]
                assert same((*got, chains), want), (banks, i)
                matched += len(mine)
    assert matched  # the queries do match: the comparison is not of empty answers


@pytest.mark.parametrize("params", PARAMS)
def test_one_query_with_an_anchor_budget_answers_as_chaining_every_anchor(params: MatchParams) -> None:
    """``match_query`` as linking calls it: items added before a bound, at most a few anchors per hash
    (the earliest items holding it, counted over every posting, not only the items kept)."""
    index, queries = bank_of_boilerplate(params, 3)
    search = index._search
    n = 0
    for before in (None, 90):
        kernel_index = search.contents.kernel_index(None, before)
        for max_anchors in (-1, 1, 3):
            kernel_params = search._kernel_params(max_anchors)
            for text in queries:
                batch, _ = fingerprint_many([text])
                got = _matching.match_query(kernel_index, batch.hashes, batch.positions, kernel_params)
                want = reference(kernel_index, batch.hashes, batch.positions, kernel_params)
                assert same(tuple(got), want), (before, max_anchors, text)
                n += len(got[0])
    assert n
