"""Phrase normalisation: every evasion rule folds what it should, and leaves ordinary text alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import normalize
from copytrace.text.phrase_fold import (
    PHRASE_NORMALISATION_VERSION,
    phrase_normalize,
    phrase_tokens,
    phrase_tokens_many,
    skeleton,
)

PLAIN = "death to the occupiers"

EVASIONS = {
    "mixed-case": "DeAtH To ThE OcCuPiErS",
    "leet-digits": "d34th t0 th3 0ccup13rs",
    "leet-symbols": "d3@th to the occup!ers",
    "dollar": "death to the occupier$",
    "spaced-letters": "d e a t h to the occupiers",
    "dotted-letters": "d.e.a.t.h to the occupiers",
    "dashed-letters": "d-e-a-t-h to the occupiers",
    "zero-width": "de\u200bath to the occ\u200cupiers",
    "soft-hyphen": "de\u00adath to the occupiers",
    "repeated-letters": "deeeeath to the occuuuupiers",
    "look-alikes": "dеаth tо thе оccupiers",  # Cyrillic е а о
    "full-width": "ｄｅａｔｈ to the occupiers",
    "glued": "deathtotheoccupiers",
    "line-break-hyphen": "death to the occu-\npiers",
    "line-break": "death to the occu\npiers",
    "combined": "D 3 @ T H t0 th3 0ccuuuup!ers",
}


@pytest.mark.parametrize("text", EVASIONS.values(), ids=EVASIONS.keys())
def test_each_evasion_folds_to_the_plain_skeleton(text: str) -> None:
    assert skeleton(text) == skeleton(PLAIN)


# Each rule with ordinary text it must not change (docs/phrases.md lists them with the rules).
UNCHANGED = {
    "year": ("in 1945", "in 1945"),
    "decimal": ("2.5 million", "2 5 million"),
    "ordinal": ("the 1st and 4th", "the 1st and 4th"),
    "decade": ("the 1980s", "the 1980s"),
    "unit": ("10km and 24h", "10km and 24h"),
    "double-letters": ("good all see", "good all see"),
    "pronoun": ("I am", "i am"),
    "article": ("a man", "a man"),
    "single-letters-mixed-separators": ("I a 2.5", "i a 2 5"),
    "digits-spaced": ("1 2 3", "1 2 3"),
    "version": ("2.5.1", "2 5 1"),
    "exclamation": ("death!", "death"),
    "price": ("$100", "100"),
    "email-at-end": ("write to me @ home", "write to me home"),
    "comma-list": ("a, b, c", "a b c"),
}


@pytest.mark.parametrize(("text", "expected"), UNCHANGED.values(), ids=UNCHANGED.keys())
def test_ordinary_text_is_not_mangled(text: str, expected: str) -> None:
    assert phrase_normalize(text) == expected


def test_numbers_stay_numbers_in_the_skeleton() -> None:
    assert skeleton("born in 1945") != skeleton("born in igas")
    assert skeleton("born in 1945") != skeleton("born in 1946")


def test_doubled_letters_are_one_in_the_skeleton_and_kept_in_the_strict_one() -> None:
    meet, met = phrase_tokens("meet"), phrase_tokens("met")
    assert meet.skeleton() == met.skeleton()
    assert meet.strict.tolist() != met.strict.tolist()


def test_stretched_letters_are_flagged() -> None:
    toks = phrase_tokens("deeeath to")
    assert toks.stretched.tolist() == [True, False]


@pytest.mark.parametrize(
    ("text", "slices"),
    [
        ("so: D3@TH to the 0ccupiers!", ["so", "D3@TH", "to", "the", "0ccupiers"]),
        ("d.e.a.t.h now", ["d.e.a.t.h", "now"]),
        ("<p>de<b>at</b>h</p> to", ["de<b>at</b>h", "to"]),
        ("中文 ok", ["中", "文", "ok"]),
    ],
    ids=["leet", "joined", "html", "ideographs"],
)
def test_offsets_point_into_the_text_as_given(text: str, slices: list[str]) -> None:
    toks = phrase_tokens(text)
    assert [text[a:b] for a, b in zip(toks.starts.tolist(), toks.ends.tolist(), strict=True)] == slices


def test_batches_keep_texts_apart() -> None:
    toks = phrase_tokens_many(["a b c", "", "x y", "d e f"])
    assert toks.strings() == ["abc", "x", "y", "def"]
    assert toks.text.tolist() == [0, 2, 2, 3]
    assert [toks.skeleton(t) for t in range(4)] == ["abc", "", "xy", "def"]


def test_the_version_is_its_own() -> None:
    assert PHRASE_NORMALISATION_VERSION == 1


TEXT = st.text(
    alphabet=st.sampled_from(list("abcdeilostz ABCDE.-_\n,!@$|013457\u200b\u0430\u043e")), max_size=60
)


@given(TEXT)
@settings(max_examples=300, deadline=None)
def test_every_token_slices_back_to_itself(text: str) -> None:
    toks = phrase_tokens(text, html=False)
    for a, b, token in zip(toks.starts.tolist(), toks.ends.tolist(), toks.strings(), strict=True):
        assert phrase_normalize(text[a:b], html=False).replace(" ", "") == token


@given(st.text(alphabet=st.sampled_from(list("abcdeilost .-\n,\u200b\u0430")), max_size=60))
@settings(max_examples=300, deadline=None)
def test_skeleton_of_letters_is_idempotent_and_ignores_word_breaks(text: str) -> None:
    assert skeleton(phrase_normalize(text)) == skeleton(text)
    assert skeleton(text) == skeleton(text.replace(" ", ""))


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_text_is_normalised_without_error(text: str) -> None:
    toks = phrase_tokens(text)
    assert len(toks.strings()) == len(toks)
    assert (toks.starts <= toks.ends).all()


def test_long_text_normalisation_is_unchanged() -> None:
    # phrase folding is a version of its own: version 1 still reads leet as the letters it looks like
    assert normalize("D3@TH in 1945") == "d3 th in l945"


def _scan_arrays(texts: list[str], *, plain: bool) -> list[list[int]]:
    from copytrace.text.phrase_fold import _fold

    return [a.reshape(-1).tolist() for a in _fold(texts, plain=plain)]


# words of ASCII letters (the short loop) among everything else the second pass tells apart
FOLD_WORDS = [
    "death",
    "Death",
    "all",
    "lll",
    "deeeath",
    "goood",
    "ll",
    "l",
    "a",
    "i",
    "to",
    "Ill",
    "oO",
    "ZZZz",
]
FOLD_OTHERS = [
    "d3ath",
    "k!ll",
    "1945",
    "4th",
    "d e a t h",
    "dеаth",
    "de\u200bath",
    "ｆｕｌｌ",
    "$100",
    "год",
    "l1l",
]


@given(
    st.lists(
        st.lists(st.sampled_from(FOLD_WORDS + FOLD_OTHERS), max_size=12).map(" ".join)
        | st.text(alphabet=st.sampled_from(list("abilLI -.\n3@")), max_size=40),
        min_size=1,
        max_size=5,
    )
)
@settings(max_examples=300, deadline=None)
def test_the_short_loop_of_ascii_words_folds_as_the_loop_of_every_token(texts: list[str]) -> None:
    assert _scan_arrays(texts, plain=True) == _scan_arrays(texts, plain=False)


# runs of ASCII letters of either case, and such runs one space apart (the first pass's loop of their own),
# against everything that can end one or sit inside one: symbols taken into words, digits, invisible and
# accented characters, separators, split letters, a space at the end of a text
ASCII_RUN_CHARS = [*"aAzZmMlL@$!|0357 .-_'\n,", "\u200b", "\u00ad", "\u00e9", "\u00c9", "\u0430", "\ufb01"]
ASCII_RUN = st.text(alphabet=st.sampled_from(list("abcxyzABCXYZ")), min_size=1, max_size=12)
# split letters and digits one space apart, some read by that loop, some not: re-joined alike ('1 2 a b')
SPACED = st.lists(st.sampled_from(list("aBz0357@$.")), min_size=2, max_size=6).map(" ".join)


@given(
    st.lists(
        st.lists(
            st.sampled_from(ASCII_RUN_CHARS)
            | ASCII_RUN
            | st.lists(ASCII_RUN, max_size=5).map(" ".join)
            | SPACED,
            max_size=20,
        ).map("".join),
        min_size=1,
        max_size=4,
    )
)
@settings(max_examples=500, deadline=None)
def test_the_loop_of_ascii_letter_runs_folds_as_the_loop_of_every_character(texts: list[str]) -> None:
    assert _scan_arrays(texts, plain=True) == _scan_arrays(texts, plain=False)


def _reference_arrays(texts: list[str]) -> list[list[int]]:
    """The folding as written first: every token through the general loop, the code points as uint32 and
    scratch made for this call alone."""
    from copytrace.text import phrase_fold
    from copytrace.text.normalize import _table, code_points

    tb = _table()
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=bounds[1:])
    cps = code_points("".join(texts))
    cap = int(phrase_fold._capacity(cps, tb.lengths))
    arrays = phrase_fold._scan(
        cps,
        bounds,
        tb.classes,
        tb.offsets,
        tb.lengths,
        tb.data,
        phrase_fold._LEET,
        phrase_fold._ORDINAL_CODES,
        phrase_fold._UNIT_CODES,
        np.full((6, cap + 2), -3, dtype=np.int64),
        np.full(cap + 2, 255, dtype=np.uint8),
        np.full(cap + 2, 7, dtype=np.uint32),
        False,
    )
    return [a.reshape(-1).tolist() for a in arrays]


# ASCII and Latin-1 (read a byte a character), the first plane (two bytes), past it and lone surrogates
# (four): look-alikes, zero-width and invisible characters, leet digits and symbols, joiners, ligatures
MIXED_CHARS = [
    *"abdehilostLIOST 0134579@$!|.-_*/\n,'",
    "\u00e9",  # é
    "\u00df",  # ß: two folded letters
    "\u00a0",
    "\u00b7",
    "\u00ad",  # soft hyphen
    "\u0430",  # Cyrillic а е о і
    "\u0435",
    "\u043e",
    "\u0456",
    "\u03bf",  # Greek ο
    "\u200b",  # zero width space, non-joiner, joiner
    "\u200c",
    "\u200d",
    "\u2019",
    "\u2013",
    "\u2022",
    "\ufb01",  # ﬁ
    "\uff44",  # full-width d
    "\u4e2d",  # a script without spaces
    "\u0e01",
    "\U0001d41d",  # mathematical bold d
    "\U0001f600",
    "\ud800",  # a lone surrogate
]
MIXED_TEXT = st.lists(
    st.sampled_from(MIXED_CHARS)
    | st.sampled_from(FOLD_WORDS + FOLD_OTHERS)
    | st.builds(lambda c, n: c * n, st.sampled_from(list("aelo0\u0430")), st.integers(1, 400)),
    max_size=30,
).map("".join)


@given(st.lists(MIXED_TEXT, min_size=1, max_size=5))
@settings(max_examples=400, deadline=None)
def test_the_folding_of_mixed_unicode_is_the_reference_folding(texts: list[str]) -> None:
    from copytrace.text.phrase_fold import _fold

    assert [a.reshape(-1).tolist() for a in _fold(texts)] == _reference_arrays(texts)


@pytest.mark.parametrize(
    "texts",
    [
        ["D3@TH t0 th3 0ccup!ers " * 4000, "death"],  # past the first scratch, ASCII
        ["dеаth tо thе оccupiers \u200b\u4e2d " * 3000, "ok"],  # the first plane
        ["\U0001d41death to the\ud800 occupiers " * 3000],  # code points of four bytes
    ],
    ids=["ascii", "first-plane", "astral"],
)
def test_a_long_batch_then_short_ones_fold_as_the_reference(texts: list[str]) -> None:
    from copytrace.text.phrase_fold import _fold

    for batch in (texts, ["a b c d e"], texts[-1:], ["ll lll l1l"]):  # the scratch reused, grown, reused
        assert [a.reshape(-1).tolist() for a in _fold(batch)] == _reference_arrays(batch)
