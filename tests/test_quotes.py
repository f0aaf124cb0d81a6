"""Quotes: a 10-word quote of a banked text is found, located and told from a stock phrase; long-text
matches are what they were; fingerprint-only items are credited only with the runs their fingerprints
prove; every quote rests on a run of tokens the two texts truly share."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from copytrace import Index, Match, MatchParams, QuoteParams
from copytrace.text.background import Reference
from copytrace.text.normalize import tokenize

from .conftest import FOOTER

QUOTE = "we don't sleep for one night unless we think of eliminating"
STOCK = "at the end of the day we will"
SPEECH = (
    "Our enemies should know this: " + QUOTE + " them, and the people stand with us in this struggle until "
    "the last day. At the end of the day we will see who remains standing in the region."
)
POST = "A friend shared this today and said that {} was all he could remember. Strange times indeed."
NO_QUOTES = MatchParams(quotes=None)


def hashes_between(text: str, start: int, end: int) -> list[int]:
    return tokenize(text[start:end]).hashes.tolist()


@pytest.fixture(scope="module")
def speech_index() -> Index:
    index = Index()
    index.add("speech", SPEECH)
    return index


def test_a_ten_word_quote_inside_a_post_is_found_and_located(speech_index: Index) -> None:
    post = POST.format(QUOTE)
    (m,) = speech_index.match(post)
    assert (m.item_id, m.kind) == ("speech", "quote")
    assert m.quote is not None and m.quote.tokens == 12 and m.quote.bits >= 20
    (span,) = m.spans
    assert post[span.query_start : span.query_end] == QUOTE
    assert span.item_start is not None and span.item_end is not None
    assert SPEECH[span.item_start : span.item_end] == QUOTE
    assert m.query_containment == pytest.approx(12 / len(tokenize(post)))
    assert m.item_containment == pytest.approx(12 / len(tokenize(SPEECH)))
    assert m.score == max(m.query_containment, m.item_containment)
    assert m.to_dict()["quote"] == {"tokens": 12, "bits": round(m.quote.bits, 3)}
    assert Index(match_params=NO_QUOTES).match(post) == []  # the long-text rule alone misses it


@pytest.mark.parametrize("min_tokens", [8, 10])
def test_a_stock_phrase_of_a_tiny_bank_is_no_quote(speech_index: Index, min_tokens: int) -> None:
    index = Index(match_params=MatchParams(quotes=QuoteParams(min_tokens=min_tokens)))
    index.add("speech", SPEECH)
    assert index.match(POST.format(STOCK)) == []
    (m,) = index.match(POST.format(QUOTE))
    assert m.kind == "quote"


def test_a_quote_too_short_or_too_plain_for_the_parameters_is_not_reported() -> None:
    strict = Index(match_params=MatchParams(quotes=QuoteParams(min_tokens=13)))
    strict.add("speech", SPEECH)
    assert strict.match(POST.format(QUOTE)) == []
    demanding = Index(match_params=MatchParams(quotes=QuoteParams(min_bits=100)))
    demanding.add("speech", SPEECH)
    assert demanding.match(POST.format(QUOTE)) == []


def test_min_score_and_limit_apply_to_quotes() -> None:
    index = Index(match_params=MatchParams(min_score=0.5))
    index.add("speech", SPEECH)
    assert index.match(POST.format(QUOTE)) == []
    index = Index()
    index.add("speech", SPEECH)
    index.add("other", "Nothing to see here: " + QUOTE + " the crops in the valley this spring and summer.")
    assert len(index.match(POST.format(QUOTE))) == 2
    assert len(index.match(POST.format(QUOTE), limit=1)) == 1


def test_the_canonical_article_is_found_from_a_ten_word_quote(
    text_000: str, state_union: dict[str, str]
) -> None:
    index = Index()
    index.add("000", text_000, bank="news")
    words = text_000.split()
    rng = random.Random(24)
    host = state_union["1961-Kennedy"].split()[:150]
    found = 0
    trials = 20
    for _ in range(trials):
        start = rng.randrange(0, len(words) - 10)
        quote = " ".join(words[start : start + 10])
        post = " ".join(host[:75]) + " " + quote + " " + " ".join(host[75:])
        matches = index.match(post)
        for m in matches:
            assert m.item_id == "000"
            for span in m.spans:  # every quote rests on tokens the two texts share
                assert span.item_start is not None and span.item_end is not None
                assert hashes_between(post, span.query_start, span.query_end) == hashes_between(
                    text_000, span.item_start, span.item_end
                )
        found += bool(matches)
    assert found >= 0.9 * trials


def test_the_banks_boilerplate_breaks_a_run(state_union: dict[str, str]) -> None:
    """Twenty texts end with one footer: a post with the footer and, before it, a text's last words
    ("God bless America") shares a run with each, but the footer is boilerplate of this bank."""
    index = Index()
    texts = list(state_union.items())[:20]
    for name, text in texts:
        index.add(name, text + "\nThank you, God bless you, and God bless America.\n" + FOOTER)
    post = "We all watched it last night. Thank you, God bless you, and God bless America.\n" + FOOTER
    assert index.match(post) == []
    name, text = texts[3]
    words = text.split()
    quote = " ".join(words[200:212])
    (m,) = index.match("We all watched it last night. " + quote + " And then it was over.")
    assert m.item_id == name


def test_an_index_from_a_snapshot_finds_quotes(speech_index: Index, tmp_path: object) -> None:
    import io

    buf = io.BytesIO()
    speech_index.save(buf)
    buf.seek(0)
    loaded = Index.load(buf)
    (m,) = loaded.match(POST.format(QUOTE))
    assert m.kind == "quote"


def test_texts_from_a_lookup_are_verified_as_kept_texts_are() -> None:
    index = Index(keep_text=False, text_lookup=lambda bank, item_id: SPEECH)
    index.add("speech", SPEECH)
    (m,) = index.match(POST.format(QUOTE))
    assert m.kind == "quote" and m.spans[0].item_start is not None


def test_match_many_reports_the_quotes_match_reports(speech_index: Index) -> None:
    posts = [POST.format(QUOTE), POST.format(STOCK), "nothing here", SPEECH]
    assert speech_index.match_many(posts) == [speech_index.match(p) for p in posts]


# ------------------------------------------------------------------------------------- fingerprint-only
def test_a_fingerprint_only_item_is_credited_with_the_run_its_fingerprints_prove() -> None:
    """Without the item's text, the k-grams of a chain prove a run only where they touch or overlap on
    one diagonal; with ``min_tokens=8`` a run they prove is reported, and no more than it."""
    params = MatchParams(quotes=QuoteParams(min_tokens=8))
    proven = 0
    for seed in range(30):
        rng = random.Random(seed)
        words = [f"w{rng.randrange(10**6)}" for _ in range(60)]
        item = " ".join(words)
        index = Index(keep_text=False, match_params=params)
        index.add("item", item)
        start = rng.randrange(0, 50)
        quote = " ".join(words[start : start + 10])
        post = "xa xb xc xd xe " + quote + " xf xg xh xi"
        for m in index.match(post):
            (span,) = m.spans
            assert span.item_start is None  # no text: query offsets only
            shared = post[span.query_start : span.query_end]
            assert shared in quote and len(shared.split()) >= 8  # a true part of the quote
            proven += m.kind == "quote"
    assert proven > 0


def test_a_fingerprint_only_item_with_a_gap_between_its_fingerprints_proves_nothing() -> None:
    """Two shared k-grams on one diagonal with unshared tokens between them prove no run of 8."""
    words = [f"w{i}" for i in range(40)]
    item = " ".join(words)
    index = Index(keep_text=False, match_params=MatchParams(quotes=QuoteParams(min_tokens=8, min_bits=0)))
    index.add("item", item)
    texted = Index(match_params=MatchParams(quotes=QuoteParams(min_tokens=8, min_bits=0)))
    texted.add("item", item)
    for cut in range(10, 30):
        altered = [*words[:cut], "zz", *words[cut + 1 : cut + 9]]  # one word changed inside 9 tokens
        post = "xa xb xc " + " ".join(altered[cut - 4 :]) + " xd xe"
        for m in index.match(post) + texted.match(post):
            if m.kind == "quote":
                (span,) = m.spans
                assert "zz" not in post[span.query_start : span.query_end]


# ------------------------------------------------------------------------------------- properties
VOCAB = [
    "people",
    "nation",
    "freedom",
    "sleep",
    "night",
    "eliminating",
    "war",
    "peace",
    "congress",
    "tax",
    "budget",
    "school",
    "children",
    "river",
    "mountain",
    "letter",
    "union",
    "strength",
    "promise",
    "honor",
    "duty",
    "labor",
    "market",
    "harvest",
    "winter",
    "storm",
]
FUNCTION = ["the", "of", "and", "to", "a", "in", "that", "we", "our", "for"]


def _text(draw: st.DrawFn, n: int) -> list[str]:
    return draw(st.lists(st.sampled_from(VOCAB + FUNCTION), min_size=n, max_size=n))


@st.composite
def planted(draw: st.DrawFn) -> tuple[list[str], str, str, int, int]:
    items = [" ".join(_text(draw, draw(st.integers(20, 60)))) for _ in range(draw(st.integers(1, 4)))]
    which = draw(st.integers(0, len(items) - 1))
    words = items[which].split()
    length = draw(st.integers(8, 16))
    start = draw(st.integers(0, len(words) - length))
    host = [f"h{i}" for i in range(draw(st.integers(0, 30)))]
    cut = draw(st.integers(0, len(host)))
    post = " ".join(host[:cut] + words[start : start + length] + host[cut:])
    return items, post, items[which], start, length


@settings(max_examples=60, deadline=None)
@given(planted(), st.sampled_from([8, 10]))
def test_quotes_are_true_shared_runs_and_long_matches_are_unchanged(
    case: tuple[list[str], str, str, int, int], min_tokens: int
) -> None:
    items, post, _, _, _ = case
    params = MatchParams(quotes=QuoteParams(min_tokens=min_tokens))
    on, off = Index(match_params=params), Index(match_params=replace(params, quotes=None))
    for n, text in enumerate(items):
        on.add(str(n), text, phrase=False)
        off.add(str(n), text, phrase=False)
    got = on.match(post, per_family=False)
    assert [m for m in got if m.kind != "quote"] == off.match(post, per_family=False)
    q = tokenize(post).hashes
    for m in got:
        if m.kind != "quote":
            continue
        text = items[int(m.item_id)]
        i = tokenize(text).hashes
        (span,) = m.spans
        assert span.item_start is not None and span.item_end is not None
        shared = hashes_between(post, span.query_start, span.query_end)
        assert shared == hashes_between(text, span.item_start, span.item_end)
        assert m.quote is not None and m.quote.tokens == len(shared) >= min_tokens
        # maximal: the tokens either side differ (or a text ends)
        qs = int(np.searchsorted(tokenize(post).starts, span.query_start))
        it = int(np.searchsorted(tokenize(text).starts, span.item_start))
        assert qs == 0 or it == 0 or q[qs - 1] != i[it - 1]
        qe, ie = qs + len(shared), it + len(shared)
        assert qe == len(q) or ie == len(i) or q[qe] != i[ie]


@settings(max_examples=60, deadline=None)
@given(planted())
def test_an_informative_planted_run_of_ten_tokens_is_found(
    case: tuple[list[str], str, str, int, int],
) -> None:
    items, post, source, start, length = case
    assume(length >= 10 and len(set(items)) == len(items))
    words = source.split()
    run = " ".join(words[start : start + length])
    from copytrace.text.background import background

    assume(background("en").information(tokenize(run).hashes) >= 20)
    # the run is the longest shared run with its source: not a repeat of other words of it
    assume(sum(" ".join(words[j : j + 8]) in run for j in range(len(words) - 7)) == length - 7)
    index = Index()
    for n, text in enumerate(items):
        index.add(str(n), text, phrase=False)
    found = {m.item_id for m in index.match(post, per_family=False)}
    assert str(items.index(source)) in found


def test_quote_parameters_have_a_stable_string_form_and_are_checked() -> None:
    assert str(QuoteParams()) == "quote1:t10:b20:c32:en"
    assert str(QuoteParams(min_tokens=8, reference="ref.npz")) == "quote1:t8:b20:c32:en:ref=ref.npz"
    with pytest.raises(ValueError, match="min_tokens"):
        QuoteParams(min_tokens=0)
    assert Match("b", "i", 1.0, 1.0, 1.0).to_dict().get("quote", "absent") == "absent"


def test_threads_sharing_an_index_find_the_same_quotes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Queries of several threads verify quotes at once while the item-token cache is cleared under them."""
    from concurrent.futures import ThreadPoolExecutor

    import copytrace.index._contents

    monkeypatch.setattr(copytrace.index._contents, "TOKEN_CACHE", 60)  # about one item's tokens
    index = Index()
    for n in range(6):
        index.add(f"s{n}", f"Item {n} says: " + SPEECH)
    index.flush()
    posts = [POST.format(QUOTE), POST.format(STOCK)] * 20
    expected = [index.match(p, per_family=False) for p in posts]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: index.match(p, per_family=False), posts))
    assert got == expected
    assert {m.kind for m in expected[0]} == {"quote"}


