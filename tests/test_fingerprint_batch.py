"""Bulk fingerprints: ``parse_many`` accepts and refuses exactly as ``Fingerprint.parse``,
``fingerprint_many`` equals ``fingerprint`` text by text, and a ``FingerprintBatch`` gives back the
fingerprints it holds."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from copytrace import (
    Fingerprint,
    FingerprintFormatError,
    FingerprintParams,
    Key,
    ParameterMismatchError,
    TooShortError,
    fingerprint,
    tokenize,
)
from copytrace.fingerprints.batch import FingerprintBatch, _compiled_parse, fingerprint_many, parse_many
from copytrace.fingerprints.fingerprint import DEFAULT_PARAMS
from copytrace.text.textio import read_text_file

from .conftest import DATA
from .reference import mutate

PROPS = settings(max_examples=200, deadline=None, derandomize=True)
SECRET = "a test secret of enough length"
KEY_ID = Key.from_secret(SECRET).key_id
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "fingerprints_v1.json").read_text(encoding="utf-8"))

# Text that mixes words, scripts, combining marks, invisible characters and markup fragments.
PIECES = st.sampled_from(
    [
        "word",
        "Word",
        "alpha",
        "beta",
        "gamma",
        "delta",
        " ",
        "\n",
        "中",
        "ภาษา",
        "مرحبا",
        "e\u0301",
        "\u200b",
        "\ufb03",
        "\ud800",
        "<p>",
        "</p>",
        "<b>",
        "&amp;",
        "-",
        "\x00",
    ]
)
TEXT = st.one_of(st.lists(PIECES, max_size=60).map("".join), st.text(max_size=60))
KPARAMS = st.tuples(st.integers(1, 8), st.sampled_from([1, 2, 4, 9, 70, 200]))


def _corpus_texts() -> list[str]:
    paths = sorted((DATA / "corpora").glob("*/*.txt")) + sorted((DATA / "canonical").glob("*.txt"))
    return [read_text_file(p).text for p in paths]


# ------------------------------------------------------------------------------------- fingerprint_many
def _assert_same_as_fingerprint(
    texts: list[str], *, key: str | None = None, k: int = 5, window: int = 4, html: bool | None = None
) -> FingerprintBatch:
    batch, tokens = fingerprint_many(texts, key=key, k=k, window=window, html=html)
    assert len(batch) == len(tokens) == len(texts)
    for i, text in enumerate(texts):
        want = fingerprint(text, key=key, k=k, window=window, html=html, allow_short=True)
        got = batch[i]
        assert got == want and got.hashes.dtype == np.uint64 and got.positions.dtype == np.int64
        assert str(got) == str(want)
        toks = tokenize(text, html=html)
        assert np.array_equal(tokens[i].starts, toks.starts) and np.array_equal(tokens[i].ends, toks.ends)
        assert np.array_equal(tokens[i].hashes, toks.hashes)
    return batch


@given(
    st.lists(TEXT, max_size=8),
    KPARAMS,
    st.sampled_from([None, SECRET]),
    st.sampled_from([None, True, False]),
)
@PROPS
def test_fingerprint_many_equals_fingerprint_of_each_text(
    texts: list[str], kw: tuple[int, int], key: str | None, html: bool | None
) -> None:
    k, window = kw
    _assert_same_as_fingerprint(texts, key=key, k=k, window=window, html=html)


@pytest.mark.parametrize(
    "key", sorted({v["key"] or "" for v in GOLDEN}), ids=lambda k: "keyed" if k else "public"
)
def test_fingerprint_many_gives_the_golden_vectors(key: str) -> None:
    vectors = [v for v in GOLDEN if (v["key"] or "") == key]
    batch, _ = fingerprint_many([v["text"] for v in vectors], key=key or None)
    assert [str(fp) for fp in batch] == [v["fingerprint"] for v in vectors]


@pytest.mark.parametrize("k,window", [(5, 4), (1, 1), (12, 40)], ids=["default", "k1-w1", "k12-w40"])
def test_fingerprint_many_on_the_shared_data(k: int, window: int) -> None:
    texts = _corpus_texts()
    assert len(texts) > 100
    _assert_same_as_fingerprint(texts, k=k, window=window)


def test_fingerprint_many_keyed_on_the_shared_data() -> None:
    batch = _assert_same_as_fingerprint(_corpus_texts()[:20], key=SECRET)
    assert batch.params.key_id == KEY_ID


def test_short_texts_have_empty_fingerprints_or_raise_when_not_allowed() -> None:
    texts = ["one two three four five six", "too short", "", "one two three four five"]
    batch, _ = fingerprint_many(texts)
    assert list(batch) == [fingerprint(t, allow_short=True) for t in texts]
    assert [len(fp) for fp in batch] == [len(fingerprint(texts[0])), 0, 0, 1]
    assert batch.n_tokens.tolist() == [6, 2, 0, 5]
    with pytest.raises(TooShortError, match="2 token") as info:
        fingerprint_many(texts, allow_short=False)
    assert info.value.__notes__ == ["text 1 of the 4 given"]


def test_no_texts_make_an_empty_batch() -> None:
    batch, tokens = fingerprint_many([])
    assert len(batch) == 0 and tokens == [] and list(batch) == [] and batch.params == DEFAULT_PARAMS


# ------------------------------------------------------------------------------------------ parse_many
def _reference(strings: list[str], params: FingerprintParams) -> tuple[list[Fingerprint], list[int]]:
    """What ``parse_many`` must give: ``Fingerprint.parse`` of each string, kept when made with ``params``."""
    good: list[Fingerprint] = []
    bad: list[int] = []
    for i, s in enumerate(strings):
        try:
            fp = Fingerprint.parse(s)
        except FingerprintFormatError:
            bad.append(i)
            continue
        if fp.params == params:
            good.append(fp)
        else:
            bad.append(i)
    return good, bad


def _assert_agrees(strings: list[str], params: FingerprintParams) -> None:
    good, bad = _reference(strings, params)
    if currently_in_test_context():
        event(f"{min(len(good), 3)}+ accepted, {min(len(bad), 3)}+ refused")
    batch, errors = parse_many(strings, params)
    assert [i for i, _ in errors] == bad
    assert list(batch) == good
    assert batch.hashes.dtype == np.uint64 and batch.positions.dtype == np.int64
    assert batch.offsets.dtype == np.int64 and batch.n_tokens.dtype == np.int64
    for i, exc in errors:
        try:
            fp = Fingerprint.parse(strings[i])
        except FingerprintFormatError as want:
            assert str(exc) == str(want)
        else:
            assert str(exc).startswith(f"fingerprint made with {fp.params}, expected {params}: ")
    # the compiled pass alone is exact on ASCII strings: parse is called only to word the errors
    ascii_only = [s for s in strings if s.isascii()]
    ok = _compiled_parse(ascii_only, params)[0]
    refused = set(_reference(ascii_only, params)[1])  # once: parsing every string again per string was O(n²)
    assert ok.tolist() == [i not in refused for i in range(len(ascii_only))]


PARAMS = st.builds(
    lambda kw, key_id: FingerprintParams(k=kw[0], window=kw[1], key_id=key_id),
    KPARAMS,
    st.sampled_from(["public", KEY_ID]),
)
WORDS = st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "eps", "zeta"]), max_size=40)


@st.composite
def genuine(draw: st.DrawFn, params: FingerprintParams | None = None) -> str:
    p = draw(PARAMS) if params is None else params
    key = SECRET if p.key_id == KEY_ID else None
    return str(fingerprint(" ".join(draw(WORDS)), key=key, k=p.k, window=p.window, allow_short=True))


EDITS = st.lists(
    st.tuples(
        st.integers(0, 10**6),
        st.sampled_from(["sub", "del", "ins"]),
        st.sampled_from([*B64, ":", "0", "1", "k", "w", "=", " ", "\t", "\xa0", "é"]),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def mutated(draw: st.DrawFn, params: FingerprintParams) -> str:
    return mutate(draw(genuine(params)), draw(EDITS))


@st.composite
def mutated_payload(draw: st.DrawFn, params: FingerprintParams) -> str:
    """Edited payload bytes reach the field checks (counts, varints, positions), not only base64 errors."""
    head, _, b64 = draw(genuine(params)).rpartition(":")
    payload = bytearray(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    for at, value in draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=2)):
        if payload:
            payload[at % len(payload)] = value
    del payload[len(payload) - draw(st.integers(0, 2)) :]
    payload += bytes(draw(st.lists(st.integers(0, 255), max_size=2)))
    return f"{head}:{base64.urlsafe_b64encode(bytes(payload)).rstrip(b'=').decode('ascii')}"


def _varint(value: int, style: int = 0) -> bytes:
    """LEB128 of ``value``: canonical (style 0), with a needless final zero byte (1), or spread over ten
    bytes whose last is ``style - 2`` (2: overlong; 3: a canonical value above 2**63; 4, 5: lost bits)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            break
        out.append(byte | 0x80)
    if style == 1:
        return bytes(out[:-1]) + bytes([out[-1] | 0x80, 0])
    if style >= 2 and len(out) < 10:
        return bytes(out[:-1]) + bytes([out[-1] | 0x80]) + b"\x80" * (9 - len(out)) + bytes([style - 2])
    return bytes(out)


