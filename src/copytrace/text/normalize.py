"""Normalisation version 1: fold the ways the same text is typed, and split it into tokens with offsets.

Each code point is folded by a frozen table (``data/normalisation_v1.npz``, built by
``tools/build_normalisation_table.py``): NFKC compatibility forms and case folding, combining marks removed
(accents, Arabic harakat, Hebrew points), invisible and format characters removed without breaking the word
they sit in (zero-width space and joiners, soft hyphen, bidi marks), look-alike letters replaced by their
Unicode TR39 confusables prototype (Cyrillic ``а`` → ``a``), Arabic-script letter variants unified and
Arabic-Indic and Persian digits made ASCII.  Whitespace, punctuation and symbols separate tokens, so every
quote, dash and line-break variant is equal.  Characters of scripts written without spaces (Han, Kana, Thai,
Lao, Khmer, Myanmar) are tokens of their own.

Every token keeps ``[start, end)`` offsets into the text as given, so evidence can be shown in the original.

>>> normalize("“Ｈello,”  wоrld!")   # full-width H, Cyrillic о, curly quotes
'hello world'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from . import _tokenize
from .html import looks_like_html, strip_html

NORMALISATION_VERSION = 1


@dataclass(frozen=True)
class _Table:
    classes: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    data: np.ndarray


@lru_cache(maxsize=1)
def _table() -> _Table:
    with resources.files("copytrace").joinpath("data/normalisation_v1.npz").open("rb") as fh:
        npz = np.load(fh, allow_pickle=False)
        cps = npz["cps"]
        classes = np.full(0x110000, _tokenize.WORD, dtype=np.uint8)
        offsets = np.zeros(0x110000, dtype=np.uint32)
        lengths = np.zeros(0x110000, dtype=np.uint8)
        classes[cps] = npz["classes"]
        offsets[cps] = npz["offsets"]
        lengths[cps] = npz["lengths"]
        return _Table(classes, offsets, lengths, npz["data"].copy())


@dataclass(frozen=True, eq=False)
class Tokens:
    """Tokens of one text: ``starts``/``ends`` are character offsets into the original, ``hashes`` 64-bit."""

    starts: np.ndarray
    ends: np.ndarray
    hashes: np.ndarray

    def __len__(self) -> int:
        return int(self.hashes.shape[0])


def code_points(text: str) -> np.ndarray:
    """The code points of ``text`` as a uint32 array (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def tokenize(text: str, *, html: bool | None = None) -> Tokens:
    """Split ``text`` into normalised tokens.  ``html=None`` strips markup when the text looks like HTML."""
    if html is None:
        html = looks_like_html(text)
    t = _table()
    if html:
        plain, src_starts, src_ends = strip_html(text)
        starts, ends, hashes = _tokenize.tokenize(code_points(plain), t.classes, t.offsets, t.lengths, t.data)
        if len(hashes):
            starts = src_starts[starts]
            ends = src_ends[ends - 1]
        return Tokens(starts, ends, hashes)
    starts, ends, hashes = _tokenize.tokenize(code_points(text), t.classes, t.offsets, t.lengths, t.data)
    return Tokens(starts, ends, hashes)


def fold_char(ch: str) -> str:
    """The folded form of one character ('' when it is ignored or separates words)."""
    t = _table()
    cp = ord(ch)
    cls = int(t.classes[cp])
    if cls in (_tokenize.IGNORE, _tokenize.SEP):
        return ""
    n = int(t.lengths[cp])
    if n == 0:
        return ch
    o = int(t.offsets[cp])
    return "".join(chr(c) for c in t.data[o : o + n])


def normalize(text: str, *, html: bool | None = None) -> str:
    """The normalised text: folded tokens joined by single spaces.  Idempotent.

    This is for reading and testing; fingerprints are computed from the tokens directly.
    """
    if html if html is not None else looks_like_html(text):
        text = strip_html(text)[0]
    toks = tokenize(text, html=False)
    t = _table()
    out: list[str] = []
    previous = (-1, -1)
    for s, e in zip(toks.starts.tolist(), toks.ends.tolist(), strict=True):
        if (s, e) == previous:
            continue  # one character that folds to several stand-alone tokens: emitted below at once
        previous = (s, e)
        if e - s == 1 and t.classes[ord(text[s])] == _tokenize.SOLO:
            out.extend(fold_char(text[s]))
        else:
            out.append("".join(fold_char(c) for c in text[s:e]))
    return " ".join(out)
