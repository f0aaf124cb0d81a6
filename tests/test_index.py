"""The index on real data: the canonical pair, excerpts in unrelated text, boilerplate, scripts, obfuscation;
and against brute force."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import (
    DuplicateItemError,
    Index,
    InputError,
    MatchParams,
    ParameterMismatchError,
    TooShortError,
    UnknownItemError,
    fingerprint,
    normalize,
    tokenize,
)
from copytrace.index import _postings
from copytrace.phrases import phrase_fingerprint

from .conftest import FOOTER
from .reference import assert_index_agrees_with_brute_force


def _words_with_offsets(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def _tokens_between(text: str, a: int, b: int) -> int:
    lo, hi = sorted((a, b))
    return len(tokenize(text[lo:hi]))


@pytest.fixture(scope="module")
def canonical_index(text_000: str) -> Index:
    index = Index()
    index.add("000", text_000, bank="news")
    return index


def test_republished_copy_matches_the_original(canonical_index: Index, text_000: str, text_001: str) -> None:
    (m,) = canonical_index.match(text_001)
    assert (m.bank, m.item_id) == ("news", "000")
    assert m.item_containment >= 0.9 and m.query_containment >= 0.9
    for s in m.spans:
        assert normalize(text_001[s.query_start : s.query_end]) == normalize(
            text_000[s.item_start : s.item_end]
        )
    covered = sum(s.query_end - s.query_start for s in m.spans)
    assert covered / len(text_001) > 0.95


def test_original_matches_the_republished_copy(text_000: str, text_001: str) -> None:
    index = Index()
    index.add("001", text_001)
    (m,) = index.match(text_000)
    assert m.item_containment >= 0.9


@pytest.mark.parametrize("seed", range(8), ids=[f"seed{i}" for i in range(8)])
@pytest.mark.parametrize("source", ["000", "001"])
def test_thirty_word_excerpt_inside_unrelated_text_is_found_and_located(
    canonical_index: Index, text_000: str, text_001: str, state_union: dict[str, str], seed: int, source: str
) -> None:
    rng = random.Random(seed)
    src = text_000 if source == "000" else text_001
    words = _words_with_offsets(src)
    start = rng.randrange(0, len(words) - 30)
    excerpt = src[words[start][0] : words[start + 29][1]]
    host = rng.choice(sorted(state_union.values()))
    paragraphs = [p for p in host.split("\n") if len(p.split()) > 60]
    para = rng.choice(paragraphs)
    cut = _words_with_offsets(para)[len(para.split()) // 2][0]
    query = para[:cut] + excerpt + " " + para[cut:]
    truth = (cut, cut + len(excerpt))
    (m,) = canonical_index.match(query)
    assert m.item_id == "000"
    (span,) = m.spans
    assert _tokens_between(query, span.query_start, truth[0]) <= 1
    assert _tokens_between(query, span.query_end, truth[1]) <= 1


def test_licence_footer_alone_does_not_match(
    canonical_index: Index, text_001: str, state_union: dict[str, str]
) -> None:
    assert canonical_index.match(FOOTER) == []
    # A bank of the publisher's articles: every one ends with the same footer.
    index = Index()
    index.add("001", text_001)
    for name, text in list(state_union.items())[:20]:
        index.add(name, text + "\n" + FOOTER)
    assert index.match(FOOTER) == []
    assert index.match("Reported today. " + FOOTER + " More news follows tomorrow.") == []
    (m,) = index.match(text_001)
    assert m.item_id == "001"


def test_persian_editions_typed_differently_match(udhr: dict[str, str]) -> None:
    index = Index()
    index.add("pes_1", udhr["pes_1"])
    (m,) = index.match(udhr["pes_2"])
    assert m.item_id == "pes_1" and m.item_containment > 0.5 and m.query_containment > 0.5


@pytest.mark.parametrize("lang", ["cmn_hans", "jpn", "tha", "arb", "hin", "rus", "heb", "kor"])
def test_an_excerpt_is_found_in_every_script(udhr: dict[str, str], lang: str) -> None:
    index = Index()
    for name, text in udhr.items():
        index.add(name, text)
    text = udhr[lang]
    excerpt = text[len(text) // 2 : len(text) // 2 + 250]
    found = index.match("unrelated words before it " + excerpt + " and unrelated after")
    assert [m.item_id for m in found][:1] == [lang]


def test_obfuscated_copy_with_lookalikes_and_zero_width_spaces_matches(
    canonical_index: Index, text_000: str
) -> None:
    swap = str.maketrans({"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441"})
    obfuscated = " ".join(w[:2] + "\u200b" + w[2:] for w in text_000.translate(swap).split(" "))
    assert obfuscated != text_000
    (m,) = canonical_index.match(obfuscated)
    assert m.item_containment >= 0.9


def test_html_copy_matches_with_spans_in_the_markup(canonical_index: Index, text_000: str) -> None:
    paragraphs = text_000.split("\n")
    page = (
        "<html><body>" + "".join(f"<p>{p.replace('’', '&rsquo;')}</p>" for p in paragraphs) + "</body></html>"
    )
    (m,) = canonical_index.match(page)
    assert m.item_containment >= 0.9
    first = m.spans[0]
    assert page[first.query_start :].startswith("Martyr Qassem Soleimani and his role")
    assert page[: m.spans[-1].query_end].endswith("name ‘Martyr of Al-Aqsa")


def test_state_union_addresses_match_each_other_only_on_shared_text(state_union: dict[str, str]) -> None:
    index = Index()
    for name, text in state_union.items():
        index.add(name, text)
    k = index.params.k
    for name, text in state_union.items():
        for m in index.match(text):
            if m.item_id == name:
                assert m.item_containment == 1.0
                continue
            assert m.score < 0.05, (name, m.item_id)  # headers, salutations, quotes: never a copy of a speech
            other = state_union[m.item_id]
            for s in m.spans:
                q = tokenize(text[s.query_start : s.query_end]).hashes.tolist()
                i = tokenize(other[s.item_start : s.item_end]).hashes.tolist()
                shared = _tokens_in_shared_kgrams(q, i, k)
                assert shared >= 10, (name, m.item_id, text[s.query_start : s.query_end])


def _tokens_in_shared_kgrams(a: list[int], b: list[int], k: int) -> int:
    """How many tokens of ``a`` lie in a k-gram that also occurs in ``b``: text the two truly share."""
    grams = {tuple(b[j : j + k]) for j in range(len(b) - k + 1)}
    covered = set()
    for j in range(len(a) - k + 1):
        if tuple(a[j : j + k]) in grams:
            covered.update(range(j, j + k))
    return len(covered)


VOCAB = [
    "war",
    "peace",
    "nation",
    "people",
    "freedom",
    "law",
    "union",
    "state",
    "congress",
    "power",
    "duty",
    "honor",
    "land",
]


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[str], str]:
    base = [" ".join(draw(st.lists(st.sampled_from(VOCAB), min_size=0, max_size=60))) for _ in range(4)]
    items = []
    for _ in range(draw(st.integers(1, 6))):
        parts = draw(st.lists(st.sampled_from(base), min_size=1, max_size=3))
        items.append(" ".join([*parts, " ".join(draw(st.lists(st.sampled_from(VOCAB), max_size=20)))]))
    query = " ".join(draw(st.lists(st.sampled_from(base + items), min_size=1, max_size=3)))
    return items, query


@given(corpora(), st.sampled_from([MatchParams(), MatchParams(common_df=1), MatchParams(min_tokens=5)]))
@settings(max_examples=150, deadline=None)
def test_index_agrees_with_brute_force(corpus: tuple[list[str], str], mp: MatchParams) -> None:
    items, query = corpus
    assert_index_agrees_with_brute_force(items, query, mp)


@given(st.lists(st.sampled_from(VOCAB), min_size=12, max_size=80), st.data())
@settings(max_examples=100, deadline=None)
def test_spans_slice_back_to_the_matched_text(words: list[str], data: st.DataObject) -> None:
    item = " ".join(words)
    index = Index()
    index.add("x", item)
    a = data.draw(st.integers(0, len(words) - 10))
    b = data.draw(st.integers(a + 10, len(words)))
    filler = " ".join(data.draw(st.lists(st.sampled_from(["alpha", "omega", "zulu"]), max_size=15)))
    query = filler + " " + " ".join(words[a:b]) + " " + filler
    for m in index.match(query):
        for s in m.spans:
            assert normalize(query[s.query_start : s.query_end]) == normalize(item[s.item_start : s.item_end])


def test_incremental_additions_agree_with_a_fresh_index(state_union: dict[str, str]) -> None:
    names = sorted(state_union)
    grown = Index()
    for name in names:
        grown.add(name, state_union[name])
        grown.match(state_union[name][:2000])  # interleave queries with additions: exercises the delta
    fresh = Index()
    for name in names:
        fresh.add(name, state_union[name])
    for name in names[::7]:
        assert grown.match(state_union[name]) == fresh.match(state_union[name])
    assert grown.n_fingerprints == fresh.n_fingerprints


def test_remove_readd_and_persistence(tmp_path, text_000: str, text_001: str) -> None:  # type: ignore[no-untyped-def]
    index = Index()
    index.add("000", text_000, bank="a")
    index.add("001", text_001, bank="b")
    with pytest.raises(DuplicateItemError):
        index.add("000", text_000, bank="a")
    assert {m.bank for m in index.match(text_000)} == {"a", "b"}
    assert {m.bank for m in index.match(text_000, banks=["b"])} == {"b"}
    index.remove("001", bank="b")
    with pytest.raises(UnknownItemError):
        index.remove("001", bank="b")
    assert [m.item_id for m in index.match(text_001)] == ["000"]
    path = tmp_path / "index.ctidx"
    index.save(path)
    loaded = Index.load(path)
    assert loaded.match(text_001) == index.match(text_001)
    assert len(loaded) == 1 and ("a", "000") in loaded
    loaded.add("002", text_001, bank="a")  # after the snapshot, beside it
    assert loaded.present(["000", "001", "002", "x"], bank="a") == [True, False, True, False]
    assert loaded.present(["000", "001", "002"], bank="b") == [False, False, False]
    assert loaded.links_of(["000", "002"], bank="a") == [loaded.links("000", bank="a"), ["000"]]
    with pytest.raises(UnknownItemError):
        loaded.links_of(["000", "001"], bank="a")


def test_saving_right_after_adding_keeps_every_item(tmp_path, text_000: str, text_001: str) -> None:  # type: ignore[no-untyped-def]
    index = Index()
    index.add("000", text_000)
    path = tmp_path / "fresh.ctidx"
    index.save(path)  # no query has flushed the additions yet
    (m,) = Index.load(path).match(text_001)
    assert m.item_id == "000" and m.spans[0].item_start is not None


def test_churn_keeps_memory_to_the_live_items_and_answers_unchanged(state_union: dict[str, str]) -> None:
    """Thousands of additions and removals: the index holds what a fresh index of the survivors holds."""
    names = sorted(state_union)
    churned = Index()
    for n in range(3000):
        name = names[n % len(names)]
        churned.add(f"{name}#{n}", state_union[name], bank=f"bank{n % 3}")
        if n >= 5:  # keep the five newest copies
            old = n - 5
            churned.remove(f"{names[old % len(names)]}#{old}", bank=f"bank{old % 3}")
    fresh = Index()
    for n in range(2995, 3000):
        fresh.add(f"{names[n % len(names)]}#{n}", state_union[names[n % len(names)]], bank=f"bank{n % 3}")
    assert len(churned) == 5 and sorted(churned.items()) == sorted(fresh.items())
    assert churned.nbytes <= 2 * fresh.nbytes + 64 * 16  # per-item arrays may keep spare capacity
    assert len(churned._contents.names) <= 1024 + 5
    for n in range(2995, 3000):
        text = state_union[names[n % len(names)]]
        assert churned.match(text) == fresh.match(text)
        assert churned.match(text, banks=["bank1"]) == fresh.match(text, banks=["bank1"])


def test_compact_storage(state_union: dict[str, str]) -> None:
    index = Index()
    for name, text in state_union.items():
        index.add(name, text)
    assert index.nbytes / index.n_fingerprints <= 16.5


@pytest.mark.parametrize("form", [fingerprint, lambda t: str(fingerprint(t))], ids=["object", "string"])
def test_fingerprint_only_items_match_without_item_spans(text_000: str, text_001: str, form) -> None:  # type: ignore[no-untyped-def]
    index = Index()
    index.add("000", form(text_000))
    (m,) = index.match(text_001)
    assert m.item_containment >= 0.9
    assert all(s.item_start is None and s.query_end > s.query_start for s in m.spans)


def test_other_parameters_and_keys_are_refused(text_000: str) -> None:
    index = Index(key="consortium key material 0123")
    with pytest.raises(ParameterMismatchError, match="public"):
        index.add("x", fingerprint(text_000))
    with pytest.raises(ParameterMismatchError):
        index.match_fingerprint(fingerprint(text_000, key="another key of enough length"))
    index.add("x", text_000)
    wrong = Index(key="another key of enough length")
    wrong_fp = fingerprint(text_000, key="another key of enough length")
    index.flush()
    contents = index._contents
    stored = np.concatenate((contents.main.tags, contents.delta.postings()[0].astype(np.uint32)))
    assert not set(_postings.mix(wrong_fp.hashes).astype(np.uint32).tolist()) & set(stored.tolist())
    assert wrong.match(text_000) == []


def test_add_batch_is_add_one_by_one(state_union: dict[str, str], text_000: str, text_001: str) -> None:
    """Items added from flat arrays with their stored links, or linked as ``add_many`` links them, give the
    index that adding them one by one gives: the same families and the same answers."""
    from copytrace.fingerprints.batch import FingerprintBatch

    names = sorted(state_union)[:25]
    texts = {**{n: state_union[n] for n in names}, "000": text_000, "001": text_001}
    ids = list(texts)
    fps = [fingerprint(texts[i]) for i in ids]
    one_by_one = Index(keep_text=False)
    for i, fp in zip(ids, fps, strict=True):
        one_by_one.add(i, fp)
    stored_links = [one_by_one.links(i) for i in ids]
    batch = FingerprintBatch.from_fingerprints(fps, fps[0].params)
    for links in (stored_links, None):
        batched = Index(keep_text=False)
        batched.add("before", fingerprint(state_union[sorted(state_union)[-1]]))
        batched.add_batch(ids, batch, links=links)
        assert [batched.links(i) for i in ids] == stored_links
        assert batched.family("001") == ("000", 2)
        for text in (text_001, state_union[names[3]], state_union[names[3]][:900]):
            assert [(m.item_id, m.score) for m in batched.match(text)] == [
                (m.item_id, m.score) for m in one_by_one.match(text)
            ]


def test_add_batch_adds_all_or_none(text_000: str, text_001: str) -> None:
    from copytrace.fingerprints.batch import FingerprintBatch

    index = Index()
    index.add("000", text_000)
    fps = [fingerprint(text_001), fingerprint(text_000)]
    batch = FingerprintBatch.from_fingerprints(fps, fps[0].params)
    with pytest.raises(DuplicateItemError):
        index.add_batch(["new", "000"], batch)
    with pytest.raises(DuplicateItemError):
        index.add_batch(["same", "same"], batch)
    other = FingerprintBatch.from_fingerprints(
        [fingerprint(text_001, key="a key of enough length to use")],
        fingerprint(text_001, key="a key of enough length to use").params,
    )
    with pytest.raises(ParameterMismatchError):
        index.add_batch(["keyed"], other)
    assert sorted(index.items()) == [("default", "000")] and index.n_fingerprints == len(
        fingerprint(text_000)
    )


def test_match_many_is_match_one_by_one(state_union: dict[str, str], text_000: str, text_001: str) -> None:
    index = Index()
    for name in sorted(state_union)[:20]:
        index.add(name, state_union[name], bank="speeches")
    index.add("000", text_000, bank="news")
    queries = [text_001, "", "too short", *[state_union[n][:1500] for n in sorted(state_union)[:25]]]
    queries.append(text_001[:400] + " " + state_union[sorted(state_union)[2]][500:1200])
    for kwargs in ({}, {"banks": ["news"]}, {"limit": 1}, {"per_family": False}):
        assert index.match_many(queries, **kwargs) == [index.match(q, **kwargs) for q in queries]  # type: ignore[arg-type]
    named = index.match_many(queries[:2], queries=["a", "b"])
    assert named[0][0].query == "a"


# ------------------------------------------------------------------------------------------- phrases
SLOGAN = "Death to the occupiers, burn their homes"


def test_a_short_item_of_a_normal_bank_is_found_as_a_phrase() -> None:
    index = Index()
    index.add("slogan", SLOGAN)
    assert index.is_phrase("slogan") and index.n_phrases == 1
    query = "yesterday he wrote: D3ath to the occupiers, burn their h0mes. we saw it"
    (m,) = index.match(query)  # before phrases: nothing (the chain is shorter than 10 query tokens)
    assert (m.item_id, m.kind, m.score) == ("slogan", "phrase", 1.0)
    assert query[m.spans[0].query_start : m.spans[0].query_end] == "D3ath to the occupiers, burn their h0mes"
    assert (m.spans[0].item_start, m.spans[0].item_end) == (0, len(SLOGAN))
    assert m.to_dict()["kind"] == "phrase"


def test_text_matches_say_their_kind(text_000: str) -> None:
    index = Index()
    index.add("article", text_000)
    assert not index.is_phrase("article")
    (m,) = index.match(text_000[:3000])
    assert m.kind == "text" and m.to_dict()["kind"] == "text"


@pytest.mark.parametrize("phrase", [True, False, None], ids=["phrase-bank", "never", "auto"])
def test_the_phrase_option(text_000: str, phrase: bool | None) -> None:
    index = Index()
    index.add("article", text_000[:2000], phrase=phrase)
    index.add("slogan", SLOGAN, phrase=phrase) if phrase is not False else None
    found = {m.item_id: m.kind for m in index.match("so: " + text_000[:2000] + " and " + SLOGAN)}
    expected = {
        True: {"article": "phrase", "slogan": "phrase"},  # every item of a phrase bank is a phrase only
        False: {"article": "text"},
        None: {"article": "text", "slogan": "phrase"},
    }[phrase]
    assert found == expected


def test_a_phrase_bank_item_is_not_found_when_edited(text_000: str) -> None:
    index = Index()
    index.add("article", text_000[:2000], phrase=True)
    edited = text_000[:1000] + " inserted words " + text_000[1000:2000]
    assert index.match(edited) == []


def test_an_item_with_no_token_is_refused() -> None:
    index = Index()
    with pytest.raises(InputError, match="no token at all"):
        index.add("dots", "... !!! ---")
    assert len(index) == 0
    with pytest.raises(TooShortError):
        index.add("short", "burn it", phrase=False)


def test_phrases_in_many_queries_banks_and_removal() -> None:
    index = Index()
    index.add("slogan", SLOGAN, bank="calls")
    index.add("chant", "no justice no peace", bank="chants")
    queries = ["NO JUSTICE, NO PEACE!", "deathtotheoccupiersburntheirhomes", "nothing at all"]
    got = [[m.item_id for m in ms] for ms in index.match_many(queries, queries=["a", "b", "c"])]
    assert got == [["chant"], ["slogan"], []]
    assert [m.query for m in index.match_many(queries, queries=["a", "b", "c"])[0]] == ["a"]
    assert [m.item_id for m in index.match(queries[0] + " " + queries[1], banks=["calls"])] == ["slogan"]
    index.remove("chant", bank="chants")
    assert index.match(queries[0]) == []
    index.compact()
    assert [m.item_id for m in index.match(queries[1])] == ["slogan"]


def test_phrase_fingerprints_as_queries_and_items() -> None:
    index = Index()
    index.add("slogan", SLOGAN)
    index.add("shared", str(phrase_fingerprint("no justice no peace")), bank="partner")
    (m,) = index.match_fingerprints([phrase_fingerprint("d3ath to the occupiers burn their homes")])[0]
    assert (m.item_id, m.kind, m.spans) == ("slogan", "phrase", ())
    assert [m.item_id for m in index.match("No justice - no peace")] == ["shared"]
    assert index.match("No justice - no peace")[0].spans[0].item_start is None  # no text: no item span


def test_limit_counts_phrases_and_text_together(text_000: str) -> None:
    index = Index()
    index.add("article", text_000[:3000])
    index.add("slogan", SLOGAN)
    both = index.match(text_000[:3000] + " " + SLOGAN)
    assert len(both) == 2
    assert index.match(text_000[:3000] + " " + SLOGAN, limit=1) == both[:1]
