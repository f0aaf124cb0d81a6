"""python-threatexchange's own signal-type test helpers, run unchanged against both copytrace signal types.

The helpers (``TextHasherAutoTest``, ``TestIndexUpdates``, the ``hash_from_*`` checks) are read from
python-threatexchange's source tree (``tests/third_party.py``); each class below only supplies the cases.
Where copytrace deliberately differs from a helper's expectation, the test says why.
"""

from __future__ import annotations

import typing as t
from functools import cache

import pytest
from threatexchange.signal_type.index import SignalTypeIndex

from copytrace import fingerprint
from copytrace.phrases import phrase_fingerprint
from copytrace.text.textio import read_text_file
from copytrace.threatexchange import (
    CopytraceIndex,
    CopytracePhraseIndex,
    CopytracePhraseSignal,
    CopytraceSignal,
    CopytraceSimilarity,
)
from copytrace.threatexchange.phrase import PhraseSimilarity

from .conftest import CANONICAL_000, CANONICAL_001, DATA
from .third_party import threatexchange_module

helper = threatexchange_module("signal_type/tests/signal_type_test_helper.py")
hash_from_x = threatexchange_module("signal_type/tests/test_hash_from_x.py")
index_updates = threatexchange_module("tests/hashing/test_index_updates.py")


@cache
def _text(name: str) -> str:
    if name in ("000", "001"):
        return read_text_file(CANONICAL_000 if name == "000" else CANONICAL_001).text
    return read_text_file(DATA / "corpora" / "inaugural" / f"{name}.txt").text


ARTICLE_1 = "All human beings are born free and equal"


def _signal(name: str) -> str:
    return CopytraceSignal.hash_from_str(_text(name))


class TestCopytraceSignal(helper.TextHasherAutoTest):  # type: ignore[misc]
    TYPE = CopytraceSignal

    def get_validate_hash_cases(self) -> t.Iterable[t.Any]:
        example = CopytraceSignal.get_examples()[0]
        return [
            example,
            (f" {example}\n", example),
            ("", ""),  # the empty signal of a text too short to hash: valid, matches nothing
            ("ctw1:n1:k5:w4:public:!!", ValueError),
            ("not a fingerprint", ValueError),
            (CopytracePhraseSignal.get_examples()[0], ValueError),
        ]

    def get_compare_hash_cases(self) -> t.Iterable[t.Any]:
        return [
            (_signal("000"), _signal("001"), True),
            (_signal("000"), _signal("000"), True, CopytraceSimilarity(0)),
            (_signal("000"), _signal("1961-Kennedy"), False, CopytraceSimilarity(100)),
            (_signal("000"), "", False, CopytraceSimilarity(100)),
        ]

    def get_hashes_from_str_cases(self) -> t.Iterable[tuple[str, str]]:
        return [
            (_text("000"), str(fingerprint(_text("000")))),
            (ARTICLE_1, str(fingerprint(ARTICLE_1))),
            ("test string", ""),  # two words hold no 5-word k-gram: see test_str_hashers_have_impl below
            ("", ""),
        ]


SLOGAN = "Death to the occupiers, burn their homes"


class TestCopytracePhraseSignal(helper.TextHasherAutoTest):  # type: ignore[misc]
    TYPE = CopytracePhraseSignal

    def get_validate_hash_cases(self) -> t.Iterable[t.Any]:
        example = CopytracePhraseSignal.get_examples()[0]
        return [
            example,
            (f"\t{example} ", example),
            ("", ""),  # the empty signal of a text with no letter: valid, matches nothing
            ("ctp1:garbage", ValueError),
            (CopytraceSignal.get_examples()[0], ValueError),
        ]

    def get_compare_hash_cases(self) -> t.Iterable[t.Any]:
        banked = CopytracePhraseSignal.hash_from_str(SLOGAN)
        return [
            (banked, CopytracePhraseSignal.hash_from_str("D3ATH t0 the 0ccupiers - burn their h0mes!")),
            (
                banked,
                CopytracePhraseSignal.hash_from_str("deathtotheoccupiersburntheirhomes"),
                True,
                PhraseSimilarity(0),
            ),
            (
                banked,
                CopytracePhraseSignal.hash_from_str("death to the occupation"),
                False,
                PhraseSimilarity(1),
            ),
            (banked, "", False),
        ]

    def get_hashes_from_str_cases(self) -> t.Iterable[tuple[str, str]]:
        return [
            (SLOGAN, str(phrase_fingerprint(SLOGAN))),
            ("test string", str(phrase_fingerprint("test string"))),
            ("...", ""),
            ("", ""),
        ]