def test_a_reference_of_clean_text_turns_a_tiny_banks_stock_line_into_no_quote(
    tmp_path: Path, state_union: dict[str, str]
) -> None:
    """One banked item ends with a channel's sign-off, twelve words the language does not know as a phrase:
    a tiny bank cannot tell it is boilerplate, a reference built from clean posts that carry it can."""
    line = "Like our page and subscribe to the channel for daily independent updates"
    post = "Unrelated words about the weather here. " + line + " And more unrelated words follow."
    plain = Index()
    plain.add("speech", SPEECH + "\n" + line)
    (m,) = plain.match(post)
    assert m.kind == "quote"
    clean = [text + "\n" + line for text in list(state_union.values())[:3]]
    Reference.build(clean).save(tmp_path / "ref.npz")
    params = MatchParams(quotes=QuoteParams(reference=str(tmp_path / "ref.npz")))
    informed = Index(match_params=params)
    informed.add("speech", SPEECH + "\n" + line)
    assert informed.match(post) == []
    (m,) = informed.match(POST.format(QUOTE))
    assert m.kind == "quote"


def test_a_query_without_quote_candidates_does_not_load_the_background_model() -> None:
    """Loading the background's word table costs time (seconds from wordfreq, milliseconds from its cache):
    a query whose every shared item matched as a copy (or that shares nothing) must not pay it, in a fresh
    process as in a service worker's first request."""
    import subprocess
    import sys

    code = (
        "from copytrace import Index\n"
        f"index = Index(); index.add('speech', {SPEECH!r})\n"
        f"assert [m.kind for m in index.match({SPEECH!r})] == ['text']\n"
        "assert index.match('nothing in common at all here today') == []\n"
        "from copytrace import fingerprint\n"
        f"bare = Index(keep_text=False); bare.add('speech', fingerprint({SPEECH!r}))\n"
        f"assert bare.match({POST.format(QUOTE)!r}) == []  # no text: no quote pass at 10 tokens\n"
        "from copytrace.text import background\n"
        "assert background._words.cache_info().currsize == 0  # the word table was not loaded\n"
        f"assert [m.kind for m in index.match({POST.format(QUOTE)!r})] == ['quote']\n"
        "assert background._words.cache_info().currsize == 1\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_the_readmes_quote_example_is_what_the_cli_prints(cli, text_000: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The README shows a 10-word quote of ``000`` under a photo, reported as a quote with its evidence."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    command = next(
        line for line in readme.splitlines() if line.startswith("$ echo ") and "copytrace match -" in line
    )
    post = command.split('echo "', 1)[1].split('" |', 1)[0]
    printed = readme.splitlines()[readme.splitlines().index(command) + 1]
    source = tmp_path / "000_ea7438489bd31fbe.txt"
    source.write_text(text_000, encoding="utf-8")
    assert cli("bank", "add", "news", str(source))[0] == 0
    code, out, _ = cli("match", "-", stdin=post + "\n")
    assert code == 0
    assert json.loads(out) == json.loads(printed)
    assert json.loads(out)["kind"] == "quote"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 11), min_size=1, max_size=60),
    st.integers(0, 59),
    st.integers(0, 60),
)
def test_a_runs_bits_read_from_the_querys_content_are_the_bits_looked_up_for_the_run(
    words: list[int], a: int, b: int
) -> None:
    """The quote pass measures a run's bits from its query's ``content``, made once (no reference): the
    very float ``Background.information`` gives for the run's tokens, repeated words (counted once)
    or not, across runs of every length numpy sums in blocks."""
    from copytrace.index import quotes
    from copytrace.text.background import background

    vocabulary = [
        "the",
        "of",
        "eliminating",
        "harbour",
        "lantern",
        "sleep",
        "we",
        "copper",
        "night",
        "unless",
        "tide",
        "quarry",
    ]
    hashes = tokenize(" ".join(vocabulary[w] for w in words)).hashes
    a, b = min(a, len(hashes)), min(b, len(hashes))
    a, b = min(a, b), max(a, b)
    bg = background("en")
    content = bg.content(hashes)
    got = quotes._information(bg, hashes, a, b, content)
    assert got == bg.information(hashes[a:b])
    reference = Reference(np.zeros(0, dtype=np.uint64))
    assert quotes._information(bg.with_reference(reference), hashes, a, b, content) == bg.information(
        hashes[a:b]
    )
