"""The background model: stock phrases carry little, a text's own sentence much; references of stock phrases
built from clean text; the model reads the same normalised tokens the fingerprints are made of."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace.errors import InputError
from copytrace.evaluation.reference import main
from copytrace.text.background import BASE_BITS, MAX_BITS, Reference, background, phrase_hashes
from copytrace.text.normalize import tokenize

from .conftest import FOOTER

MIN_BITS = 20.0  # QuoteParams().min_bits

STOCK = {
    "end-of-the-day": "at the end of the day we will",
    "other-hand": "on the other hand it is important to note that",
    "opportunity": "i would like to take this opportunity to thank all of you",
    "first-time": "for the first time in the history of the united states",
    "do-what-we-have-to": "at the end of the day we will do what we have to do",
}
OWN = {
    "eliminating": "we don't sleep for one night unless we think of eliminating",
    "martyr": "he has honorably and deservedly earnt the name martyr of al-aqsa",
    "wartime": "the transition from a wartime to a peacetime economy",
}


def bits(text: str) -> float:
    return background("en").information(tokenize(text).hashes)


@pytest.mark.parametrize("text", STOCK.values(), ids=STOCK.keys())
def test_stock_phrases_carry_too_little(text: str) -> None:
    assert bits(text) < MIN_BITS


@pytest.mark.parametrize("text", OWN.values(), ids=OWN.keys())
def test_a_texts_own_words_carry_enough(text: str) -> None:
    assert bits(text) >= MIN_BITS


def test_function_words_carry_nothing_and_unknown_words_the_most() -> None:
    bg = background("en")
    content = bg.content(tokenize("the of and zqxjvw").hashes)
    assert content.tolist()[:3] == [0.0, 0.0, 0.0]
    assert content[3] == MAX_BITS - BASE_BITS
    assert 0 < bg.content(tokenize("eliminating").hashes)[0] < MAX_BITS - BASE_BITS


def test_spellings_that_normalise_alike_are_one_word() -> None:
    bg = background("en")
    plain = bg.surprisal(tokenize("modern sleep").hashes)
    typed = bg.surprisal(tokenize("ＭＯＤＥＲＮ ѕlеер").hashes)  # full-width letters, Cyrillic look-alikes
    assert np.array_equal(plain, typed)


def test_a_word_said_again_adds_nothing() -> None:
    assert bits("war war war war war war war war war war") == bits("war")


words = st.sampled_from(
    [
        "the",
        "people",
        "sleep",
        "night",
        "eliminating",
        "war",
        "of",
        "and",
        "quickly",
        "martyr",
        "zqxj",
        "1947",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(words, min_size=1, max_size=12), st.lists(words, min_size=1, max_size=12))
def test_information_is_at_most_additive_and_order_free(a: list[str], b: list[str]) -> None:
    ab, ba = bits(" ".join(a + b)), bits(" ".join(b + a))
    assert ab == pytest.approx(ba)
    assert (
        max(bits(" ".join(a)), bits(" ".join(b))) - 1e-9 <= ab <= bits(" ".join(a)) + bits(" ".join(b)) + 1e-9
    )


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), max_size=20), st.integers(2, 4))
def test_phrase_hashes_are_one_per_window_and_depend_on_the_window_only(values: list[int], n: int) -> None:
    h = np.array(values, dtype=np.uint64)
    out = phrase_hashes(h, n)
    assert len(out) == max(0, len(h) - n + 1)
    for i in range(len(out)):
        assert phrase_hashes(h[i : i + n], n).tolist() == [out[i]]


def test_a_reference_of_clean_text_makes_its_footer_a_stock_phrase(state_union: dict[str, str]) -> None:
    assert bits(FOOTER) >= MIN_BITS  # the language alone does not know a publisher's footer
    clean = [text + "\n" + FOOTER for text in list(state_union.values())[:5]]
    ref = Reference.build(clean, min_docs=3)
    bg = background("en").with_reference(ref)
    assert bg.information(tokenize(FOOTER).hashes) == 0.0
    sentence = "we don't sleep for one night unless we think of eliminating"
    assert bg.information(tokenize(sentence).hashes) == bits(sentence)  # in no clean document


def test_a_reference_round_trips_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    ref = Reference.build(["a b c d e", "a b c x y", "a b c q r"], min_docs=3)
    assert len(ref) == 1 and ref.n_docs == 3
    path = tmp_path / "ref.npz"
    ref.save(path)
    back = Reference.load(path)
    assert np.array_equal(back.phrases, ref.phrases) and (back.n, back.min_docs) == (3, 3)
    (tmp_path / "bad.npz").write_bytes(b"not a reference")
    with pytest.raises(InputError, match="not a copytrace reference"):
        Reference.load(tmp_path / "bad.npz")
    with pytest.raises(InputError, match="min_docs"):
        Reference.build(["a b c"], min_docs=0)


def test_the_reference_command_builds_from_a_folder(
    tmp_path: Path, state_union: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "clean"
    folder.mkdir()
    for name, text in list(state_union.items())[:20]:
        (folder / f"{name}.txt").write_text(text + "\n" + FOOTER, encoding="utf-8")
    out = tmp_path / "ref.npz"
    assert main([str(out), str(folder)]) == 0
    assert "from 20 documents" in capsys.readouterr().out
    ref = Reference.load(out)
    assert ref.covered(tokenize(FOOTER).hashes).all()
    assert main([str(out), str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_the_documented_reference_command_runs(tmp_path: Path) -> None:
    """``python -m copytrace.evaluation.reference`` (the command docs/matching.md names) runs as a module and
    says what is wrong with a corpus that is not there."""
    missing = tmp_path / "missing"
    done = subprocess.run(
        [sys.executable, "-m", "copytrace.evaluation.reference", str(tmp_path / "ref.npz"), str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert f"{missing}: no such file or directory" in done.stderr


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(InputError, match="no word frequencies for language 'xx'"):
        background("xx")