SIGNAL_TYPES = [CopytraceSignal, CopytracePhraseSignal]


def test_signal_names_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unique among threatexchange's own signal types too."""
    monkeypatch.setattr(
        hash_from_x, "SIGNAL_TYPES_TO_TEST", [*hash_from_x.SIGNAL_TYPES_TO_TEST, *SIGNAL_TYPES]
    )
    hash_from_x.test_signal_names_unique()


@pytest.mark.parametrize("signal_type", SIGNAL_TYPES, ids=lambda s: s.get_name())
def test_signal_types_have_content(signal_type: t.Any) -> None:
    hash_from_x.test_signal_types_have_content(signal_type)


def test_str_hashers_have_impl() -> None:
    """The helper expects output for "test string".  The phrase signal gives one; the ``copytrace`` signal
    deliberately does not: two words hold no k-gram of its 5 words, and threatexchange's ``TextHasher``
    contract says a text that cannot be hashed gives ``""``.  (Upstream, the helper's parametrisation filters
    classes with ``isinstance(cls, TextHasher)``, which no class passes, so it runs on no signal type.)"""
    hash_from_x.test_str_hashers_have_impl(CopytracePhraseSignal)
    with pytest.raises(AssertionError, match="produced no output"):
        hash_from_x.test_str_hashers_have_impl(CopytraceSignal)
    assert CopytraceSignal.hash_from_str("test string with at least five words") != ""


# Inaugural addresses that share no passage with any other in the corpus: others quote each other (Polk
# and McKinley share paragraphs of the oath's preamble, Bush 1989 and Obama 2009 a scripture verse), and
# copytrace reports a shared passage, a shared title line included, as the real copying it is.  The harness
# assumes that texts of the two sets never match, so its sets must not share text.
FIRST = ["1933-Roosevelt", "1949-Truman", "1953-Eisenhower", "1817-Monroe", "1829-Jackson", "1913-Wilson"]
SECOND = ["1961-Kennedy", "1965-Johnson", "1969-Nixon", "1985-Reagan", "1809-Madison", "1861-Lincoln"]


class TestCopytraceIndexUpdates(index_updates.TestIndexUpdates):  # type: ignore[misc]
    __test__ = True

    def get_index(self, initial_set: t.Iterable[tuple[str, t.Any]]) -> SignalTypeIndex[t.Any]:
        return CopytraceIndex.build(initial_set)

    def get_first_set(self) -> list[tuple[str, t.Any]]:
        return [(_signal(name), {"meta_data": name}) for name in FIRST]

    def get_second_set(self) -> list[tuple[str, t.Any]]:
        return [(_signal(name), {"meta_data": name}) for name in SECOND]


SLOGANS = ["No justice, no peace", "Death to the occupiers", "Burn it all down", "From the river to the sea"]


class TestCopytracePhraseIndexUpdates(index_updates.TestIndexUpdates):  # type: ignore[misc]
    __test__ = True

    def get_index(self, initial_set: t.Iterable[tuple[str, t.Any]]) -> SignalTypeIndex[t.Any]:
        return CopytracePhraseIndex.build(initial_set)

    def get_first_set(self) -> list[tuple[str, t.Any]]:
        return [(CopytracePhraseSignal.hash_from_str(s), {"meta_data": s}) for s in SLOGANS[:2]]

    def get_second_set(self) -> list[tuple[str, t.Any]]:
        return [(CopytracePhraseSignal.hash_from_str(s), {"meta_data": s}) for s in SLOGANS[2:]]
