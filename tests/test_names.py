"""The allowed form of bank names and item ids (``copytrace.names``), and its escaping on terminals."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from copytrace.cli.common import shown
from copytrace.errors import InputError, InvalidNameError
from copytrace.names import check_bank_name, check_item_id, is_valid_bank_name, is_valid_item_id


@pytest.mark.parametrize(
    "name", ["news", "partner-list.2026", "_private", "A", "x" * 64, "0"], ids=str.__str__
)
def test_good_bank_names(name: str) -> None:
    assert check_bank_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", ".hidden", "-flag", "x" * 65, "a/b", "a b", "tab\t", "ñews", "\x1b[2J", "news\n", " news"],
    ids=[
        "empty",
        "dot",
        "dash",
        "65-chars",
        "slash",
        "space",
        "tab",
        "non-ascii",
        "escape",
        "newline",
        "lead",
    ],
)
def test_bad_bank_names(name: str) -> None:
    with pytest.raises(InvalidNameError, match="bad bank name") as info:
        check_bank_name(name)
    assert (
        isinstance(info.value, InputError) and "\x1b" not in str(info.value) and "\n" not in str(info.value)
    )


@pytest.mark.parametrize(
    "item_id",
    [
        "000_ea7438489bd31fbe",
        "sub/dir/file",
        "1954 Eisenhower",
        "ñews",
        "خبر",
        "新闻/一",
        "x" * 512,
        "a..b",
        ".x",
    ],
    ids=["hex", "path", "inner-space", "latin", "arabic", "cjk", "512-chars", "inner-dots", "dotfile"],
)
def test_good_item_ids(item_id: str) -> None:
    assert check_item_id(item_id) == item_id


@pytest.mark.parametrize(
    "item_id",
    [
        "",
        ".",
        "..",
        "a/../b",
        "./a",
        " a",
        "a ",
        "a\n",
        "\x1b]0;x\x07",
        "a\u200bb",
        "a\u202e",
        "a\u2028b",
        "x" * 513,
    ],
    ids=[
        "empty",
        "dot",
        "dotdot",
        "inner-dotdot",
        "dot-segment",
        "leading-space",
        "trailing-space",
        "newline",
        "escape",
        "zero-width",
        "bidi",
        "line-separator",
        "513-chars",
    ],
)
def test_bad_item_ids(item_id: str) -> None:
    with pytest.raises(InvalidNameError, match="bad item id") as info:
        check_item_id(item_id)
    assert str(info.value).isprintable()


@given(st.text(max_size=80))
def test_a_valid_name_prints_as_itself_and_anything_prints_safely(text: str) -> None:
    if is_valid_item_id(text) or is_valid_bank_name(text):
        assert shown(text) == text
    categories = {unicodedata.category(ch) for ch in shown(text)}
    assert not any(c[0] == "C" or c in ("Zl", "Zp") for c in categories)
