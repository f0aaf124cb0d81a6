"""HTML to text with an offset map, so that evidence found in the text points into the original markup.

Tags, comments and the contents of ``script``/``style`` are dropped and entities decoded.  Inline formatting
tags (``<b>``, ``<span>``, ...) join the text on either side, as a browser renders it, so ``te<b>rr</b>or``
reads as one word; every other tag separates words.  ``looks_like_html`` decides when input is HTML.

Markup is found by one regular expression that never rescans: its repetitions are possessive, a tag or
``<!...>`` declaration left open runs to the end of the input (as a browser drops a tag cut off by the end of
the file), and a quote inside a tag that is never closed counts as an ordinary character.  So hostile input
(``"<a " * 300_000``, ``"<!" * 500_000``, unclosed quotes) costs time linear in its length.  The offset map is
then built with whole-array operations, not a Python loop per character or per tag.
"""

from __future__ import annotations

import html as _html
import itertools
import re
from html.entities import html5 as _html5

import numpy as np

_MARKUP = re.compile(
    r"(<!--.*?(?:-->|$)"
    r"|<script\b[^>]*+>.*?(?:</script\s*+>|$)"
    r"|<style\b[^>]*+>.*?(?:</style\s*+>|$)"
    r"|</?[a-zA-Z][a-zA-Z0-9:-]*\b(?>[^>\"']++|\"[^\"]*+\"|'[^']*+'|[\"'])*+(?:>|\Z)"
    r"|<![^>]*+(?:>|\Z)"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});?)",
    re.DOTALL | re.IGNORECASE,
)
_TAG_NAME = re.compile(r"</?([a-zA-Z][a-zA-Z0-9:-]*)\b")
_INLINE = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "cite",
        "code",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "ins",
        "kbd",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "time",
        "u",
        "var",
        "wbr",
    ]
)
# Every spelling of the inline names (``B``, ``Span``, ``sPaN``...), so a set lookup needs no ``lower()``.
_INLINE_ANY_CASE = frozenset(
    "".join(spelling)
    for name in _INLINE
    for spelling in itertools.product(*[(c.lower(), c.upper()) for c in name])
)
_DETECT = re.compile(
    r"<(?:!doctype\s+html|html|head|body|p|div|br|span|a\s+href|b|i|em|strong|table|tr|td|li|ul|ol|h[1-6]"
    r"|script|style|blockquote|article|section)\b[^<>]*+>",
    re.IGNORECASE,
)


def looks_like_html(text: str) -> bool:
    """True when ``text`` contains tags of common HTML elements."""
    return _DETECT.search(text) is not None


def _lengths(strings: list[str]) -> np.ndarray:
    return np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))


def _entity(mark: str) -> str:
    """``html.unescape(mark)`` of one entity, without its per-call overhead in the common cases."""
    body = mark[1:]
    if body[0] == "#":
        digits = body[1:].rstrip(";")
        num = int(digits[1:], 16) if digits[0] in "xX" else int(digits)
        if (0x20 <= num < 0x7F or 0xA0 <= num < 0xD800 or 0xE000 <= num <= 0x10FFFF) and not (
            0xFDD0 <= num <= 0xFDEF or num & 0xFFFE == 0xFFFE
        ):
            return chr(num)
        return _html.unescape(mark)  # control characters, surrogates, non-characters: the standard's rules
    if body in _html5:
        return _html5[body]
    for x in range(len(body) - 1, 1, -1):  # the longest known name before the end, as the standard says
        if body[:x] in _html5:
            return _html5[body[:x]] + body[x:]
    return mark


def _replacement(mark: str) -> str:
    """What a piece of markup becomes: an entity its character(s), an inline tag nothing, the rest a space."""
    if mark[0] == "&":
        return _entity(mark)
    tag = _TAG_NAME.match(mark)
    return "" if tag is not None and tag[1] in _INLINE_ANY_CASE else " "


def strip_html(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """Return ``(plain, starts, ends)``: ``plain[i]`` came from ``text[starts[i]:ends[i]]``.

    >>> text = "<p>fish &amp; chips</p>"
    >>> plain, starts, ends = strip_html(text)
    >>> plain, text[starts[6] : ends[6]]
    (' fish & chips ', '&amp;')
    """
    # split() returns [text, markup, text, markup, ..., text] without a Python-level loop over the input.
    parts = _MARKUP.split(text)
    n = len(parts) // 2
    if n == 0:
        r = np.arange(len(text), dtype=np.int64)
        return text, r, r + 1
    src_len = _lengths(parts)
    marks: list[str] = parts[1::2]
    # Each distinct piece of markup is looked at once (hostile input repeats one piece many times).
    replacement = dict.fromkeys(marks, "")
    for mark in replacement:
        replacement[mark] = _replacement(mark)
    parts[1::2] = map(replacement.__getitem__, marks)
    plain = "".join(parts)
    out_len = _lengths(parts)

    # Output piece i (text and replacements alternate) starts at out_start[i] and came from begin[i] onwards.
    # A text character maps to the one character it was; a replacement's characters each map to the whole
    # markup they replaced.
    begin = np.cumsum(src_len) - src_len
    out_start = np.cumsum(out_len) - out_len
    starts = np.repeat(begin - out_start, out_len)
    starts += np.arange(len(plain), dtype=np.int64)
    ends = starts + 1
    rep_len = out_len[1::2]
    if rep_len.any():
        rep_first = np.cumsum(rep_len) - rep_len
        at = np.repeat(out_start[1::2] - rep_first, rep_len) + np.arange(int(rep_len.sum()), dtype=np.int64)
        starts[at] = np.repeat(begin[1::2], rep_len)
        ends[at] = np.repeat(begin[1::2] + src_len[1::2], rep_len)
    return plain, starts, ends