@st.composite
def built(draw: st.DrawFn, params: FingerprintParams) -> str:
    """Payloads built field by field, near the limits of the rules: most are valid or break one rule."""
    k, window = params.k, params.window

    def rare() -> bool:
        return draw(st.integers(0, 11)) == 0

    count = draw(st.integers(0, 12))
    deltas = [
        draw(st.integers(0, window - 1)) if i == 0 else draw(st.integers(1, window)) for i in range(count)
    ]
    if count and rare():
        deltas[0] = window  # not within the first window
    if count > 1 and rare():
        deltas[draw(st.integers(1, count - 1))] = draw(st.sampled_from([0, window + 1]))
    n_kgrams = sum(deltas) + draw(st.integers(1, window))  # the last position is in the last window
    if draw(st.integers(0, 5)) == 0:
        n_kgrams += draw(st.sampled_from([-1, window]))
    if not count:
        n_kgrams = draw(st.integers(-2, 1))
    n_tokens = max(0, n_kgrams + k - 1)
    count_written = draw(st.integers(0, 14)) if rare() else count
    styles = [0] * (2 + count)
    if draw(st.integers(0, 3)) == 0:  # one number written in another way
        styles[draw(st.integers(0, len(styles) - 1))] = draw(st.integers(1, 5))
    payload = _varint(count_written, styles[0]) + _varint(n_tokens, styles[1])
    payload += np.arange(count, dtype="<u8").tobytes()
    payload += b"".join(_varint(d, style) for d, style in zip(deltas, styles[2:], strict=True))
    if rare():
        payload += bytes([draw(st.integers(0, 255))])  # trailing data
    data = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
    stray = {2: 0xF, 3: 0x3}.get(len(data) % 4, 0)  # the bits of the last character that carry no data
    if stray and draw(st.integers(0, 5)) == 0:
        data = data[:-1] + B64[B64.index(data[-1]) | draw(st.integers(1, stray))]
    return f"{params}:{data}"


