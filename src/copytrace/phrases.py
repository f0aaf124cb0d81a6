"""Phrases: short banked items found by their folded letters, in one compiled pass over many queries.

A banked item too short for the long-text evidence rule (``is_short``) — or any item of a phrase bank — is
a *phrase*.  It is found when its skeleton (``copytrace.text.phrase_fold``: evasive spellings folded, word
breaks ignored) occurs in a query's skeleton **starting where a query token starts and ending where a query
token ends**: ``death to the occupiers`` is found in ``D3ATH to the occupiers``, ``d e a t h to the
occupiers``, ``deathtotheoccupiers`` and ``death to the occu-\\npiers``, and not inside ``bathe occupiers``.

A phrase's shareable form is a ``PhraseFingerprint``: keyed 64-bit hashes of its skeleton's first
``PREFIX`` letters (or all of them, when shorter) and of the whole skeleton, with the skeleton's length and
the number of tokens: enough to match, never the text.  String form (``docs/formats.md``)::

    ctp1:p1:public:<base64url payload>

A phrase needs two words or more, or one word of ``MIN_WORD_LETTERS`` letters or more (``phrase_problem``):
``a`` would be found in nearly every post.

The matcher (``PhraseTable``) groups the phrases by their prefix hash, and within a group by length.  At
each token start of a query it hashes the next letters of the skeleton (SipHash of the first four, the
others mixed in letter by letter: one SipHash per query token), and probes the table with the prefix of
``PREFIX`` letters and with every shorter prefix that ends at a token end and is the whole of some phrase;
where a group is found, each of its lengths that ends at a token end is verified by one hash of the
query's letters there, looked up among the group's phrases of that length (``copytrace._phrase_search``).
The work is a few probes per query token, plus a step per distinct length of the phrases that share a
prefix found there: no loop over phrases, no pass over a phrase's letters, no Python per token, whatever
the table holds.

>>> table = PhraseTable()
>>> table.add(0, phrase_fingerprint("death to the occupiers"))
>>> query = "so: D3ATH to the 0ccupiers!"
>>> [(item, query[start:end]) for _, item, start, end in table.find([query])]
[(0, 'D3ATH to the 0ccupiers')]
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
from numba import njit

from ._phrase_repeats import repeated_tokens, windows
from ._phrase_search import GUARD_WORDS, PREFIX, Lookup, build, common_words, find, keyed, lookup_hash
from .errors import FingerprintFormatError, InputError, NoTokenError, ParameterMismatchError
from .fingerprints import _hashing
from .fingerprints.fingerprint import Fingerprint
from .fingerprints.keys import PUBLIC_KEY, Key, as_key
from .index.match import DEFAULT_MATCH_PARAMS, MatchParams
from .text.phrase_fold import PHRASE_NORMALISATION_VERSION, PhraseTokens, phrase_tokens, phrase_tokens_many

PHRASE_ALGORITHM_VERSION = 1
MAX_SPANS = 16
"""Occurrences of one phrase in one query reported as spans."""
_SLICE = 1 << 16  # characters of queries normalised and searched at once (more spills out of the caches)

_BASE = np.uint64(0x9E3779B97F4A7C15)
_PARAMS_RE = re.compile(r"ctp([0-9]{1,9}):p([0-9]{1,9}):(public|[0-9a-f]{16})")
_STRING_RE = re.compile(r"\s*ctp\d+:p\d+:(?:public|[0-9a-f]{16}):[A-Za-z0-9_-]*\s*")
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def looks_like_phrase_fingerprint(text: str) -> bool:
    """True when ``text`` has the form of a phrase fingerprint string."""
    return _STRING_RE.fullmatch(text) is not None


def is_short(fp: Fingerprint, match_params: MatchParams = DEFAULT_MATCH_PARAMS) -> bool:
    """The short-item rule: True when ``fp`` (an item's long-text fingerprint) cannot be evidence on its own.

    A long-text match needs a chain of at least ``min_evidence`` shared fingerprints whose positions span
    at least ``min_tokens - k`` tokens (``MatchParams``).  An item with fewer fingerprints than that, or
    whose first and last fingerprints are closer, can never give such a chain: it is matched as a phrase.
    """
    g = fp.params.guarantee
    need = max(1, math.ceil(match_params.min_evidence - 1e-9))
    if len(fp) < need:
        return True
    return int(fp.positions[-1]) - int(fp.positions[0]) < match_params.min_tokens_for(g) - fp.params.k


@dataclass(frozen=True)
class PhraseParams:
    """What a phrase fingerprint was made with; two compare only when equal."""

    algorithm: int = PHRASE_ALGORITHM_VERSION
    normalisation: int = PHRASE_NORMALISATION_VERSION
    key_id: str = PUBLIC_KEY.key_id

    def __str__(self) -> str:
        return f"ctp{self.algorithm}:p{self.normalisation}:{self.key_id}"

    @classmethod
    def parse(cls, text: str) -> PhraseParams:
        """Read ``ctp1:p1:KEY``; raise ``FingerprintFormatError`` naming what is wrong."""
        m = _PARAMS_RE.fullmatch(text)
        if m is None:
            raise FingerprintFormatError(
                f"bad phrase fingerprint parameters {text[:60]!r}: expected e.g. 'ctp1:p1:public'"
            )
        params = cls(int(m[1]), int(m[2]), m[3])
        if str(params) != text:
            raise FingerprintFormatError(
                f"bad phrase fingerprint parameters {text!r}: numbers have no leading zeros (write {params})"
            )
        if (
            params.algorithm != PHRASE_ALGORITHM_VERSION
            or params.normalisation != PHRASE_NORMALISATION_VERSION
        ):
            raise FingerprintFormatError(
                f"phrase fingerprint version {params} is not supported by this copytrace (it reads "
                f"ctp{PHRASE_ALGORITHM_VERSION}:p{PHRASE_NORMALISATION_VERSION}): upgrade copytrace"
            )
        return params


@dataclass(frozen=True)
class PhraseFingerprint:
    """A phrase as hashes: ``length`` skeleton letters in ``n_tokens`` tokens; ``prefix_hash`` is the keyed
    hash of the first ``prefix_length`` letters (``min(PREFIX, length)``), ``full_hash`` of all of them,
    ``strict_hash`` of the strict skeleton (doubled letters kept: ``meet`` is not ``met``)."""

    params: PhraseParams
    n_tokens: int
    length: int
    prefix_length: int
    prefix_hash: int
    full_hash: int
    strict_hash: int

    def __str__(self) -> str:
        head = _hashing.varint_encode(
            np.array([self.n_tokens, self.length, self.prefix_length], dtype=np.uint64)
        ).tobytes()
        hashes = np.array([self.prefix_hash, self.full_hash, self.strict_hash], dtype="<u8")
        payload = head + hashes.tobytes()
        return f"{self.params}:{base64.urlsafe_b64encode(payload).rstrip(b'=').decode('ascii')}"

    @classmethod
    def parse(cls, text: str) -> PhraseFingerprint:
        """Read the string form (canonical only); raise ``FingerprintFormatError`` naming what is wrong."""
        text = text.strip()
        head, sep, b64 = text.rpartition(":")
        if not sep:
            raise FingerprintFormatError("not a phrase fingerprint: expected 'ctp1:p1:KEY:DATA'")
        params = PhraseParams.parse(head)
        if _BASE64URL_RE.fullmatch(b64) is None or len(b64) % 4 == 1:
            raise FingerprintFormatError("phrase fingerprint data is not base64url (A-Z a-z 0-9 - _)")
        try:
            payload = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (binascii.Error, ValueError) as exc:
            raise FingerprintFormatError(f"phrase fingerprint data is not base64url: {exc}") from exc
        counts, used = _hashing.varint_decode(np.frombuffer(payload, dtype=np.uint8), 3)
        if used < 0 or len(payload) != used + 24:
            raise FingerprintFormatError("phrase fingerprint data is truncated or followed by extra data")
        n_tokens, length, prefix_length = (int(x) for x in counts)
        if not (1 <= n_tokens <= length < 2**31 and prefix_length == min(PREFIX, length)):
            raise FingerprintFormatError(
                f"phrase fingerprint of {n_tokens} tokens, {length} letters and a prefix of {prefix_length} "
                f"letters is impossible (the prefix is min({PREFIX}, letters), tokens at most letters)"
            )
        hashes = np.frombuffer(payload, dtype="<u8", count=3, offset=used)
        fp = cls(params, n_tokens, length, prefix_length, int(hashes[0]), int(hashes[1]), int(hashes[2]))
        if str(fp) != text:
            raise FingerprintFormatError("phrase fingerprint string is not in canonical form")
        return fp


@njit(cache=True, nogil=True)
def _phrase_hashes(key, text_key, strict, text_strict, k0, k1, prefix):  # type: ignore[no-untyped-def]
    """(length, prefix length, keyed prefix hash, keyed full hash, keyed strict hash) of each text."""
    n = text_key.shape[0] - 1
    lens = np.empty(n, dtype=np.int64)
    plens = np.empty(n, dtype=np.int64)
    ph = np.empty(n, dtype=np.uint64)
    fh = np.empty(n, dtype=np.uint64)
    sh = np.empty(n, dtype=np.uint64)
    for t in range(n):
        a = text_strict[t]
        m = text_strict[t + 1] - 1 - a
        h = np.uint64(0)
        for i in range(m):
            h = h * _BASE + np.uint64(strict[a + i])
        sh[t] = keyed(k0, k1, h, m)
        a = text_key[t]
        m = text_key[t + 1] - 1 - a
        h = np.uint64(0)
        lp = min(prefix, m)
        for i in range(m):
            h = h * _BASE + np.uint64(key[a + i])
        ph[t] = lookup_hash(k0, k1, key, a, lp) if m > 0 else np.uint64(0)
        lens[t] = m
        plens[t] = lp
        fh[t] = keyed(k0, k1, h, m)
    return lens, plens, ph, fh, sh


def phrase_fingerprints(
    texts: Sequence[str], *, key: Key | str | bytes | None = None, html: bool | None = None
) -> list[PhraseFingerprint | None]:
    """The phrase fingerprint of each text (None for a text with no token: nothing to match)."""
    key_ = as_key(key)
    toks = phrase_tokens_many(texts, html=html)
    lens, plens, ph, fh, sh = _phrase_hashes(
        toks.key, toks.text_key, toks.strict, toks.text_strict, np.uint64(key_.k0), np.uint64(key_.k1), PREFIX
    )
    n_tokens = np.bincount(toks.text, minlength=len(texts))
    params = PhraseParams(key_id=key_.key_id)
    return [
        PhraseFingerprint(
            params, int(n_tokens[i]), int(lens[i]), int(plens[i]), int(ph[i]), int(fh[i]), int(sh[i])
        )
        if n_tokens[i]
        else None
        for i in range(len(texts))
    ]


def phrase_fingerprint(
    text: str, *, key: Key | str | bytes | None = None, html: bool | None = None
) -> PhraseFingerprint:
    """The phrase fingerprint of ``text``; ``NoTokenError`` when it has no token (no letter, digit or
    ideograph): there would be nothing to find."""
    (fp,) = phrase_fingerprints([text], key=key, html=html)
    if fp is None:
        raise NoTokenError(f"text {text[:40]!r}")
    return fp


MIN_WORD_LETTERS = 4
"""Letters a phrase of one word needs: a shorter word (``a``, ``no``, ``the``) is in every other post."""


def phrase_problem(text: str, *, html: bool | None = None) -> str | None:
    """Why ``text`` is too short to be banked as a phrase (None when it is not): a phrase needs at least two
    words, or one word of at least ``MIN_WORD_LETTERS`` letters, counted after folding (``aaaa`` is ``a``).
    A text with no token at all is ``NoTokenError``'s to report.

    >>> phrase_problem("a")
    "is one word of 1 letter ('a'): a phrase needs two words or more, or one word of 4 letters or more"
    >>> phrase_problem("kill") is None and phrase_problem("go on") is None
    True
    """
    toks = phrase_tokens(text, html=html)
    if len(toks) != 1:
        return None
    n = int(toks.vis_ends[0] - toks.vis_starts[0])
    if n >= MIN_WORD_LETTERS:
        return None
    return (
        f"is one word of {n} letter{'s' if n != 1 else ''} ({toks.strings()[0]!r}): a phrase needs two words "
        f"or more, or one word of {MIN_WORD_LETTERS} letters or more"
    )


def check_phrase_text(text: str, what: str = "text", *, html: bool | None = None) -> None:
    """Raise ``InputError`` (its message starting with ``what``) when ``text`` is too short to be banked as
    a phrase (``phrase_problem``): a one-letter phrase would be found in nearly every post."""
    problem = phrase_problem(text, html=html)
    if problem is not None:
        raise InputError(f"{what} {problem}")


def item_phrase(
    text: str | None,
    fp: Fingerprint,
    *,
    key: Key | str | bytes | None = None,
    phrase_bank: bool = False,
    match_params: MatchParams = DEFAULT_MATCH_PARAMS,
    html: bool | None = None,
) -> PhraseFingerprint | None:
    """The phrase fingerprint an item is banked with: for every item of a phrase bank, and for an item too
    short for the long-text rule (``is_short(fp)``); else None.  Needs the item's text (None without it);
    ``NoTokenError`` for a text with no token at all, ``InputError`` for one too short to be a phrase
    (``phrase_problem``)."""
    if text is None or not (phrase_bank or is_short(fp, match_params)):
        return None
    check_phrase_text(text, "the item", html=html)
    try:
        return phrase_fingerprint(text, key=key, html=html)
    except NoTokenError:
        raise NoTokenError("the item") from None


@dataclass(frozen=True)
class PhraseMatch:
    """Phrase ``item`` found in query ``query``: its occurrences as ``[start, end)`` character offsets,
    and the share of the query's tokens they cover."""

    query: int
    item: int
    spans: tuple[tuple[int, int], ...]
    coverage: float


class PhraseTable:
    """Phrase fingerprints of items (by item number), searchable in many queries at once.

    Every phrase must be made with the table's key (``key``; the public key by default).  Additions are
    cheap; the lookup arrays are rebuilt on the next search after a change.
    """

    def __init__(self, key: Key | str | bytes | None = None, *, params: PhraseParams | None = None) -> None:
        self._key: Key | None = as_key(key)
        self.params = PhraseParams(key_id=self._key.key_id) if params is None else params
        if params is not None and params.key_id != self._key.key_id:
            self._key = None  # matches phrase fingerprints only: no key to hash texts with
        self._items = np.zeros(0, dtype=np.int64)
        # n_tokens, length, prefix length, prefix hash, full hash, strict hash
        self._data = np.zeros((0, 6), dtype=np.uint64)
        self._only = np.zeros(0, dtype=bool)  # reported as a phrase only (an item of a phrase bank)
        self._pending: list[tuple[int, PhraseFingerprint, bool]] = []
        self._lookup: Lookup | None = None
        self.work = 0
        """Steps the compiled search has taken (probes, checks): what the cost tests compare."""

    def __len__(self) -> int:
        return len(self._items) + len(self._pending)

    def add(self, item: int, fp: PhraseFingerprint, *, only: bool = False) -> None:
        """Add item number ``item``'s phrase (``only``: the item is to be reported as a phrase only);
        ``ParameterMismatchError`` for another key or version."""
        if fp.params != self.params:
            raise ParameterMismatchError(self.params, fp.params, what="phrase")
        self._pending.append((item, fp, only))
        self._lookup = None

    def _merge(self) -> None:
        if not self._pending:
            return
        items = np.array([i for i, _, _ in self._pending], dtype=np.int64)
        data = np.array(
            [
                (f.n_tokens, f.length, f.prefix_length, f.prefix_hash, f.full_hash, f.strict_hash)
                for _, f, _ in self._pending
            ],
            dtype=np.uint64,
        ).reshape(-1, 6)
        only = np.array([o for _, _, o in self._pending], dtype=bool)
        self._pending.clear()
        self._items = np.concatenate((self._items, items))
        self._data = np.concatenate((self._data, data))
        self._only = np.concatenate((self._only, only))

    def items(self) -> np.ndarray:
        """Item numbers holding a phrase."""
        self._merge()
        return self._items

    def only_items(self) -> np.ndarray:
        """Item numbers to be reported as phrases only (items of phrase banks)."""
        self._merge()
        return self._items[self._only]

    def get(self, item: int) -> PhraseFingerprint | None:
        """Item ``item``'s phrase fingerprint, if it has one."""
        self._merge()
        hit = np.flatnonzero(self._items == item)
        if not len(hit):
            return None
        n, m, lp, ph, fh, sh = (int(x) for x in self._data[int(hit[-1])])
        return PhraseFingerprint(self.params, n, m, lp, ph, fh, sh)

    def select(self, renumber: np.ndarray) -> None:
        """Renumber items by ``renumber[old]`` (negative: removed), as the index compacts."""
        self._merge()
        new = renumber[self._items] if len(self._items) else self._items
        keep = new >= 0
        self._items, self._data = new[keep].astype(np.int64), self._data[keep]
        self._only = self._only[keep]
        self._lookup = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The table as arrays (for a snapshot)."""
        self._merge()
        return {"phrase_items": self._items, "phrase_data": self._data, "phrase_only": self._only}

    @classmethod
    def from_arrays(
        cls, params: PhraseParams, key: Key | None, arrays: dict[str, np.ndarray], n_items: int
    ) -> PhraseTable:
        """A table from ``arrays`` (checked: item numbers below ``n_items``)."""
        table = cls(key if key is not None else PUBLIC_KEY, params=params)
        items, data, only = arrays["phrase_items"], arrays["phrase_data"], arrays["phrase_only"]
        if data.ndim != 2 or data.shape[1] != 6 or len(items) != len(data) or len(only) != len(items):
            raise ValueError("inconsistent phrase arrays")
        if len(items) and (int(items.min()) < 0 or int(items.max()) >= n_items):
            raise ValueError("phrase of an item that is not there")
        lens = data[:, 1].astype(np.int64)
        if len(data) and (int(lens.min()) < 1 or not np.array_equal(data[:, 2], np.minimum(lens, PREFIX))):
            raise ValueError("inconsistent phrase lengths")
        table._items, table._data, table._only = items.astype(np.int64), data, only.astype(bool)
        return table

    def _tables(self) -> Lookup:
        self._merge()
        if self._lookup is None:
            self._lookup = build(self._data, self._items)
        return self._lookup

    def prepare(self) -> None:
        """Build the lookup arrays now (a search otherwise does it first): afterwards, until the next
        change, searches only read the table."""
        if len(self):
            self._tables()

    def _hashing_key(self) -> Key:
        if self._key is None:
            raise ParameterMismatchError(
                self.params,
                "no key",
                what="phrase table",
                message=f"phrases of this index were made with key {self.params.key_id}: "
                "match texts with that key (Index(key=...)) or match phrase fingerprints",
            )
        return self._key

    def find(
        self, texts: Sequence[str], *, html: bool | None = None, allowed: np.ndarray | None = None
    ) -> list[tuple[int, int, int, int]]:
        """(text, item, start, end) of every phrase occurrence in ``texts`` (character offsets)."""
        toks = phrase_tokens_many(texts, html=html)
        raw = self._find_all(texts, toks, html, allowed, cap=2**62)
        return [(int(q), int(item), int(toks.starts[a]), int(toks.ends[b])) for q, item, a, b in raw.tolist()]

    def _find_raw(
        self, toks: PhraseTokens, allowed: np.ndarray | None, *, cap: int = MAX_SPANS
    ) -> np.ndarray:
        """(text, item, first token, last token) rows of the compiled search, in query order: at most
        ``cap`` occurrences of one phrase in one text (more cost work, and are never reported)."""
        if not len(self) or not len(toks):
            return np.zeros((0, 4), dtype=np.int64)
        return self._expand(self._search(toks, cap), allowed)

    def _find_all(
        self,
        texts: Sequence[str],
        toks: PhraseTokens,
        html: bool | None,
        allowed: np.ndarray | None,
        *,
        cap: int = MAX_SPANS,
    ) -> np.ndarray:
        """``_find_raw`` and the phrases found with a word repeated (``copytrace._phrase_repeats``)."""
        if not len(self) or not len(toks):
            return np.zeros((0, 4), dtype=np.int64)
        raw = self._search(toks, cap)
        more = self._search_repeats(texts, toks, html, cap)
        if len(more):  # a find that holds one made without reading a word once is that one
            keys = {(q, s) for q, s, _, _ in more.tolist()}
            inner: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for q, s, t, u in raw.tolist():
                if (q, s) in keys:
                    inner.setdefault((q, s), []).append((t, u))
            keep = [
                not any(t <= a and b <= u for a, b in inner.get((q, s), ())) for q, s, t, u in more.tolist()
            ]
            more = more[np.array(keep, dtype=bool)]
        if len(more):
            raw = np.concatenate((raw, more))
            raw = raw[np.lexsort((raw[:, 3], raw[:, 1], raw[:, 2], raw[:, 0]))]
            new = np.ones(len(raw), dtype=bool)
            new[1:] = np.any(raw[1:, :3] != raw[:-1, :3], axis=1)
            raw = raw[new]
        return self._expand(raw, allowed)

    def _search_repeats(
        self, texts: Sequence[str], toks: PhraseTokens, html: bool | None, cap: int
    ) -> np.ndarray:
        """(text, shape, first token, last token) of the phrases of 3 words or more found in ``texts`` once
        a word repeated right after itself is read once."""
        lk = self._tables()
        if lk.max_guarded_ntok == 0:
            return np.zeros((0, 4), dtype=np.int64)
        repeats = repeated_tokens(toks.chars, toks.vis_starts, toks.vis_ends, toks.text)
        if not len(repeats):
            return np.zeros((0, 4), dtype=np.int64)
        wins = windows(texts, toks.text, toks.starts, toks.ends, repeats, lk.max_guarded_ntok)
        wtoks = phrase_tokens_many([w.string for w in wins], html=html)
        rows = []
        for w, shape, a, b in self._search(wtoks, cap).tolist():
            win = wins[w]
            start, end = win.to_query(int(wtoks.starts[a])), win.to_query(int(wtoks.ends[b]), end=True)
            if lk.s_ntok[shape] < GUARD_WORDS or not win.spans_a_cut(start, end):
                continue
            first = int(np.searchsorted(toks.text, win.text, side="left"))
            stop = int(np.searchsorted(toks.text, win.text, side="right"))
            t = first + max(0, int(np.searchsorted(toks.starts[first:stop], start, side="right")) - 1)
            u = first + min(stop - first - 1, int(np.searchsorted(toks.ends[first:stop], end, side="left")))
            rows.append((win.text, shape, t, u))
        return np.array(rows, dtype=np.int64).reshape(-1, 4)

    def _search(self, toks: PhraseTokens, cap: int) -> np.ndarray:
        """(text, shape, first token, last token) rows of the compiled search (``_phrase_search.find``)."""
        key = self._hashing_key()
        lk = self._tables()
        raw, work = find(
            toks.key,
            toks.text_key,
            toks.text,
            toks.key_starts,
            toks.key_ends,
            toks.strict,
            toks.strict_starts,
            toks.strict_ends,
            toks.stretched,
            toks.joined,
            toks.chars,
            toks.vis_starts,
            toks.vis_ends,
            np.uint64(key.k0),
            np.uint64(key.k1),
            PREFIX,
            lk.shift,
            lk.bucket,
            lk.g_prefix,
            lk.g_plen,
            lk.g_run,
            lk.r_len,
            lk.r_shape,
            lk.s_full,
            lk.s_strict,
            lk.s_ntok,
            np.uint64(lk.len_mask),
            lk.filt,
            common_words(),
            cap,
        )
        self.work += int(work)
        return cast(np.ndarray, raw)

    def _expand(self, raw: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        """(text, item, first token, last token): one row per item of each shape found (most shapes are one
        item), the items in the order they were added; only the ``allowed`` items (all when None)."""
        lk = self._tables()
        shape = raw[:, 1]
        first, count = lk.s_item[shape], lk.s_item[shape + 1] - lk.s_item[shape]
        row = np.repeat(np.arange(len(raw)), count)
        within = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
        out = raw[row]
        out[:, 1] = lk.s_items[first[row] + within]
        if allowed is not None and len(allowed) and len(out):
            out = out[allowed[out[:, 1]]]
        return out

    def match_many(
        self, texts: Sequence[str], *, html: bool | None = None, allowed: np.ndarray | None = None
    ) -> list[list[PhraseMatch]]:
        """The phrases found in each of ``texts``: one ``PhraseMatch`` per (text, item), in order of first
        occurrence, with at most ``MAX_SPANS`` spans."""
        out: list[list[PhraseMatch]] = [[] for _ in texts]
        if not len(self):
            return out
        first = 0
        while first < len(texts):  # a slice of texts at a time: its arrays stay in the caches
            end, size = first, 0
            while end < len(texts) and (end == first or size + len(texts[end]) <= _SLICE):
                size += len(texts[end])
                end += 1
            self._match_slice(texts, first, end, html, allowed, out)
            first = end
        return out

    def _match_slice(
        self,
        texts: Sequence[str],
        first: int,
        end: int,
        html: bool | None,
        allowed: np.ndarray | None,
        out: list[list[PhraseMatch]],
    ) -> None:
        """``match_many`` of ``texts[first:end]``, into ``out``."""
        toks = phrase_tokens_many(texts[first:end], html=html)
        raw = self._find_all(texts[first:end], toks, html, allowed)
        if not len(raw):
            return
        per_text = np.bincount(toks.text, minlength=end - first).tolist()
        span_starts, span_ends = toks.starts[raw[:, 2]].tolist(), toks.ends[raw[:, 3]].tolist()
        seen: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for (q, item, a, b), start, stop in zip(raw.tolist(), span_starts, span_ends, strict=True):
            spans = seen.setdefault((q, item), [])  # one row per occurrence found: rare, not per token
            if len(spans) < MAX_SPANS:
                spans.append((start, stop, b - a + 1))
        for (q, item), spans in seen.items():
            covered = sum(n for _, _, n in spans)
            out[first + q].append(
                PhraseMatch(
                    first + q,
                    item,
                    tuple((start, stop) for start, stop, _ in spans),
                    min(1.0, covered / max(1, per_text[q])),
                )
            )

    def match_fingerprints(
        self, fps: Iterable[PhraseFingerprint], *, allowed: np.ndarray | None = None
    ) -> list[list[int]]:
        """Item numbers whose phrase equals each of ``fps`` (same skeleton: same length and full hash)."""
        self._merge()
        out: list[list[int]] = []
        for fp in fps:
            if fp.params != self.params:
                raise ParameterMismatchError(self.params, fp.params, what="phrase query")
            hit = (self._data[:, 4] == np.uint64(fp.full_hash)) & (self._data[:, 1] == np.uint64(fp.length))
            items = self._items[hit]
            if allowed is not None and len(allowed):
                items = items[allowed[items]]
            out.append(sorted(set(items.tolist())))
        return out
