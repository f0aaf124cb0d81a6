"""Adversarial inputs cost about what ordinary text costs: repetition, one repeated character, nested HTML,
alternating scripts and combining marks, as a query and as a banked item; and posts made against a phrase
bank whose phrases share their start.

Each case is compared with 1 MB of ordinary text in the same run (a ratio, so the machine's speed does not
matter); before the bounds, one repeated word cost minutes and gigabytes.  The phrase matcher also counts
the hashes it computes (``PhraseTable.work``), a measure of its cost that no other load on the machine
changes; before its bound, the start of 10,000 phrases repeated cost 95 times ordinary text, and in split
letters 280 times.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import Index, MatchParams, TooShortError
from copytrace.phrases import PhraseTable, phrase_fingerprints

from .reference import assert_index_agrees_with_brute_force

SIZE = 1 << 20  # 1 MB
MAX_RATIO = 10.0


def _fill(unit: str) -> str:
    """``unit`` repeated to about 1 MB of UTF-8."""
    return unit * (SIZE // len(unit.encode("utf-8")))


ADVERSARIAL: dict[str, str] = {
    "repeated-word": _fill("word "),
    "repeated-cjk-character": _fill("字"),
    "repeated-phrase": _fill("death to the occupiers burn their homes "),
    "nested-html": "<div>" * 40_000 + _fill("<p><a href='x'>text</a>") + "</div>" * 40_000,
    "unclosed-tags": "<p>" + _fill("<a "),
    "scripts-and-marks": _fill("aа\u0301bβ\u0308cс\u0327دд\u064e字"),
}


@pytest.fixture(scope="module")
def ordinary(state_union: dict[str, str]) -> str:
    text = "\n\n".join(state_union.values())
    return (text * (SIZE // len(text) + 1))[:SIZE]


def _best_of(runs: int, f: Callable[[], object]) -> float:
    """The least CPU time of this process over ``runs`` calls: what other processes do meanwhile (the suite's
    other workers, when it runs in parallel) does not count, as it would in wall-clock time."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.process_time()
        f()
        best = min(best, time.process_time() - t0)
    return best


@pytest.fixture(scope="module")
def bank(ordinary: str, state_union: dict[str, str]) -> Index:
    """A bank holding ordinary texts and every adversarial text, so each query meets its own kind."""
    index = Index()
    for name, text in list(state_union.items())[:20]:
        index.add(name, text)
    for name, text in ADVERSARIAL.items():
        middle = len(text) // 2
        index.add(name, text[middle - 100_000 : middle + 100_000])
    index.match("warm up the compiled matching code before anything is measured here")
    return index


@pytest.mark.parametrize("case", list(ADVERSARIAL), ids=list(ADVERSARIAL))
def test_adversarial_query_costs_at_most_ten_ordinary_ones(bank: Index, ordinary: str, case: str) -> None:
    base = _best_of(2, lambda: bank.match(ordinary))
    cost = _best_of(2, lambda: bank.match(ADVERSARIAL[case]))
    assert cost <= MAX_RATIO * base, f"{case}: {cost:.3f} s against {base:.3f} s for ordinary text"


@pytest.mark.parametrize("case", list(ADVERSARIAL), ids=list(ADVERSARIAL))
def test_adversarial_item_costs_at_most_ten_ordinary_ones(ordinary: str, case: str) -> None:
    def add(text: str) -> Callable[[], object]:
        def run() -> object:
            index = Index()
            try:
                index.add("x", text)
            except TooShortError:  # markup with no text in it: refused, which is the answer
                return None
            return index.match(text[:50_000])

        return run

    add(ordinary)()  # compiled code loaded before timing
    base = _best_of(2, add(ordinary))
    cost = _best_of(2, add(ADVERSARIAL[case]))
    assert cost <= MAX_RATIO * base, f"{case}: {cost:.3f} s against {base:.3f} s for ordinary text"


def test_a_repeated_passage_is_still_found_with_its_span() -> None:
    """The bound on repeats loses no copy: a post that repeats a banked passage many times matches it."""
    passage = "we will never forget the martyrs of the resistance who gave their lives for the land "
    index = Index()
    index.add("p", passage * 3)
    query = "spam " + passage * 500
    [m] = index.match(query)
    assert m.item_id == "p" and m.item_containment == 1.0
    assert m.spans and m.spans[0].query_start == len("spam ")


