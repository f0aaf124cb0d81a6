"""A batch of queries is ranked as each query alone: the score floor, the phrase items, the best version of
each copy family, the limit and the order of the matches are picked for a whole batch at once
(``Search._matches``), and must not mix queries that reach the same family or item."""

from __future__ import annotations

import random

import pytest

from copytrace import Index, MatchParams

FILLER = (
    "The weather was mild this weekend and the market by the river stayed open late. Children played "
    "football on the green while their parents talked about the harvest, the price of bread and the new "
    "bus timetable that nobody seems to understand."
)


def versions_of_000(text_000: str, n: int) -> dict[str, str]:
    """Versions of one article: each with its own first line, half with 2% of its words edited."""
    rng = random.Random(9)
    out = {}
    for i in range(n):
        words = text_000.split(" ")
        if i % 2:
            for j in rng.sample(range(len(words)), len(words) // 50):
                words[j] = rng.choice(["indeed", "truly", "again", "today"])
        channel = rng.randrange(100, 999)
        out[f"repost-{i:02d}"] = f"Version {i} repost from channel @news{channel}\n" + " ".join(words)
    return out


def excerpt(text: str, n_words: int, start: int) -> str:
    return FILLER + " " + " ".join(text.split()[start : start + n_words]) + " " + FILLER


@pytest.fixture(scope="module")
def index(text_000: str, text_001: str, state_union: dict[str, str]) -> Index:
    idx = Index(match_params=MatchParams(min_score=0.0))
    for name, text in versions_of_000(text_000, 6).items():  # one family of six versions
        idx.add(name, text, bank="news")
    idx.add("001", text_001, bank="news")
    for name in sorted(state_union)[:6]:
        idx.add(name, state_union[name], bank="speeches")
    idx.add("001-copy", text_001, bank="speeches")  # the same text in another bank: two results
    return idx


def batch(text_000: str, text_001: str, state_union: dict[str, str]) -> list[str]:
    speech = [state_union[n] for n in sorted(state_union)[:6]]
    out = [
        excerpt(text_000, 60, 30),  # every version of the family
        excerpt(text_001, 60, 10),  # an item banked twice, in two banks
        FILLER,  # nothing
        excerpt(text_000, 40, 250) + " " + " ".join(speech[1].split()[100:160]),  # a family and a speech
        excerpt(text_000, 60, 30),  # the same query again, next to the first
        " ".join(speech[2].split()[:80]) + " " + " ".join(text_001.split()[40:100]),
        "too short",
        " ".join(speech[3].split()[50:62]) + " " + FILLER,  # a short run: a quote candidate
    ]
    return out + out[::-1]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"per_family": False}, {"limit": 1}, {"limit": 2, "per_family": False}, {"banks": ["speeches"]}],
)
def test_a_batch_ranks_each_query_as_alone(
    index: Index, text_000: str, text_001: str, state_union: dict[str, str], kwargs: dict[str, object]
) -> None:
    queries = batch(text_000, text_001, state_union)
    names = [f"q{i}" for i in range(len(queries))]
    together = index.match_many(queries, queries=names, **kwargs)  # type: ignore[arg-type]
    alone = [index.match_many([q], queries=[n], **kwargs)[0] for q, n in zip(queries, names, strict=True)]  # type: ignore[arg-type]
    assert together == alone
    # the batch reaches families and items from several queries at once, and ranks more than one match
    if "limit" not in kwargs:
        assert sum(len(m) > 1 for m in together) >= 2
        assert {m.item_id for ms in together for m in ms} & {"001", "001-copy"}


def test_a_score_floor_applies_per_result(text_000: str, text_001: str, state_union: dict[str, str]) -> None:
    idx = Index(match_params=MatchParams(min_score=0.3))
    for name, text in versions_of_000(text_000, 4).items():
        idx.add(name, text, bank="news")
    idx.add("001", text_001, bank="news")
    queries = batch(text_000, text_001, state_union)
    together = idx.match_many(queries)
    assert together == [idx.match_many([q])[0] for q in queries]
    assert all(m.score >= 0.3 for ms in together for m in ms)
