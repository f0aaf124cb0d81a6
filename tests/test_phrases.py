"""Phrases: the matcher finds every evasion of a banked phrase, agrees with a slow reference, and does not
flag ordinary text; phrase fingerprints are pinned and parse strictly."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import (
    FingerprintFormatError,
    Index,
    InputError,
    ParameterMismatchError,
    fingerprint,
    normalize,
)
from copytrace.fingerprints.keys import Key
from copytrace.index.phrase_rules import is_short, item_phrase
from copytrace.phrases import (
    PhraseFingerprint,
    PhraseTable,
    looks_like_phrase_fingerprint,
    phrase_fingerprint,
    phrase_fingerprints,
    phrase_problem,
)
from copytrace.phrases._search import is_common_word
from copytrace.text.phrase_fold import phrase_normalize, phrase_tokens_many, skeleton

VECTORS = json.loads((Path(__file__).parent / "golden" / "phrases_v1.json").read_text(encoding="utf-8"))
PHRASE = "Death to the occupiers"

FOUND = {
    "exact": "they wrote: Death to the occupiers. Then nothing.",
    "mixed-case": "they wrote: DeAtH tO tHe OcCuPiErS. Then nothing.",
    "leet": "they wrote: d34th t0 th3 0ccup13rs. Then nothing.",
    "symbols": "they wrote: d3@th to the occup!ers. Then nothing.",
    "spaced": "they wrote: d e a t h   t o   t h e   o c c u p i e r s. Then nothing.",
    "spaced-whole": "they wrote: d e a t h t o t h e o c c u p i e r s. Then nothing.",
    "dotted": "they wrote: d.e.a.t.h to the occupiers. Then nothing.",
    "zero-width": "they wrote: d\u200be\u200ba\u200bt\u200bh to the occupiers. Then nothing.",
    "repeated": "they wrote: deeeeath to the occcupiers. Then nothing.",
    "repeated-double": "they wrote: death to the occuuuupiers. Then nothing.",
    "look-alikes": "they wrote: Dеаth tо thе оccupiers. Then nothing.",
    "glued": "they wrote: deathtotheoccupiers. Then nothing.",
    "partly-glued": "they wrote: deathto the occupiers. Then nothing.",
    "glued-in-pairs": "they wrote: deathto theoccupiers. Then nothing.",
    "doubled-letter": "they wrote: death to the occupierss. Then nothing.",
    "line-break": "they wrote: death to the occu-\npiers. Then nothing.",
    "combined": "they wrote: D 3 @ T H t0 th3 0ccuuuup!ers. Then nothing.",
    "html": "<p>they wrote: <b>death</b> to the occupiers</p>",
}


def _table(*phrases: str, key: Key | None = None) -> PhraseTable:
    table = PhraseTable(key)
    for i, fp in enumerate(phrase_fingerprints(list(phrases), key=key)):
        assert fp is not None
        table.add(i, fp)
    return table


@pytest.mark.parametrize("query", FOUND.values(), ids=FOUND.keys())
def test_each_evasion_is_found_with_its_span(query: str) -> None:
    found = _table(PHRASE, "burn their homes").match_many([query])[0]
    assert [m.item for m in found] == [0]
    ((start, end),) = found[0].spans  # from the first letter of 'death' to the last of 'occupiers'
    assert query[start].lower() == "d" and query[end - 1].lower() == "s"
    assert "wrote" not in query[start:end] and "Then" not in query[start:end]


NOT_FOUND = {
    "other-words": "death to the occupation",
    "inside-a-word": "bathe occupiers",  # 'the occupiers' starts inside 'bathe'
    "part": "death to the",
    "doubled-letter": "death too the occupiers",  # 'too' is not 'to' unless a letter is stretched
    "number": "death to the 0ccupiers 1945",
}


@pytest.mark.parametrize("query", NOT_FOUND.values(), ids=NOT_FOUND.keys())
def test_near_misses_are_not_found(query: str) -> None:
    table = _table("death to the occupiers of 1945" if query.endswith("1945") else PHRASE)
    if query.endswith("1945"):
        assert table.match_many(["death to the occupiers of igas"])[0] == []
        return
    assert table.match_many([query])[0] == []


PARTLY_GLUED = {  # phrase, query, found
    "two-glued": ("death to the occupiers", "deathto the occupiers", True),
    "glued-in-pairs": ("death to the occupiers", "deathto theoccupiers", True),
    "three-glued": ("burn their homes tonight", "burntheirhomes tonight", True),
    "repeated-word": ("death to the occupiers", "death to the the occupiers", True),
    "repeated-words": ("death to the occupiers", "death to to the, the the occupiers", True),
    "repeated-word-of-three-words": ("burn their homes", "burn their their homes", True),
    "into-a-common-word": ("go to the rapist", "go to therapist", False),
    "into-two-common-words": ("we can not go", "we cannot go", False),
    "common-words-one-pair-glued-among-enough": (
        "solely the responsibility of the federal",
        "solely the responsibility ofthe federal",
        True,
    ),
    "common-words-one-pair-glued-among-few": ("is a piece", "is apiece", False),
    "common-words-two-pairs-glued": ("we may be there for any one", "we maybe there for anyone", False),
    "repeated-word-of-two-parts-glued": (
        "almost two-thirds over the next",
        "almost two-thirds twothirds over the next",
        True,
    ),
    "phrase-of-three-words": ("burn their homes", "burntheir homes", True),
    "leet-and-glued": ("death to the occupiers", "D34THto th3 0ccupi3rs", True),
    "doubled-letter": ("death to the occupiers", "deathh to the occupiers", True),
    "doubled-letter-of-a-common-word": ("we met at the station", "we meet at the station", False),
    "doubled-letter-into-a-common-word": ("to the occupiers", "too the occupiers", False),
    "doubled-letter-of-two-words": ("burn homes", "burn homess", False),
    "a-number-is-not-glued-words": ("more than 50,000", "more than 500", False),
    "glued-and-doubled-at-once": (  # the 's' runs into 'homes': no word, no letter missing, but both
        "death to the occupiers burn their homes S.",
        "death to the occupiers burn their homes",
        False,
    ),
    "glued-and-doubled-letter": ("death to the occupiers", "deathto the occupierss", False),
    "doubled-digits-are-not-a-typo": ("more than 50,000 people", "more than 5,000 people", False),
}


@pytest.mark.parametrize(("phrase", "query", "found"), PARTLY_GLUED.values(), ids=PARTLY_GLUED.keys())
def test_partly_glued_repeated_and_doubled_of_long_phrases_are_found_unless_common_words(
    phrase: str, query: str, found: bool
) -> None:
    assert bool(_table(phrase).match_many([f"so {query} now"])[0]) is found


def test_a_repeated_word_is_covered_by_the_span_and_a_phrase_that_repeats_a_word_still_matches() -> None:
    table = _table(PHRASE, "no no no more war")
    query = "they wrote: Death to the THE occupiers. no no no no more war"
    found = table.match_many([query])[0]
    assert [(m.item, [query[a:b] for a, b in m.spans]) for m in found] == [
        (0, ["Death to the THE occupiers"]),
        (1, ["no no no more war"]),
    ]
    assert found[0].coverage == pytest.approx(5 / 13)  # the five tokens of the span, of 13
    # a find that holds one made without the repeat is that one
    ((m,),) = table.match_many(["death death to the occupiers"])
    assert m.spans == ((6, 28),)
    assert table.find(["death to the the occupiers", "x death to the the occupiers"]) == [
        (0, 0, 0, 26),
        (1, 0, 2, 28),
    ]


def test_numbers_match_only_themselves() -> None:
    table = _table("born in 1945")
    assert [len(m) for m in table.match_many(["b0rn in 1945", "born in 1946", "born in igas"])] == [1, 0, 0]


def test_every_occurrence_is_a_span_and_coverage_counts_tokens() -> None:
    (m,) = _table("burn them").match_many(["burn them now and burn them later"])[0]
    assert len(m.spans) == 2
    assert m.coverage == pytest.approx(4 / 7)


def test_queries_of_a_batch_stay_apart() -> None:
    table = _table("death to the occupiers")
    found = table.match_many(["death to the", "occupiers", "", "death to the occupiers"])
    assert [[m.item for m in f] for f in found] == [[], [], [], [0]]


def test_allowed_items_only() -> None:
    table = _table("death to the occupiers", "burn their homes")
    allowed = np.array([False, True])
    found = table.match_many(["death to the occupiers, burn their homes"], allowed=allowed)[0]
    assert [m.item for m in found] == [1]


def test_keyed_phrases_need_the_key() -> None:
    key = Key.from_secret("a consortium secret of enough bytes")
    keyed, public = phrase_fingerprint(PHRASE, key=key), phrase_fingerprint(PHRASE)
    assert keyed.full_hash != public.full_hash
    assert str(keyed).startswith(f"ctp1:p1:{key.key_id}:")
    with pytest.raises(ParameterMismatchError):
        _table(PHRASE).add(1, keyed)
    assert len(_table(PHRASE, key=key).match_many([PHRASE])[0]) == 1


def test_phrase_fingerprints_match_by_their_hashes() -> None:
    table = _table(PHRASE, "burn their homes")
    assert table.match_fingerprints([phrase_fingerprint("d3ath t0 the occup1ers")]) == [[0]]
    assert table.match_fingerprints([phrase_fingerprint("burn them")]) == [[]]


def test_text_with_no_token_has_no_phrase() -> None:
    assert phrase_fingerprints(["...", "ok"])[0] is None
    with pytest.raises(InputError, match="no token"):
        phrase_fingerprint("!!! ...")


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_phrase_fingerprints_are_pinned(vector: dict[str, str]) -> None:
    fp = phrase_fingerprint(vector["text"], key=vector["key"])
    assert str(fp) == vector["fingerprint"]
    assert phrase_normalize(vector["text"]) == vector["normalized"]
    assert skeleton(vector["text"]) == vector["skeleton"]
    assert PhraseFingerprint.parse(vector["fingerprint"]) == fp
    assert looks_like_phrase_fingerprint(vector["fingerprint"])


def test_evasive_and_plain_copies_share_the_fingerprint() -> None:
    by_name = {v["name"]: v["fingerprint"] for v in VECTORS}
    assert by_name["slogan"] == by_name["evasive"]
    assert by_name["keyed"] != by_name["slogan"]


GOOD = str(phrase_fingerprint(PHRASE))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ctw1:n1:k5:w4:public:AAA", "expected e.g. 'ctp1:p1:public'"),
        ("ctp2:p1:public:" + GOOD.rsplit(":", 1)[1], "not supported"),
        ("ctp1:p01:public:" + GOOD.rsplit(":", 1)[1], "leading zeros"),
        ("ctp1:p1:public:" + GOOD.rsplit(":", 1)[1][:-4], "truncated"),
        ("ctp1:p1:public:" + GOOD.rsplit(":", 1)[1] + "AAAA", "extra data"),
        ("ctp1:p1:public:***", "base64url"),
        ("ctp1:p1:public:AAAA" + "A" * 32, "impossible"),
        ("no colon", "not a phrase fingerprint"),
    ],
    ids=["long-text", "version", "zeros", "truncated", "extra", "alphabet", "impossible", "garbage"],
)
def test_bad_phrase_fingerprints_are_refused(text: str, message: str) -> None:
    with pytest.raises(FingerprintFormatError, match=message):
        PhraseFingerprint.parse(text)


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("Death to the occupiers, burn their homes", True),
        ("kill", True),
        ("We will fight them on the beaches and in the fields and in the streets of our homeland", False),
    ],
    ids=["seven-words", "one-word", "long"],
)
def test_the_short_item_rule(text: str, short: bool) -> None:
    assert is_short(fingerprint(text, allow_short=True)) is short


# ----------------------------------------------------------------------------- against a reference
WORDS = ["death", "to", "the", "occupiers", "burn", "homes", "all", "good", "men", "no", "on", "to", "too"]


def _reference(phrases: list[str], queries: list[str]) -> set[tuple[int, int, int]]:
    """(query, phrase, first token) of every occurrence, by brute force over the normalised tokens: the
    phrase's skeleton equals the query's skeleton from a token's start to a token's end (any letter of a
    token re-joined from split letters) over at most the phrase's words plus its letters in tokens; the words
    are not partly glued, and its strict skeleton is equal unless a letter was stretched or split letters
    re-joined, except in a phrase of 3 words or more where a word of the region (with a letter) is not a
    common word or one pair is glued among 4 tokens or more (glued words) or where the words with a doubled
    letter are none of them common words."""
    ptoks = phrase_tokens_many(phrases)
    qtoks = phrase_tokens_many(queries)
    skel = [ptoks.skeleton(p) for p in range(len(phrases))]
    pstrict = [
        ptoks.strict[ptoks.text_strict[p] : ptoks.text_strict[p + 1] - 1].tolist()
        for p in range(len(phrases))
    ]
    n_ptok = np.bincount(ptoks.text, minlength=len(phrases))
    out = set()
    key = qtoks.key.tolist()
    words = qtoks.strings()
    ks, ke, joined = qtoks.key_starts.tolist(), qtoks.key_ends.tolist(), qtoks.joined.tolist()

    def ends_at(u: int, pos: int) -> bool:
        return ke[u] == pos or (joined[u] and ks[u] < pos < ke[u])

    for t in range(len(qtoks)):
        q = int(qtoks.text[t])
        for a in range(ks[t], ke[t] if joined[t] else ks[t] + 1):
            for p, s in enumerate(skel):
                if "".join(map(chr, key[a : a + len(s)])) != s:
                    continue
                ends = [u for u in range(t, len(qtoks)) if qtoks.text[u] == q and ends_at(u, a + len(s))]
                for last in ends:
                    n_region = last - t + 1
                    if n_region > n_ptok[p] + len(s):  # more tokens than words and letters: none to try
                        break
                    region = words[t : last + 1]
                    guarded = n_ptok[p] >= 3
                    evaded = qtoks.joined[t : last + 1].any()
                    glued = n_region != 1 and n_region < n_ptok[p] and not evaded
                    words_ = [w for w in region if any(_is_letter(c) for c in w)]
                    common_context = n_region >= 4 and n_ptok[p] - n_region == 1  # 'ofthe' among 3+
                    if glued and not (guarded and (common_context or not all(map(is_common_word, words_)))):
                        continue
                    strict = qtoks.strict[qtoks.strict_starts[t] : qtoks.strict_ends[last]].tolist()
                    evaded = evaded or qtoks.stretched[t : last + 1].any()
                    if not evaded and strict != pstrict[p]:
                        doubled = [
                            w
                            for w in region
                            if any(a == b and _is_letter(a) for a, b in itertools.pairwise(w))
                        ]
                        partly_glued = n_region != 1 and n_region < n_ptok[p]
                        if partly_glued or not (
                            guarded and doubled and not any(map(is_common_word, doubled))
                        ):
                            continue
                    out.add((q, p, t))
                    break
    return out


def _is_letter(c: str) -> bool:
    return "a" <= c <= "z" or ord(c) >= 128


def _evade(word: str, how: int) -> str:
    return [word, word.upper(), " ".join(word), word.replace("o", "0"), word + word[-1] * 3][how % 5]


@given(
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), min_size=1, max_size=6),
    st.lists(st.tuples(st.sampled_from(WORDS), st.integers(0, 4), st.sampled_from([" ", "", "\n", ". "]))),
)
@settings(max_examples=200, deadline=None)
def test_matcher_agrees_with_a_brute_force_reference(
    phrase_words: list[list[str]], query_words: list[tuple[str, int, str]]
) -> None:
    phrases = [" ".join(w) for w in phrase_words]
    query = "".join(_evade(w, how) + sep for w, how, sep in query_words)
    table = PhraseTable()
    for i, fp in enumerate(phrase_fingerprints(phrases)):
        assert fp is not None
        table.add(i, fp)
    toks = phrase_tokens_many([query])
    got = {(int(q), int(p), int(t)) for q, p, t, _ in table._find_raw(toks, None).tolist()}
    assert got == _reference(phrases, [query])


# ------------------------------------------------------------------------------ ordinary text
def test_a_three_word_bank_flags_the_state_union_addresses_only_where_the_phrase_is(
    state_union: dict[str, str], inaugural: dict[str, str]
) -> None:
    phrases = []
    for text in inaugural.values():
        words = text.split()
        phrases += [" ".join(words[i : i + 3]) for i in range(0, len(words) - 3, 211)]
    table = _table(*phrases)
    names = sorted(state_union)
    found = table.match_many([state_union[n] for n in names])
    n_found = 0
    for name, matches in zip(names, found, strict=True):
        for m in matches:
            for start, end in m.spans:
                n_found += 1
                got, want = normalize(state_union[name][start:end]), normalize(phrases[m.item])
                # the phrase is really there: the same words, or the same letters split by a typo
                assert got == want or got.replace(" ", "") == want.replace(" ", ""), (name, got, want)
    assert n_found > 100  # common three-word phrases are there, and found


# ------------------------------------------------------------------------------ cost and sharing
def test_an_item_banked_twice_is_found_twice_and_each_item_once_per_occurrence() -> None:
    table = _table(PHRASE, "burn their homes", PHRASE)
    found = table.match_many(["Death to the occupiers! d e a t h to the occupiers"])[0]
    assert [(m.item, len(m.spans)) for m in found] == [(0, 2), (2, 2)]
    assert [item for _, item, _, _ in table.find(["death to the occupiers"])] == [0, 2]


def test_a_phrase_repeated_thousands_of_times_is_reported_sixteen_times_for_bounded_work() -> None:
    table = _table(PHRASE)
    ((m,),) = table.match_many([(PHRASE + ". ") * 5_000])
    assert len(m.spans) == 16 and m.coverage == pytest.approx(16 * 4 / 20_000)
    assert len(table.find([(PHRASE + ". ") * 50])) == 50  # find() reports every occurrence


def test_tokens_whose_letters_run_together_are_not_tried_by_the_thousand() -> None:
    """Every 'oo' of 'oo oo oo …' ends where the first one ends (its letters run into the one before): a
    match starting at any of them may end at any later one, and a phrase whose strict letters match none
    of those endings would try them all (30,000 tokens: 450 million strict checks)."""
    table = _table("oooo oooo oooo")  # read 'o o o': strict 'ooo', never an even run
    assert table.match_many(["oo " * 30_000])[0] == []
    assert table.work < 10 * 30_000  # a few hashes a token


def test_work_per_letter_does_not_grow_with_phrases_sharing_a_start() -> None:
    start = "death to the occupiers burn their homes"
    post = (start + " ") * 2_000
    works = []
    for n in (10, 1_000):
        table = _table(*(f"{start} and number {i} of {i % 7} more" for i in range(n)))
        table.match_many([post])
        works.append(table.work)
    assert works[1] <= 2 * works[0], works


# ------------------------------------------------------------------------------ too short to be a phrase
@pytest.mark.parametrize(
    ("text", "letters"),
    [("a", 1), ("No!", 2), ("the", 3), ("aaaa", 1), ("死", 1)],
    ids=["one-letter", "two-letters", "three-letters", "squeezed", "one-ideograph"],
)
def test_a_phrase_of_one_short_word_is_refused_everywhere(text: str, letters: int) -> None:
    assert phrase_problem(text) is not None and f"one word of {letters} letter" in str(phrase_problem(text))
    with pytest.raises(InputError, match="a phrase needs two words or more, or one word of 4 letters"):
        Index().add("x", text)
    with pytest.raises(InputError, match=r"item 'x' is one word"):
        Index().add("x", text, phrase=True)
    with pytest.raises(InputError, match="the item is one word"):
        item_phrase(text, fingerprint(text, allow_short=True), phrase_bank=True)


@pytest.mark.parametrize("text", ["kill", "k i l l", "go on", "no no", "字字"], ids=str)
def test_two_words_or_one_of_four_letters_are_phrases(text: str) -> None:
    assert phrase_problem(text) is None
    index = Index()
    index.add("x", text, phrase=True)
    assert [m.item_id for m in index.match(f"they said {text} again")] == ["x"]


def test_the_cli_refuses_a_one_letter_phrase_in_one_line(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a.txt").write_text("a\n", encoding="utf-8")
    code, out, err = cli("bank", "add", "calls", tmp_path / "a.txt")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "a.txt" in err and "one word of 1 letter ('a')" in err
    records = tmp_path / "items.jsonl"
    records.write_text(json.dumps({"id": "short", "text": "no"}) + "\n", encoding="utf-8")
    code, out, err = cli("bank", "add", "calls", "--jsonl", records)
    assert code == 2 and "one word of 2 letters" in err and len(err.strip().splitlines()) == 1


def test_the_service_refuses_a_one_letter_phrase(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from copytrace.banks import Store
    from copytrace.service import ServiceConfig, create_app
    from copytrace.store.api_keys import create_key

    db = f"sqlite:///{tmp_path / 'store.db'}"
    with Store(db) as store:
        admin = create_key(store, "admin", "admin")[1]
    app = create_app(ServiceConfig(db=db, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap")))
    auth = {"Authorization": f"Bearer {admin}"}
    with TestClient(app) as client:
        assert client.post("/v1/banks", json={"name": "calls"}, headers=auth).status_code == 201
        r = client.post("/v1/banks/calls/items", json={"id": "a", "text": "a"}, headers=auth)
        assert r.status_code in (400, 422) and "one word of 1 letter" in r.text
        r = client.post("/v1/banks/calls/items", json={"id": "kill", "text": "kill"}, headers=auth)
        assert r.status_code == 201


# ------------------------------------------------------------------------------ a short item is a phrase only
def test_a_short_item_is_never_reported_for_part_of_its_words() -> None:
    """Its one long-text fingerprint covers 5 of its 8 words: through the long-text rule, an article with
    those 5 words was reported as the whole item (item containment 1.0)."""
    index = Index()
    index.add("film", "is being shown at the Berlin Film Festival")
    index.add("speech", " ".join(["we shall fight on the beaches and we shall never surrender"] * 3))
    article = "The documentary premiered last week at the Berlin Film Festival to strong reviews."
    assert index.match(article) == [] and index.match_many([article]) == [[]]
    post = "so it is being shown at the B3rlin Film Festival, they say"
    assert [(m.item_id, m.kind) for m in index.match(post)] == [("film", "phrase")]
    speech = "we shall fight on the beaches and we shall never surrender"
    assert [m.kind for m in index.match(speech)] == ["text"]  # a long item as before
