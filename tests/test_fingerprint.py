"""Fingerprints: winnowing by definition, the guarantee, keyed hashing, and the string form."""

from __future__ import annotations

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
from copytrace import _hashing as K

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
