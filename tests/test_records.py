"""JSON Lines records: every malformed line is reported with its number, the rest still parse."""

from __future__ import annotations

import pytest

from copytrace import RecordError
from copytrace.fingerprints.records import Record, iter_records


def test_good_and_bad_lines() -> None:
    lines = [
        '{"id": "a", "text": "hello", "labels": ["x"], "metadata": {"k": 1}}',
        "",
        '{"id": "b", "text": ',
        '["not", "an", "object"]',
        '{"id": "", "text": "t"}',
        '{"id": "c", "labels": "x", "text": "t"}',
        '{"id": "d", "metadata": [], "text": "t"}',
        '{"id": "e"}',
        b"\xff\xfe",
        '{"id": "f", "fingerprint": "ctw1:n1:k5:w4:public:AAA"}',
    ]
    out = list(iter_records(lines, source="in.jsonl"))
    assert isinstance(out[0], Record) and out[0].labels == ["x"] and out[0].line == 1
    errors = [o for o in out if isinstance(o, RecordError)]
    assert [e.line for e in errors] == [3, 4, 5, 6, 7, 8, 9]
    assert str(errors[0]).startswith("in.jsonl:3: malformed JSON")
    assert isinstance(out[-1], Record) and out[-1].fingerprint


@pytest.mark.parametrize("line", ['{"id": "f", "fingerprint": "x"}'], ids=["fingerprint-without-text"])
def test_text_required_where_queries_need_it(line: str) -> None:
    (out,) = iter_records([line], source="q", need_text=True)
    assert isinstance(out, RecordError) and "text" in out.reason


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[" * 100_000, "JSON nested too deeply"),
        ('{"id": "a", "n": ' + "1" * 5000 + "}", "unreadable JSON"),
        ('{"id": "a", "text": "t", "labels": [1]}', '"labels" must be a list of strings'),
        ('{"id": ["a"], "text": "t"}', '"id" must be a non-empty string'),
        ('{"id": "a", "text": "t"} trailing', "malformed JSON: Extra data"),
    ],
    ids=["deep-nesting", "huge-number", "label-not-string", "id-not-string", "trailing-data"],
)
def test_hostile_lines_are_errors_of_their_line(line: str, reason: str) -> None:
    (out,) = iter_records(["", line], source="in.jsonl")
    assert isinstance(out, RecordError) and out.line == 2 and out.reason.startswith(reason), out


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (
            '{"id": "b", "text": "the closing quote was lost\n',
            "malformed JSON: the string starting at column 21 is not closed: its closing quote is missing",
        ),
        (
            '{"id": "b", "text": "no quote, no newline',
            "malformed JSON: the string starting at column 21 is not closed: its closing quote is missing",
        ),
        (
            '{"id": "b", "text": "a\ttab"}\r\n',
            "malformed JSON: a raw tab (U+0009) inside a string at column 23: write it escaped, as \\t",
        ),
    ],
    ids=["unterminated-string", "unterminated-last-line", "raw-tab"],
)
def test_a_broken_string_is_named_as_such(line: str, reason: str) -> None:
    """A line that ends inside a string is an unclosed string, not 'Invalid control character' at its end."""
    (out,) = iter_records([line], source="in.jsonl")
    assert isinstance(out, RecordError) and out.reason == reason, out
