"""Fingerprints: winnowing by definition, the guarantee, keyed hashing, and the string form."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace import (
    Fingerprint,
    FingerprintFormatError,
    FingerprintParams,
    Key,
    KeyFormatError,
    TooShortError,
    fingerprint,
    tokenize,
)
from copytrace.fingerprints import _hashing as K
from copytrace.text.textio import read_text_file

from .conftest import DATA
from .reference import siphash, winnow

WORDS = st.lists(
    st.sampled_from(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta", "iota", "kappa"]),
    max_size=80,
)
SECRET = "a test secret of enough length"


def test_siphash_matches_the_reference_vectors() -> None:
    key = bytes(range(16))
    assert siphash(key, b"") == 0x726FDB47DD0E0E31  # SipHash-2-4 paper, appendix A, empty message
    assert siphash(key, bytes(range(8))) == 0x93F5F5799A932462  # same table, 8-byte message
    k0, k1 = (np.uint64(int.from_bytes(key[i : i + 8], "little")) for i in (0, 8))
    m = np.uint64(int.from_bytes(bytes(range(8)), "little"))
    assert int(K.siphash24_u64(k0, k1, m)) == 0x93F5F5799A932462


@given(st.lists(st.integers(0, 2**64 - 1), max_size=60), st.integers(1, 9))
@settings(max_examples=300, deadline=None)
def test_winnowing_matches_its_definition(hashes: list[int], window: int) -> None:
    got = K.winnow(np.array(hashes, dtype=np.uint64), window).tolist()
    assert got == winnow(hashes, window)


@given(WORDS)
@settings(max_examples=200, deadline=None)
def test_winnowed_hashes_are_a_subset_of_all_kgram_hashes(words: list[str]) -> None:
    text = " ".join(words)
    fp = fingerprint(text, allow_short=True)
    toks = tokenize(text)
    every = K.kgram_hashes(toks.hashes, 5, np.uint64(0), np.uint64(0))
    assert set(fp.hashes.tolist()) <= set(every.tolist())
    assert np.array_equal(every[fp.positions], fp.hashes)
    assert np.all(np.diff(fp.positions) > 0)


@given(WORDS, WORDS, WORDS, WORDS)
@settings(max_examples=200, deadline=None)
def test_shared_run_of_guarantee_length_shares_a_fingerprint(
    a: list[str], b: list[str], shared: list[str], c: list[str]
) -> None:
    params = FingerprintParams()
    if len(shared) < params.guarantee:
        shared = (shared * params.guarantee)[: params.guarantee] or ["x"] * params.guarantee
    x = fingerprint(" ".join(a + shared + b))
    y = fingerprint(" ".join(c + shared))
    assert set(x.hashes.tolist()) & set(y.hashes.tolist())


def test_density_on_real_text_is_near_two_over_window_plus_one(state_union: dict[str, str]) -> None:
    fp = fingerprint(" ".join(state_union.values()))
    density = len(fp) / fp.n_tokens
    assert abs(density - 2 / (fp.params.window + 1)) < 0.02


@given(WORDS.filter(lambda w: len(w) >= 5), st.none() | st.just(SECRET))
@settings(max_examples=100, deadline=None)
def test_string_form_round_trips(words: list[str], secret: str | None) -> None:
    fp = fingerprint(" ".join(words), key=secret)
    again = Fingerprint.parse(str(fp))
    assert again == fp
    assert str(again) == str(fp)


def test_keyed_fingerprints_differ_and_name_their_key() -> None:
    text = "the same words hashed with and without a secret key give unrelated hashes"
    plain, keyed = fingerprint(text), fingerprint(text, key=SECRET)
    assert keyed.params.key_id == Key.from_secret(SECRET).key_id != "public"
    assert not set(plain.hashes.tolist()) & set(keyed.hashes.tolist())
    assert str(keyed).split(":")[4] == keyed.params.key_id


def test_short_keys_are_refused() -> None:
    with pytest.raises(KeyFormatError, match="at least 16"):
        fingerprint("some text that is long enough", key="short")


def test_text_shorter_than_a_kgram_has_no_fingerprint() -> None:
    with pytest.raises(TooShortError, match="3 token"):
        fingerprint("only three words")
    assert len(fingerprint("only three words", allow_short=True)) == 0
    assert len(fingerprint("", allow_short=True)) == 0


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nonsense",
        "ctw1:n1:k5:w4:public",
        "ctw9:n1:k5:w4:public:AA",
        "ctw1:n2:k5:w4:public:AA",
        "ctw1:n1:k5:w4:NOTAKEY:AA",
        "ctw1:n1:k5:w4:public:!!!",
        "ctw1:n1:k5:w4:public:Ag",
        "ctw1:n1:k5:w4:public:AQUAAAAAAAAAAA",
    ],
    ids=[
        "empty",
        "no-fields",
        "no-data",
        "future-algorithm",
        "future-normalisation",
        "bad-key-id",
        "not-base64",
        "truncated",
        "missing-positions",
    ],
)
def test_malformed_strings_are_refused_clearly(bad: str) -> None:
    with pytest.raises(FingerprintFormatError):
        Fingerprint.parse(bad)


def test_string_form_is_compact(text_000: str) -> None:
    fp = fingerprint(text_000)
    payload = str(fp).rsplit(":", 1)[1]
    assert len(payload) * 3 / 4 / len(fp) < 10  # bytes per fingerprint: 8 for the hash, ~1 for its position


def _raw(payload: bytes) -> str:
    return f"ctw1:n1:k5:w4:public:{base64.urlsafe_b64encode(payload).rstrip(b'=').decode('ascii')}"


def _forge(count: int, n_tokens: int, *deltas: int) -> str:
    """A fingerprint string with any counts and positions (hashes all zero), as an attacker would write."""
    head = K.varint_encode(np.array([count, n_tokens], dtype=np.uint64)).tobytes()
    return _raw(head + bytes(8 * count) + K.varint_encode(np.array(deltas, dtype=np.uint64)).tobytes())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("ctw1:n1:k5:w4:public:AICAgICAIA", "at most 2147483647"),
        (_forge(0, 2**31), "at most 2147483647"),
        ("ctw1:n1:k0:w4:public:", "k must be between 1 and 32"),
        ("ctw1:n1:k33:w4:public:", "k must be between 1 and 32"),
        ("ctw1:n1:k5:w0:public:", "window must be between 1 and 1024"),
        ("ctw1:n1:k5:w1025:public:", "window must be between 1 and 1024"),
        ("ctw1:n1:k" + "9" * 5000 + ":w4:public:", "bad fingerprint parameters"),
        ("ctw1:n1:k05:w4:public:AAA", "leading zeros"),
        ("ctw1:n1:k٥:w4:public:AAA", "bad fingerprint parameters"),
        (_forge(1, 4, 0), "fewer than k=5 tokens have none"),
        (_forge(0, 5), "has no hashes"),
        (
            _forge(3, 6, 0, 1, 1),
            "3 hashes for 2 k-grams",
        ),
        (
            _forge(2, 20, 4, 4),
            "first position 4 is not within the first window",
        ),
        (
            _forge(3, 20, 0, 5, 5),
            "step of 5",
        ),
        (
            _forge(3, 20, 0, 0, 4),
            "step of 0",
        ),
        (
            _forge(3, 20, 1, 2**64 - 1, 4),
            "step of 18446744073709551615",
        ),
        (
            _forge(2, 20, 1, 4),
            "last position 5 is not within the last window",
        ),
        (
            _forge(2, 8, 3, 2),
            "last position 5 is not within the last window",
        ),
        (_forge(0, 3) + "=", "not base64url"),
        (_forge(0, 3).replace("A", "+"), "not base64url"),
        (_forge(0, 3)[:-1] + "B", "not in canonical form"),
        (_raw(b"\x80\x00\x03"), "not in canonical form"),
        ("ctw1:n1:k5:w4:public:gICAgICAgICAgAE", "truncated"),
    ],
    ids=[
        "poison-2-to-the-40-tokens",
        "2-to-the-31-tokens",
        "k0",
        "k33",
        "w0",
        "w1025",
        "k-of-5000-digits",
        "leading-zero",
        "arabic-digit",
        "hashes-for-too-few-tokens",
        "no-hashes-for-enough-tokens",
        "more-hashes-than-kgrams",
        "first-position-after-the-first-window",
        "gap-over-the-window",
        "repeated-position",
        "wrapping-delta",
        "last-position-before-the-last-window",
        "last-position-past-the-end",
        "padding",
        "standard-base64",
        "stray-bits",
        "overlong-varint",
        "varint-over-64-bits",
    ],
)
def test_every_field_is_validated(bad: str, message: str) -> None:
    with pytest.raises(FingerprintFormatError, match=re.escape(message)):
        Fingerprint.parse(bad)


@pytest.mark.parametrize(
    "bad", ["ctw1:n1:k0:w4:public", "ctw1:n1:k5:w2000:public", "ctw1:n1:k99999999999:w4:public"]
)
def test_params_out_of_range_are_format_errors(bad: str) -> None:
    with pytest.raises(FingerprintFormatError, match="bad fingerprint parameters"):
        FingerprintParams.parse(bad)
    with pytest.raises(ValueError, match="must be between"):
        FingerprintParams(k=0)


PARAMS = st.tuples(st.integers(1, 32), st.sampled_from([1, 2, 3, 4, 7, 50, 1023, 1024]))


@given(st.lists(st.sampled_from(["a", "b", "c", "word", "中", "x"]), max_size=300), PARAMS)
@settings(max_examples=300, deadline=None, derandomize=True)
def test_every_genuine_fingerprint_parses(words: list[str], params: tuple[int, int]) -> None:
    """The checks refuse nothing ``fingerprint`` makes: every k, window and length, short texts included."""
    k, window = params
    fp = fingerprint(" ".join(words), k=k, window=window, allow_short=True)
    assert Fingerprint.parse(str(fp)) == fp


@pytest.mark.parametrize(("k", "window"), [(1, 1), (5, 4), (2, 1024), (32, 1), (32, 1024), (3, 17)])
def test_every_data_file_fingerprint_parses(k: int, window: int) -> None:
    for path in sorted(DATA.rglob("*.txt")):
        text = read_text_file(path).text
        for size in (0, 10, 100, 1000, len(text)):
            fp = fingerprint(text[:size], k=k, window=window, allow_short=True)
            assert Fingerprint.parse(str(fp)) == fp, (path.name, size)
