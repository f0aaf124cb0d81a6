"""HTML to text with an offset map, so that evidence found in the text points into the original markup.

Tags, comments and the contents of ``script``/``style`` are dropped and entities decoded.  Inline formatting
tags (``<b>``, ``<span>``, ...) join the text on either side, as a browser renders it, so ``te<b>rr</b>or``
reads as one word; every other tag separates words.  ``looks_like_html`` decides when input is HTML.
"""

from __future__ import annotations

import html as _html
import re

import numpy as np

_MARKUP = re.compile(
    r"<!--.*?(?:-->|$)"
    r"|<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)"
    r"|</?([a-zA-Z][a-zA-Z0-9:-]*)\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>"
    r"|<![^>]*>"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});?",
    re.DOTALL | re.IGNORECASE,
)
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
_DETECT = re.compile(
    r"<(?:!doctype\s+html|html|head|body|p|div|br|span|a\s+href|b|i|em|strong|table|tr|td|li|ul|ol|h[1-6]"
    r"|script|style|blockquote|article|section)\b[^<>]*>",
    re.IGNORECASE,
)


def looks_like_html(text: str) -> bool:
    """True when ``text`` contains tags of common HTML elements."""
    return _DETECT.search(text) is not None


def strip_html(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """Return ``(plain, starts, ends)``: ``plain[i]`` came from ``text[starts[i]:ends[i]]``."""
    pieces: list[str] = []
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    pos = 0

    def emit(s: str, begin: int, end: int) -> None:
        pieces.append(s)
        starts.append(np.full(len(s), begin, dtype=np.int64))
        ends.append(np.full(len(s), end, dtype=np.int64))

    for m in _MARKUP.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos : m.start()])
            r = np.arange(pos, m.start(), dtype=np.int64)
            starts.append(r)
            ends.append(r + 1)
        token = m.group(0)
        if token.startswith("&"):
            decoded = _html.unescape(token)
            emit(decoded, m.start(), m.end())
        elif (m.group(2) or "").lower() not in _INLINE:
            emit(" ", m.start(), m.end())
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:])
        r = np.arange(pos, len(text), dtype=np.int64)
        starts.append(r)
        ends.append(r + 1)
    if not pieces:
        return "", np.empty(0, np.int64), np.empty(0, np.int64)
    return "".join(pieces), np.concatenate(starts), np.concatenate(ends)