@st.composite
def repetitive(draw: st.DrawFn) -> tuple[list[str], str]:
    """Few distinct words, long texts: the same k-gram hash occurs many times in items and queries."""
    vocab = draw(
        st.lists(st.sampled_from(["war", "peace", "land", "law"]), min_size=1, max_size=3, unique=True)
    )
    unit = " ".join(draw(st.lists(st.sampled_from(vocab), min_size=1, max_size=6)))
    items = [
        " ".join([unit] * draw(st.integers(2, 40)) + draw(st.lists(st.sampled_from(vocab), max_size=10)))
        for _ in range(draw(st.integers(1, 3)))
    ]
    query = " ".join([unit] * draw(st.integers(2, 60)))
    return items, query


@given(repetitive())
@settings(max_examples=60, deadline=None, derandomize=True)
def test_repetitive_texts_agree_with_brute_force(corpus: tuple[list[str], str]) -> None:
    items, query = corpus
    assert_index_agrees_with_brute_force(items, query, MatchParams())


# ------------------------------------------------------------------------------------- phrase banks
PHRASE_START = "death to the occupiers burn their homes"
PHRASE_POSTS: dict[str, str] = {
    "shared-start-repeated": _fill(PHRASE_START + " "),  # every phrase begins here, none is completed
    "shared-start-split-letters": _fill(" ".join(PHRASE_START) + "  "),
    "shared-start-glued": _fill(PHRASE_START.replace(" ", "") + " "),
    "shared-start-words-doubled": _fill(" ".join(f"{w} {w}" for w in PHRASE_START.split()) + " "),
    "one-word-doubled-apart": _fill("the the war "),  # a repeat every third word: windows everywhere
}


def _shared_start_phrases(inaugural: dict[str, str]) -> list[str]:
    """10,000 phrases of 8 to 15 words: the same start, then 1 to 8 words of the inaugural addresses."""
    words = " ".join(inaugural.values()).split()
    return [
        PHRASE_START + " " + " ".join(words[(i * 7919 + j * 104729) % len(words)] for j in range(1 + i % 8))
        for i in range(10_000)
    ]


@pytest.fixture(scope="module")
def phrase_table(inaugural: dict[str, str]) -> PhraseTable:
    table = PhraseTable()
    for i, fp in enumerate(phrase_fingerprints(_shared_start_phrases(inaugural))):
        assert fp is not None
        table.add(i, fp)
    table.match_many(["warm up the compiled search: " + PHRASE_START])
    return table


@pytest.fixture(scope="module")
def phrase_index(inaugural: dict[str, str]) -> Index:
    index = Index()
    index.add_many([(f"p{i}", text) for i, text in enumerate(_shared_start_phrases(inaugural))], phrase=True)
    index.match("warm up the compiled search: " + PHRASE_START)
    return index


@pytest.mark.parametrize("case", list(PHRASE_POSTS), ids=list(PHRASE_POSTS))
def test_a_post_against_shared_phrase_starts_hashes_at_most_ten_ordinary_posts(
    phrase_table: PhraseTable, ordinary: str, case: str
) -> None:
    def work(post: str) -> int:
        before = phrase_table.work
        phrase_table.match_many([post])
        return phrase_table.work - before

    base, cost = work(ordinary), work(PHRASE_POSTS[case])
    assert base > 100_000  # the ordinary post is searched: one probe or more a word
    assert cost <= MAX_RATIO * base, f"{case}: {cost} hashes against {base} for ordinary text"


@pytest.mark.parametrize("case", list(PHRASE_POSTS), ids=list(PHRASE_POSTS))
def test_a_post_against_shared_phrase_starts_costs_at_most_ten_ordinary_posts(
    phrase_index: Index, ordinary: str, case: str
) -> None:
    # Taking turns, the least ratio of a pair: the two measurements of a pair are made under the same load
    # (a parallel suite's load moved between a lone ordinary run and a lone adversarial one: 11x, 6-8x alone).
    ratios = []
    for _ in range(3):
        base = _best_of(1, lambda: phrase_index.match(ordinary))
        cost = _best_of(1, lambda: phrase_index.match(PHRASE_POSTS[case]))
        ratios.append((cost / base, cost, base))
    ratio, cost, base = min(ratios)
    assert ratio <= MAX_RATIO, f"{case}: {cost:.3f} s against {base:.3f} s for ordinary text"


def test_a_completed_shared_start_is_still_found(phrase_index: Index, inaugural: dict[str, str]) -> None:
    """The bound loses no phrase: each of a few of the 10,000, spelled evasively inside a post, is found."""
    phrases = _shared_start_phrases(inaugural)
    for i in (0, 1, 4_999, 9_998):
        post = "so they wrote: " + " ".join(phrases[i].upper()) + " !! and left"
        assert f"p{i}" in {m.item_id for m in phrase_index.match(post)}
