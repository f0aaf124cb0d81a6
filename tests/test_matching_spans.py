"""The evidence spans of a reported match read the item's tokens as the index keeps them for the quote pass
(``Contents.item_tokens``): a stream that reports one item again and again tokenizes its text once.  A text
that is not the one fingerprinted still gives query offsets only."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from copytrace import Index, fingerprint
from copytrace.index.evidence import _shared_run, evidence_spans, grown_chains
from copytrace.text.normalize import tokenize

TEXT = (
    "The river rose through the night and by morning the lower town stood in brown water to the "
    "windows of the bakery, while the ferry kept running between the two banks until the afternoon."
)


def test_spans_of_a_reported_item_come_from_its_kept_tokens() -> None:
    index = Index(text_lookup=lambda bank, item_id: TEXT)
    index.add("flood", fingerprint(TEXT))
    query = "A post: " + TEXT
    first = index.match(query)
    assert [m.item_id for m in first] == ["flood"] and first[0].kind == "text"
    kept = index._contents.token_cache[0]
    assert kept[0] == TEXT and len(kept[1]) == int(index._contents.ntok[0])
    again = index.match(query)
    assert again == first and index._contents.token_cache[0][1] is kept[1]  # not tokenized again
    span = first[0].spans[0]
    assert TEXT[span.item_start : span.item_end] == query[span.query_start : span.query_end]


def test_a_text_not_of_the_fingerprint_gives_query_offsets_only() -> None:
    index = Index(text_lookup=lambda bank, item_id: TEXT + " And one more sentence added later.")
    index.add("flood", fingerprint(TEXT))
    found = index.match("A post: " + TEXT)
    assert [m.item_id for m in found] == ["flood"]
    assert all(s.item_start is None and s.query_end > s.query_start for s in found[0].spans)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=40),
    st.lists(st.integers(0, 3), min_size=1, max_size=40),
    st.data(),
)
def test_chains_are_grown_over_every_token_both_texts_share(
    query: list[int], item: list[int], data: st.DataObject
) -> None:
    """A chain is grown back and ahead while the tokens either side are equal in both texts, to the first
    that differs or the end of either text: the comparisons ``_shared_run`` makes, compiled."""
    k = data.draw(st.integers(1, 4), label="k")
    q, i = np.array(query, dtype=np.uint64), np.array(item, dtype=np.uint64)
    chains = []
    for _ in range(data.draw(st.integers(1, 4), label="chains")):
        q0 = data.draw(st.integers(0, max(0, len(q) - k)))
        i0 = data.draw(st.integers(0, max(0, len(i) - k)))
        q1 = data.draw(st.integers(q0, max(q0, len(q) - k)))
        i1 = data.draw(st.integers(i0, max(i0, len(i) - k)))
        chains.append([0, q0, q1, i0, i1, 1])
    assume(all(c[2] + k - 1 < len(q) and c[4] + k - 1 < len(i) for c in chains))
    got = grown_chains(q, i, np.array(chains, dtype=np.int64), k).tolist()
    want = []
    for _, q0, q1, i0, i1, _hits in chains:
        q1, i1 = q1 + k - 1, i1 + k - 1
        back = _shared_run(q[:q0][::-1], i[:i0][::-1])
        ahead = _shared_run(q[q1 + 1 :], i[i1 + 1 :])
        want.append([q0 - back, q1 + ahead, i0 - back, i1 + ahead])
    assert got == want


def test_spans_of_many_chains_are_merged_where_they_overlap_in_both_texts() -> None:
    """Two chains of one passage (winnowing kept k-grams apart) make one span; a chain elsewhere in the
    item makes its own, in query order, whether the chains come as lists or as rows of an array."""
    text = TEXT.split()
    query = tokenize("News: " + TEXT + " and " + " ".join(text[:5]))
    item = tokenize(TEXT)
    n = len(text)
    chains = [[0, n + 2, n + 2, 0, 0, 1], [0, 3, 5, 2, 4, 2], [0, 10, 12, 9, 11, 2]]
    spans = evidence_spans(chains, 3, query, item)
    assert spans == evidence_spans(np.array(chains), 3, query, item)
    assert len(spans) == 2 and spans[0].query_start < spans[1].query_start
    whole = spans[0]
    assert TEXT[whole.item_start : whole.item_end] == TEXT[:-1] and whole.query_start == len("News: ")
