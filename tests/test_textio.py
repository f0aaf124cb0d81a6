"""Reading files as users have them: encodings, binary data, limits, missing paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from copytrace import InputError
from copytrace.text.textio import decode_bytes, read_text_file

from .conftest import DATA


@pytest.mark.parametrize(
    ("data", "text", "encoding", "noted"),
    [
        ("café “ok”".encode(), "café “ok”", "utf-8", False),
        (b"\xef\xbb\xbfbom text", "bom text", "utf-8", False),
        ("utf16 text".encode("utf-16"), "utf16 text", "utf-16", False),
        ("caf\xe9 \x93quoted\x94".encode("latin-1"), "café “quoted”", "windows-1252", True),
        (b"undefined \x81 byte \xe9", "undefined \x81 byte é", "latin-1", True),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "windows-1252", "latin-1"],
)
def test_decoding_policy(data: bytes, text: str, encoding: str, noted: bool) -> None:
    decoded = decode_bytes(data, source="f.txt")
    assert (decoded.text, decoded.encoding, decoded.note is not None) == (text, encoding, noted)


def test_real_latin1_file_is_read_with_a_note() -> None:
    decoded = read_text_file(DATA / "corpora" / "state_union" / "1954-Eisenhower.txt")
    assert decoded.encoding == "windows-1252"
    assert "not valid UTF-8" in (decoded.note or "")
    assert "\ufffd" not in decoded.text


@pytest.mark.parametrize(
    "data",
    [b"\x00\x01\x02binary\x00", bytes(range(32)) * 10, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"],
    ids=["nul", "controls", "png"],
)
def test_binary_data_is_refused(data: bytes) -> None:
    with pytest.raises(InputError, match="binary"):
        decode_bytes(data, source="blob")


def test_missing_file_directory_and_size_limit(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_text_file(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="is a directory"):
        read_text_file(tmp_path)
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 1000)
    with pytest.raises(InputError, match=r"over the .* limit"):
        read_text_file(big, max_bytes=1000)