def strings_for(params: FingerprintParams) -> st.SearchStrategy[list[str]]:
    one = st.one_of(
        genuine(params),
        genuine(),
        mutated(params),
        mutated_payload(params),
        built(params),
        built(params),
        genuine(params).map(lambda s: f" \t{s}\n"),
        genuine(params).map(lambda s: f"\xa0{s}\u2003"),
        st.text(B64, max_size=40).map(lambda data: f"{params}:{data}"),
        st.text(max_size=40),
    )
    return st.lists(one, min_size=1, max_size=12)


@given(st.data(), PARAMS)
@settings(PROPS, max_examples=400)
def test_parse_many_agrees_with_parse(data: st.DataObject, params: FingerprintParams) -> None:
    """Same acceptance, same arrays, same errors as parsing one string at a time."""
    _assert_agrees(data.draw(strings_for(params)), params)


@given(st.lists(genuine(), max_size=10), KPARAMS, st.sampled_from(["public", KEY_ID]))
@PROPS
def test_parse_many_refuses_strings_made_with_other_parameters(
    strings: list[str], kw: tuple[int, int], key_id: str
) -> None:
    _assert_agrees(strings, FingerprintParams(k=kw[0], window=kw[1], key_id=key_id))


def _encoded(params: str, payload: bytes, last_char_bits: int = 0) -> str:
    data = base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")
    return f"{params}:{data[:-1]}{B64[B64.index(data[-1]) | last_char_bits]}"


W200 = "ctw1:n1:k5:w200:public"
HASH = bytes(range(8))
EDGE_CASES = {
    # (string, accepted): each refused one breaks exactly one rule
    "valid-13-bytes": (_encoded(W200, _varint(1) + _varint(200) + HASH + _varint(150)), True),
    "stray-bits-after-one-byte": (
        _encoded(W200, _varint(1) + _varint(200) + HASH + _varint(150), 0x3),
        False,
    ),
    "valid-11-bytes": (_encoded(W200, _varint(1) + _varint(10) + HASH + _varint(3)), True),
    "stray-bits-after-two-bytes": (_encoded(W200, _varint(1) + _varint(10) + HASH + _varint(3), 0x1), False),
    "overlong-count": (_encoded(W200, _varint(1, 1) + _varint(10) + HASH + _varint(3)), False),
    "overlong-position": (_encoded(W200, _varint(1) + _varint(10) + HASH + _varint(3, 1)), False),
    "ten-byte-zero-count": (_encoded(W200, _varint(0, 2) + _varint(0)), False),
    "ten-byte-count-losing-bits": (_encoded(W200, _varint(0, 4) + _varint(0)), False),
    "ten-byte-position-losing-bits": (_encoded(W200, _varint(1) + _varint(10) + HASH + _varint(3, 4)), False),
    "trailing-byte": (_encoded(W200, _varint(1) + _varint(10) + HASH + _varint(3) + b"\0"), False),
    "empty-payload": ("ctw1:n1:k5:w200:public:", False),
    "padding": (_encoded(W200, _varint(1) + _varint(10) + HASH + _varint(3)) + "=", False),
}


