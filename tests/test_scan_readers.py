"""A scan's JSON Lines reader: the fast read of a plain line yields what the full record rules yield."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from copytrace.batch.inputs import Block, TableColumns
from copytrace.batch.readers import Bad, BlockReading, Doc, plain_record, read_block
from copytrace.errors import RecordError
from copytrace.fingerprints.records import iter_records

LINES = [
    b'{"id": "a", "text": "hello"}\n',
    b'{"id": "a", "text": "hello"}\r\n',
    b'{"id": "a", "text": ""}\n',
    b'{"id": "", "text": "x"}\n',
    b'{"id": 7, "text": "x"}\n',
    b'{"id": "a"}\n',
    b'{"id": "a", "text": null}\n',
    b'{"id": "a", "text": 3}\n',
    b'{"id": "a", "text": "x", "labels": ["l"]}\n',
    b'{"id": "a", "text": "x", "labels": [1]}\n',
    b'{"id": "a", "text": "x", "metadata": []}\n',
    b'{"id": "a", "text": "x", "fingerprint": 5}\n',
    b'{"id": "a", "text": "x", "fingerprint": "ctfp1:..."}\n',
    b'["id", "text"]\n',
    b'{"id": "a", "text": "unclosed}\n',
    b'{"id": "a", "text": "\xff"}\n',
    b"\n",
    b"   \n",
    b'{"id": "a", "text": "x"} trailing\n',
    b'{"id": "caf\xc3\xa9", "text": "\\u00e9t\\u00e9"}\n',
]


def _full_rules(line: bytes, number: int) -> list[tuple[str, str] | str]:
    """What the records module makes of one line: a document, a reason, or nothing (a blank line)."""
    out: list[tuple[str, str] | str] = []
    for rec in iter_records((line,), source="f.jsonl", need_text=True):
        out.append(rec.reason if isinstance(rec, RecordError) else (rec.id, rec.text or ""))
    return out


@pytest.mark.parametrize("line", LINES, ids=[f"line{i}" for i in range(len(LINES))])
def test_a_line_read_fast_is_what_the_full_rules_read(line: bytes) -> None:
    fast = plain_record(line, "f.jsonl", 4)
    if fast is not None:
        assert _full_rules(line, 4) == [(fast.id, fast.text)]


@given(
    st.dictionaries(
        st.sampled_from(["id", "text", "fingerprint", "labels", "metadata", "other"]),
        st.one_of(st.none(), st.text(max_size=5), st.integers(), st.lists(st.text(max_size=2), max_size=2)),
    )
)
def test_any_object_read_fast_is_what_the_full_rules_read(obj: dict[str, object]) -> None:
    line = json.dumps(obj).encode() + b"\n"
    fast = plain_record(line, "f.jsonl", 1)
    if fast is not None:
        assert _full_rules(line, 1) == [(fast.id, fast.text)]


def test_a_block_of_mixed_lines_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"".join(LINES))
    got = list(read_block(Block("jsonl", str(path)), TableColumns(), BlockReading()))
    expected: list[Doc | Bad] = []
    for number, line in enumerate(LINES, start=1):
        for rec in iter_records((line,), source=str(path), need_text=True):
            if isinstance(rec, RecordError):
                expected.append(Bad(str(path), number, rec.reason))
            else:
                expected.append(Doc(rec.id, rec.text or "", str(path), number))
    assert got == expected
    assert sum(isinstance(r, Doc) for r in got) >= 5 and sum(isinstance(r, Bad) for r in got) >= 8
