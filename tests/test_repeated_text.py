"""A banked text that repeats one word, character or phrase is found by its identical copy, and by a query
that repeats the same unit at least as far as the item's stored fingerprints reach; it is not found by a
short run of the unit, nor by an unrelated text, and a repeated word does not match a text that merely
holds a run of it.  One word of one repeated letter is refused at banking, naming the item.

Winnowing a text that repeats a unit of a few words keeps fingerprints of one hash (or a few), and the index
stores the first ``MAX_REPEATS`` occurrences of each: the evidence rule's "two distinct shared
fingerprints" can never hold, so such an item is found when the query covers every fingerprint it stores,
in order, each of them rare in the bank (``copytrace.index._matching.chain_anchors``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from copytrace import Index, InputError
from copytrace.index import MAX_REPEATS

ARTICLE = (
    "The council met on Tuesday to discuss the new budget for the harbour district. Members argued about "
    "the cost of repairs to the old pier and the schedule for dredging the channel before the winter storms. "
    "A decision on the ferry timetable was postponed until the spring meeting of the full assembly."
)


def _words(word: str, n: int) -> str:
    return " ".join([word] * n)


REPETITIVE = {
    "one-word": _words("aaaa", 30),
    "short-word": _words("ha", 40),
    "common-word": _words("the", 40),
    "one-letter-words": _words("x", 500),
    "two-word-unit": _words("ab cd", 30),
    "cjk-character": "字" * 300,
    "one-sentence": _words("We will never forgive them for what they did to our people.", 12),
    "mostly-one-phrase": "Listen now. "
    + _words("Death to the traitors of the nation!", 10)
    + " Signed, the committee of 12 March.",
}


@pytest.mark.parametrize("text", REPETITIVE.values(), ids=REPETITIVE.keys())
def test_an_identical_copy_of_a_repetitive_text_is_found(text: str) -> None:
    index = Index()
    index.add("item", text)
    index.add("article", ARTICLE)
    (m,) = index.match(text)
    assert (m.item_id, m.kind, m.item_containment) == ("item", "text", 1.0)
    (span,) = m.spans  # the whole text in both, to its last token: the run is grown over every token
    end = len(text.rstrip(".!"))
    assert (span.query_start, span.query_end, span.item_start, span.item_end) == (0, end, 0, end)


@pytest.mark.parametrize("text", REPETITIVE.values(), ids=REPETITIVE.keys())
def test_an_identical_fingerprint_of_a_repetitive_text_is_found(text: str) -> None:
    index = Index()
    fp = index.add("item", index.add("probe", text))  # stored as a fingerprint only: no text to align on
    index.remove("probe")
    assert [(m.item_id, m.kind) for m in index.match_fingerprint(fp)] == [("item", "text")]


def test_a_short_run_of_the_repeated_word_is_not_the_item() -> None:
    index = Index()
    index.add("laugh", _words("ha", 40))
    assert index.match(_words("ha", 12)) == []
    assert index.match("lol that was funny " + _words("ha", 6) + " see you tomorrow at the game") == []


def test_a_query_repeating_the_word_past_the_stored_fingerprints_finds_the_item() -> None:
    """The item stores its first ``MAX_REPEATS`` fingerprints of the word; a query that repeats the word
    over them is an excerpt of the item (as a long shared run of any text is), or contains it."""
    assert MAX_REPEATS == 8  # 8 fingerprints from token 3 on (k + window - 1 = 8): 15 words cover them
    index = Index()
    index.add("laugh", _words("ha", 40))
    for n in (15, 40, 500):
        (m,) = index.match(_words("ha", n))
        assert m.item_id == "laugh"
    post = "lol that was funny " + _words("ha", 20) + " see you"
    (m,) = index.match(post)
    (span,) = m.spans
    assert post[span.query_start : span.query_end] == _words("ha", 20)


def test_a_repeated_word_does_not_match_a_text_that_holds_a_run_of_it() -> None:
    index = Index()
    index.add("article", ARTICLE + " " + _words("ha", 30) + " " + ARTICLE.upper()[::-1])
    index.add("the", _words("the", 40))
    assert index.match(_words("ha", 40)) == []
    assert index.match(_words("aaaa", 30)) == []
    assert [m.item_id for m in index.match(_words("the", 40))] == ["the"]


def test_repetitive_items_match_no_unrelated_text() -> None:
    index = Index()
    for name, text in REPETITIVE.items():
        index.add(name, text)
    assert index.match(ARTICLE) == []
    found = {name: [m.item_id for m in index.match(text)] for name, text in REPETITIVE.items()}
    assert found == {name: [name] for name in REPETITIVE}


def test_a_repeated_word_that_many_unrelated_items_hold_whole_is_boilerplate() -> None:
    """Each distinct fingerprint of a covered item must be rare in the bank: when more than ``common_df``
    unrelated families are the same repeated word, the word is no evidence of any of them."""
    index = Index()
    for i in range(12):
        index.add(f"laugh{i}", _words("ha", 40 + i), links=[])
    assert index.n_families() == 12
    assert index.match(_words("ha", 40)) == []


@pytest.mark.parametrize("text", ["x" * 500, "a" * 10], ids=["x-500", "a-10"])
def test_one_word_of_one_repeated_letter_is_refused_naming_the_item(text: str) -> None:
    index = Index()
    with pytest.raises(InputError, match=r"item 'line'.*one word of 1 letter.*two words or more"):
        index.add("line", text)
    assert len(index) == 0


def test_the_cli_finds_an_identical_copy_of_one_repeated_word(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "aaaa.txt"
    path.write_text(_words("aaaa", 30), encoding="utf-8")
    assert cli("bank", "create", "b")[0] == 0
    assert cli("bank", "add", "b", path)[0] == 0
    code, out, _ = cli("match", path, "--bank", "b")
    assert code == 0
    (m,) = [json.loads(line) for line in out.splitlines()]
    assert (m["item_id"], m["kind"], m["item_containment"]) == ("aaaa", "text", 1.0)
    assert m["spans"] == [{"query_start": 0, "query_end": 149, "item_start": 0, "item_end": 149}]


def test_the_cli_refuses_a_line_of_one_repeated_letter_naming_the_file(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "xs.txt"
    path.write_text("x" * 500, encoding="utf-8")
    assert cli("bank", "create", "b")[0] == 0
    code, out, err = cli("bank", "add", "b", path)
    assert code == 2 and out == ""
    assert f"{path}: the item is one word of 1 letter ('x')" in err and "two words or more" in err