@pytest.mark.parametrize("case", EDGE_CASES, ids=list(EDGE_CASES))
def test_parse_many_edge_cases(case: str) -> None:
    string, accepted = EDGE_CASES[case]
    params = FingerprintParams(window=200)
    assert (not _reference([string], params)[1]) == accepted
    _assert_agrees([string, str(fingerprint("one two three four five six", window=200)), string], params)


@pytest.mark.parametrize(
    "n_tokens,accepted", [(2**31 - 1, True), (2**31, False)], ids=["max-tokens", "one-more"]
)
def test_parse_many_keeps_to_max_tokens(n_tokens: int, accepted: bool) -> None:
    """2**21 positions 1024 apart reach the last window of 2**31 k-grams: MAX_TOKENS refuses the second."""
    count = 2**21
    payload = _varint(count) + _varint(n_tokens) + np.arange(count, dtype="<u8").tobytes()
    payload += _varint(1022) + _varint(1024) * (count - 1)
    string = f"ctw1:n1:k1:w1024:public:{base64.urlsafe_b64encode(payload).rstrip(b'=').decode('ascii')}"
    params = FingerprintParams(k=1, window=1024)
    batch, errors = parse_many([string], params)
    assert len(batch) == int(accepted) and len(errors) == int(not accepted)
    _assert_agrees([string], params)
    if accepted:
        assert batch.positions[-1] == 2**31 - 2 and batch.n_tokens.tolist() == [2**31 - 1]


def test_parse_many_reads_real_fingerprints_of_the_shared_data() -> None:
    texts = _corpus_texts()
    strings = [str(fingerprint(t)) for t in texts]
    batch, errors = parse_many(strings, DEFAULT_PARAMS)
    assert errors == [] and [str(fp) for fp in batch] == strings
    broken = list(strings)
    broken[1] = broken[1][:-3]
    broken[4] = str(fingerprint(texts[4], k=6))
    broken[7] = "\u2028" + broken[7] + " "
    _assert_agrees(broken, DEFAULT_PARAMS)
    batch, errors = parse_many(broken, DEFAULT_PARAMS)
    assert [i for i, _ in errors] == [1, 4] and len(batch) == len(strings) - 2
    assert "fingerprint made with ctw1:n1:k6:w4:public, expected ctw1:n1:k5:w4:public" in str(errors[1][1])
    assert batch[5] == Fingerprint.parse(strings[7])  # the 6th good one


@pytest.mark.parametrize(
    "params",
    [FingerprintParams(algorithm=2), FingerprintParams(normalisation=9), FingerprintParams(key_id="Bad")],
    ids=["algorithm-2", "normalisation-9", "bad-key-id"],
)
def test_parse_many_with_parameters_it_cannot_read_refuses_everything(params: FingerprintParams) -> None:
    strings = [str(dataclasses.replace(fingerprint("one two three four five six"), params=params))]
    batch, errors = parse_many(strings, params)
    assert len(batch) == 0 and [i for i, _ in errors] == [0]
    with pytest.raises(FingerprintFormatError) as info:
        Fingerprint.parse(strings[0])
    assert str(errors[0][1]) == str(info.value)


# ----------------------------------------------------------------------------------- FingerprintBatch
def test_batch_from_fingerprints_round_trips_and_indexes() -> None:
    fps = [fingerprint(t, allow_short=True) for t in ["a b", "one two three four five six seven", ""]]
    batch = FingerprintBatch.from_fingerprints(fps, DEFAULT_PARAMS)
    assert len(batch) == 3 and list(batch) == fps and batch[-1] == fps[2] and batch[-3] == fps[0]
    assert batch.offsets.tolist() == [0, 0, len(fps[1]), len(fps[1])]
    assert np.shares_memory(batch[1].hashes, batch.hashes)
    for i in (3, -4):
        with pytest.raises(IndexError):
            batch[i]
    assert len(FingerprintBatch.empty(DEFAULT_PARAMS)) == 0


def test_batch_refuses_fingerprints_of_other_parameters() -> None:
    with pytest.raises(ParameterMismatchError, match="ctw1:n1:k6:w4:public do not match ctw1:n1:k5:w4"):
        FingerprintBatch.from_fingerprints([fingerprint("one two three four five six", k=6)], DEFAULT_PARAMS)


def test_batch_refuses_inconsistent_arrays() -> None:
    with pytest.raises(ValueError, match="inconsistent batch"):
        FingerprintBatch(
            DEFAULT_PARAMS,
            np.zeros(3, dtype=np.uint64),
            np.zeros(3, dtype=np.int64),
            np.array([0, 2], dtype=np.int64),
            np.array([9], dtype=np.int64),
        )
