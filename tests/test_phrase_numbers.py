"""Numbers glued into words (``copytrace.phrases._numbers``): the breaks, and the phrases found over them."""

from __future__ import annotations

import pytest

from copytrace.phrases import PhraseTable, phrase_fingerprint
from copytrace.phrases._numbers import number_breaks

BREAKS = {
    "year-in-words": ("fiscal1969AndI", [6, 10]),
    "amount-after-a-word": ("than$1000for", [4, 9]),
    "ordinal-then-word": ("the 21stcentury", [8]),
    "ordinal-in-caps": ("21STcentury", [4]),
    "short-numbers-are-leet": ("h3ll0 w0rld 4nd 123go", []),
    "number-alone": ("in 1945, and 21st", []),
    "other-script": ("год2022год", [3, 7]),
}


@pytest.mark.parametrize(("text", "breaks"), BREAKS.values(), ids=BREAKS.keys())
def test_number_breaks(text: str, breaks: list[int]) -> None:
    assert number_breaks(text) == breaks


GLUED_NUMBERS = {  # phrase, query, found
    "year-glued-both-sides": (
        "fiscal 1969. And I urge the Congress",
        "so fiscal1969AndIurgetheCongress now",
        True,
    ),
    "year-glued-at-the-end": ("money for college. In 1992", "so moneyforcollegeIn1992 now", True),
    "year-glued-and-spaced-elsewhere": (
        "been since 1974, and not since",
        "so beensince1974and not since",
        True,
    ),
    "ordinal-glued": ("the 21st century a", "so the 21stcentury a now", True),
    "ordinal-glued-whole": ("late 1990s, had several", "so late1990shadseveral now", True),
    "another-year": ("money for college. In 1992", "so moneyforcollegeIn1993 now", False),
    "year-read-as-leet-elsewhere": ("money for college in igg2", "so moneyforcollegeIn1992 now", True),
    "leet-word-still-leet": ("hello world", "so h3110world now", True),
}


@pytest.mark.parametrize(("phrase", "query", "found"), GLUED_NUMBERS.values(), ids=GLUED_NUMBERS.keys())
def test_a_number_glued_into_words_is_found_as_the_number(phrase: str, query: str, found: bool) -> None:
    table = PhraseTable()
    table.add(0, phrase_fingerprint(phrase))
    assert bool(table.match_many([query])[0]) is found


def test_the_span_covers_the_glued_token_and_a_find_in_the_query_itself_is_reported_once() -> None:
    table = PhraseTable()
    table.add(0, phrase_fingerprint("money for college. In 1992"))
    table.add(1, phrase_fingerprint("the 21st century"))
    query = "He said: moneyforcollegeIn1992! Then the 21st century, and the 21stcentury."
    found = table.match_many([query])[0]
    assert [(m.item, [query[a:b] for a, b in m.spans]) for m in found] == [
        (0, ["moneyforcollegeIn1992"]),
        (1, ["the 21st century", "the 21stcentury"]),
    ]
