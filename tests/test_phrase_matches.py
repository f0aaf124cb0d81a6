"""Phrase matches of an index (``copytrace.index._phrase_matches``): the item side of each span, the
matches of a query in order of first occurrence, and the same answer whether items are found together or
one at a time."""

from __future__ import annotations

import pytest

from copytrace import Index
from copytrace.phrases import PhraseTable, phrase_fingerprint
from copytrace.text.phrase_fold import phrase_tokens

ITEMS = {
    "plain": ("  Death to the occupiers!  ", False),
    "html": ("<p>burn <b>their</b> homes tonight</p>", True),
    "tail": ("... no more war ...", False),
}
QUERY = "so: burn their h0mes tonight, D3ATH to the 0ccupiers, no more war, no more war."


def _index() -> Index:
    index = Index()
    for item_id, (text, html) in ITEMS.items():
        index.add(item_id, text, phrase=True, html=html)
    return index


def _item_span(item_id: str) -> tuple[int, int]:
    text, html = ITEMS[item_id]
    toks = phrase_tokens(text, html=html)
    return int(toks.starts[0]), int(toks.ends[-1])


def test_items_found_together_have_the_spans_of_their_own_text_plain_or_html() -> None:
    (found,) = _index().match_many([QUERY], html=False)
    assert [m.item_id for m in found] == ["html", "plain", "tail"]  # by score, then id: all 1.0
    for m in found:
        assert m.kind == "phrase"
        assert {(s.item_start, s.item_end) for s in m.spans} == {_item_span(m.item_id)}
    by_id = {m.item_id: m for m in found}
    assert [QUERY[s.query_start : s.query_end] for s in by_id["tail"].spans] == ["no more war"] * 2
    assert ITEMS["html"][0][slice(*_item_span("html"))] == "burn <b>their</b> homes tonight"


@pytest.mark.parametrize("order", [["plain", "html", "tail"], ["tail", "html", "plain"]], ids=["a", "b"])
def test_the_same_matches_one_query_at_a_time_and_in_a_batch(order: list[str]) -> None:
    queries = [f"they said {ITEMS[i][0]} and left" for i in order] + [QUERY]
    batch = [[m.to_dict() for m in ms] for ms in _index().match_many(queries, html=False)]
    alone = [[m.to_dict() for m in _index().match(q, html=False)] for q in queries]
    assert batch == alone


def test_a_table_reports_each_text_and_item_once_in_order_of_first_occurrence() -> None:
    table = PhraseTable()
    for item, text in enumerate(["no more war", "burn their homes", "no more war"]):
        table.add(item, phrase_fingerprint(text))
    query = "burn their homes! no more war. burn their homes"
    (found,) = table.match_many([query])
    assert [(m.item, [query[a:b] for a, b in m.spans]) for m in found] == [
        (1, ["burn their homes", "burn their homes"]),
        (0, ["no more war"]),
        (2, ["no more war"]),
    ]
    assert found[0].coverage == pytest.approx(6 / 9)


def _bank_index() -> Index:
    index = _index()
    index.add("twice", "no more war", phrase=True)  # the same phrase as 'tail': found together
    index.add("other", "burn their homes", phrase=True, bank="calls")
    return index


@pytest.mark.parametrize("banks", [None, ["default"], ["calls"]], ids=["all", "default", "calls"])
def test_match_phrases_finds_what_match_many_finds_as_columns(banks: list[str] | None) -> None:
    index = _bank_index()
    queries = ["peace", QUERY, "D E A T H to the occupiers", "", "no more war " * 20, "burn their homes"]
    names = [f"q{i}" for i in range(len(queries))]
    want = index.match_many(queries, html=False, banks=banks, queries=names)
    found = index.match_phrases(queries, html=False, banks=banks, queries=names)
    assert [found.matches(q) for q in range(len(queries))] == want
    assert found.matched().tolist() == [q for q, ms in enumerate(want) if ms]
    assert len(found) == sum(map(len, want)) == len(found.hits.item)
    assert [sorted(ms, key=lambda m: (m.bank, m.item_id)) for ms in found.lists()] == want
    for ms in found.lists():  # in order of first occurrence
        assert [m.spans[0].query_start for m in ms] == sorted(m.spans[0].query_start for m in ms)
    assert sorted(found.item_ids) == sorted({m.item_id for ms in want for m in ms})


def test_match_phrases_of_a_bank_of_texts_reports_its_short_items_only() -> None:
    index = Index()
    index.add("long", "the quick brown fox jumps over the lazy dog near the river bank today while it rains")
    index.add("short", "burn their homes")
    found = index.match_phrases(["they burn their homes and the quick brown fox jumps over the lazy dog"])
    assert [m.item_id for m in found.matches(0)] == ["short"] and found.matches(0)[0].kind == "phrase"
    assert len(Index().match_phrases(["anything"])) == 0
