"""The evidence spans of a reported match read the item's tokens as the index keeps them for the quote pass
(``Contents.item_tokens``): a stream that reports one item again and again tokenizes its text once.  A text
that is not the one fingerprinted still gives query offsets only."""

from __future__ import annotations

from copytrace import Index, fingerprint

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
