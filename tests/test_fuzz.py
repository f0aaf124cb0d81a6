"""Fuzzing the parts that read untrusted input: text, fingerprint strings, fingerprint lists, JSON Lines.

Each test feeds generated and mutated input and asserts that nothing escapes but the documented
``CopytraceError`` tree, and that whatever is accepted can be used: a fingerprint that parses can be indexed
and matched, a record that reads has the promised types.  Hypothesis runs derandomized (the same examples on
every run), so a failure here is a reproducible bug, never a flaky test.
"""

from __future__ import annotations

import base64
import dataclasses
import json

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from copytrace import (
    CopytraceError,
    Fingerprint,
    FingerprintFormatError,
    Index,
    RecordError,
    TooShortError,
    fingerprint,
    normalize,
    tokenize,
)
from copytrace.fingerprints.exchange import FORMAT, ListRecord, read_list
from copytrace.fingerprints.records import Record, iter_records

from .reference import mutate

FUZZ = settings(max_examples=300, deadline=None, derandomize=True)

# Text that mixes words, scripts, combining marks, invisible characters and markup fragments.
PIECES = st.sampled_from(
    [
        "word",
        "Word",
        " ",
        "\n",
        "中",
        "ภาษา",
        "مرحبا",
        "e\u0301",
        "\u200b",
        "\ufeff",
        "\ud800",
        "<p>",
        "</p>",
        "<b>",
        "<a ",
        '"',
        "'",
        "<!--",
        "-->",
        "<script>",
        "&amp;",
        "&#",
        "&",
        ">",
        "<",
        "\x00",
    ]
)
TEXT = st.one_of(st.text(max_size=200), st.lists(PIECES, max_size=60).map("".join))
PARAMS = st.tuples(st.integers(1, 8), st.sampled_from([1, 2, 4, 9]))
SEEDS = [
    "",
    "one two",
    "the quick brown fox jumps over the lazy dog and runs far away into the woods",
    "<p>fish &amp; chips, <b>again</b> and again and again</p> " * 3,
    "中文字日本語のテキスト" * 4,
]


@given(TEXT, st.sampled_from([None, True, False]))
@FUZZ
def test_normalise_and_tokenize_take_any_text(text: str, html: bool | None) -> None:
    toks = tokenize(text, html=html)
    assert len(toks.starts) == len(toks.ends) == len(toks)
    assert np.all(toks.starts >= 0) and np.all(toks.starts < toks.ends) and np.all(toks.ends <= len(text))
    assert isinstance(normalize(text, html=html), str)


@given(TEXT, PARAMS, st.booleans())
@FUZZ
def test_fingerprint_takes_any_text(text: str, params: tuple[int, int], allow_short: bool) -> None:
    k, window = params
    try:
        fp = fingerprint(text, k=k, window=window, allow_short=allow_short)
    except TooShortError:
        assert not allow_short
        return
    assert Fingerprint.parse(str(fp)) == fp


def _usable(fp: Fingerprint) -> None:
    """A parsed fingerprint can be banked and matched both ways, with no error."""
    index = Index(k=fp.params.k, window=fp.params.window)
    fp = dataclasses.replace(fp, params=index.params)  # the index's key id; hashes and positions as given
    index.add("text", " ".join(SEEDS))
    index.add("parsed", fp)
    index.match_fingerprint(fp)
    index.match(" ".join(SEEDS))
    assert Fingerprint.parse(str(fp)) == fp


def _check_parse(text: str) -> None:
    try:
        fp = Fingerprint.parse(text)
    except FingerprintFormatError:
        event("refused")
        return
    event("parsed")
    assert str(fp) == text.strip()
    _usable(fp)


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@st.composite
def genuine(draw: st.DrawFn) -> str:
    k, window = draw(PARAMS)
    return str(fingerprint(draw(st.sampled_from(SEEDS)), k=k, window=window, allow_short=True))


@given(
    st.one_of(
        st.text(max_size=80),
        st.builds(
            lambda head, data: f"{head}:{data}",
            st.from_regex(r"ctw1:n1:k[0-9]{1,3}:w[0-9]{1,5}:(public|[0-9a-f]{16})", fullmatch=True),
            st.text(B64, max_size=60),
        ),
    )
)
@FUZZ
def test_parse_takes_any_string(text: str) -> None:
    _check_parse(text)


@given(
    genuine(),
    st.lists(
        st.tuples(
            st.integers(0, 10**6),
            st.sampled_from(["sub", "del", "ins"]),
            st.sampled_from(B64 + ":0123456789kwn "),
        ),
        min_size=1,
        max_size=4,
    ),
)
@FUZZ
def test_parse_takes_mutated_fingerprint_strings(text: str, edits: list[tuple[int, str, str]]) -> None:
    _check_parse(mutate(text, edits))


@given(
    genuine(),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, 3),
)
@FUZZ
def test_parse_takes_mutated_payload_bytes(text: str, edits: list[tuple[int, int]], cut: int) -> None:
    """Mutating the decoded payload reaches the field checks (counts, positions), not only base64 errors."""
    head, _, b64 = text.rpartition(":")
    payload = bytearray(base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)))
    for at, value in edits:
        if payload:
            payload[at % len(payload)] = value
    del payload[len(payload) - cut :]
    _check_parse(f"{head}:{base64.urlsafe_b64encode(bytes(payload)).rstrip(b'=').decode('ascii')}")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def list_line(draw: st.DrawFn) -> str | bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return json.dumps(draw(JSON_VALUES))
    if kind == 1:
        return draw(st.binary(max_size=40))
    record = {
        "id": draw(st.text(max_size=10) | JSON_VALUES),
        "fingerprint": draw(genuine() | st.text(max_size=40) | JSON_VALUES),
        "labels": draw(st.lists(st.text(max_size=5), max_size=2) | JSON_VALUES),
        "added_at": draw(st.none() | st.sampled_from(["2026-11-20T09:30:00+00:00", "noon", ""])),
        "source": draw(st.none() | st.text(max_size=5)),
    }
    line = json.dumps(record)
    if kind == 3:
        line = line[: draw(st.integers(0, len(line)))]
    return line


HEADERS = st.one_of(
    st.builds(
        lambda params, extra: json.dumps({"format": FORMAT, "version": 1, "params": params, **extra}),
        st.sampled_from(
            ["ctw1:n1:k5:w4:public", "ctw1:n1:k0:w4:public", "ctw1:n1:k5:w4", "ctw1:n1:k2:w9:public"]
        )
        | st.text(max_size=30),
        st.dictionaries(
            st.sampled_from(["k", "window", "count", "source", "key_id"]), JSON_VALUES, max_size=3
        ),
    ),
    st.text(max_size=40),
)


@given(HEADERS, st.lists(list_line(), max_size=8))
@FUZZ
def test_fingerprint_lists_take_any_lines(header: str, lines: list[str | bytes]) -> None:
    try:
        head, records = read_list([header, *lines], source="list.jsonl", key_id="public")
    except CopytraceError:
        return
    for rec in records:
        assert isinstance(rec, ListRecord | RecordError)
        if isinstance(rec, ListRecord):
            assert rec.fingerprint.params == head.params and isinstance(rec.id, str) and rec.id
            _usable(rec.fingerprint)
        else:
            assert str(rec).startswith(f"list.jsonl:{rec.line}: ")


@given(st.lists(list_line() | st.text(max_size=40), max_size=10), st.booleans())
@FUZZ
def test_records_take_any_lines(lines: list[str | bytes], need_text: bool) -> None:
    for out in iter_records(lines, source="in.jsonl", need_text=need_text):
        assert isinstance(out, Record | RecordError)
        if isinstance(out, Record):
            assert isinstance(out.id, str) and out.id and all(isinstance(x, str) for x in out.labels)
            assert out.text is not None or (not need_text and out.fingerprint is not None)
