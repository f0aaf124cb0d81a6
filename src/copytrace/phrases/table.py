"""The phrase matcher: a table of phrase fingerprints, searched in one compiled pass over many queries.

The matcher (``PhraseTable``) groups the phrases by their prefix hash, and within a group by length.  At
each token start of a query it hashes the next letters of the skeleton (SipHash of the first four, the
others mixed in letter by letter: one SipHash per query token), and probes the table with the prefix of
``PREFIX`` letters and with every shorter prefix that ends at a token end and is the whole of some phrase;
where a group is found, each of its lengths that ends at a token end is verified by one hash of the
query's letters there, looked up among the group's phrases of that length (``copytrace.phrases._search``).
The work is a few probes per query token, plus a step per distinct length of the phrases that share a
prefix found there: no loop over phrases, no pass over a phrase's letters, no Python per token, whatever
the table holds.

>>> from copytrace.phrases import phrase_fingerprint
>>> table = PhraseTable()
>>> table.add(0, phrase_fingerprint("death to the occupiers"))
>>> query = "so: D3ATH to the 0ccupiers!"
>>> [(item, query[start:end]) for _, item, start, end in table.find([query])]
[(0, 'D3ATH to the 0ccupiers')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np

from ..errors import ParameterMismatchError
from ..fingerprints._phrase_hashing import PREFIX
from ..fingerprints.keys import PUBLIC_KEY, Key, as_key
from ..fingerprints.phrase import PhraseFingerprint, PhraseParams
from ..text.phrase_fold import PhraseTokens, phrase_tokens_many
from ._numbers import break_windows
from ._repeats import Window, repeated_tokens, windows
from ._search import GUARD_WORDS, Lookup, build, common_words, find, seen_scratch
from .hits import MAX_SPANS, PhraseHits, PhraseMatch, group

_SLICE = 1 << 16  # characters of queries normalised and searched at once (more spills out of the caches)


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
        """``_find_raw`` and the phrases found with a word repeated (``copytrace.phrases._repeats``) or a
        number glued to letters (``copytrace.phrases._numbers``)."""
        if not len(self) or not len(toks):
            return np.zeros((0, 4), dtype=np.int64)
        raw = self._search(toks, cap)
        # the windows of both second searches folded and searched together: one call each, not two
        wins = self._repeat_windows(texts, toks)
        n_repeats = len(wins)
        wins += self._number_windows(texts, toks)
        min_words = np.full(len(wins), 2, dtype=np.int64)
        min_words[:n_repeats] = GUARD_WORDS
        more = self._search_windows(toks, wins, html, cap, min_words)
        if len(more):  # a find that holds one made without reading a word once is that one
            width = np.int64(max(int(raw[:, 1].max(initial=0)), int(more[:, 1].max())) + 1)
            same = np.isin(raw[:, 0] * width + raw[:, 1], more[:, 0] * width + more[:, 1])
            inner: dict[tuple[int, int], list[tuple[int, int]]] = {}
            for q, s, t, u in raw[same].tolist():  # the finds of the same phrases in the same texts only
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
        return self._search_windows(toks, self._repeat_windows(texts, toks), html, cap, GUARD_WORDS)

    def _repeat_windows(self, texts: Sequence[str], toks: PhraseTokens) -> list[Window]:
        """The windows of ``texts`` around their repeated words, in which ``_search_repeats`` searches."""
        lk = self._tables()
        if lk.max_guarded_ntok == 0:
            return []
        repeats = repeated_tokens(toks.chars, toks.vis_starts, toks.vis_ends, toks.text)
        if not len(repeats):
            return []
        return windows(texts, toks.text, toks.starts, toks.ends, repeats, lk.max_guarded_ntok)

    def _search_numbers(
        self, texts: Sequence[str], toks: PhraseTokens, html: bool | None, cap: int
    ) -> np.ndarray:
        """(text, shape, first token, last token) of the phrases found in ``texts`` once a number glued to
        letters is broken off them (``copytrace.phrases._numbers``)."""
        return self._search_windows(toks, self._number_windows(texts, toks), html, cap, 2)

    def _number_windows(self, texts: Sequence[str], toks: PhraseTokens) -> list[Window]:
        """The windows of ``texts`` around their numbers glued to letters (``_search_numbers``)."""
        lk = self._tables()
        reach = int(lk.s_ntok.max(initial=1))
        return break_windows(
            texts, toks.text, toks.starts, toks.ends, reach, cps=toks.source, bounds=toks.source_bounds
        )

    def _search_windows(
        self,
        toks: PhraseTokens,
        wins: list[Window],
        html: bool | None,
        cap: int,
        min_words: int | np.ndarray,
    ) -> np.ndarray:
        """(text, shape, first token, last token) of the phrases of ``min_words`` words or more (one
        number for all windows, or one a window) found in windows ``wins`` of the queries ``toks`` holds,
        over one of their cuts."""
        if not wins:
            return np.zeros((0, 4), dtype=np.int64)
        lk = self._tables()
        wtoks = phrase_tokens_many([w.string for w in wins], html=html)
        found = self._search(wtoks, cap)
        least = min_words[found[:, 0]] if isinstance(min_words, np.ndarray) else min_words
        found = found[lk.s_ntok[found[:, 1]] >= least]
        if not len(found):
            return np.zeros((0, 4), dtype=np.int64)
        w_starts, w_ends = wtoks.starts[found[:, 2]].tolist(), wtoks.ends[found[:, 3]].tolist()
        text_first = np.searchsorted(toks.text, np.arange(toks.n_texts + 1), side="left").tolist()
        rows = []
        for (w, shape, _, _), w_start, w_end in zip(found.tolist(), w_starts, w_ends, strict=True):
            win = wins[w]
            start, end = win.to_query(w_start), win.to_query(w_end, end=True)
            if not win.spans_a_cut(start, end):
                continue
            first, stop = text_first[win.text], text_first[win.text + 1]
            t = first + max(0, int(np.searchsorted(toks.starts[first:stop], start, side="right")) - 1)
            u = first + min(stop - first - 1, int(np.searchsorted(toks.ends[first:stop], end, side="left")))
            rows.append((win.text, shape, t, u))
        return np.array(rows, dtype=np.int64).reshape(-1, 4)

    def _search(self, toks: PhraseTokens, cap: int) -> np.ndarray:
        """(text, shape, first token, last token) rows of the compiled search (``_search.find``)."""
        key = self._hashing_key()
        lk = self._tables()
        seen, base = seen_scratch.get(len(lk.s_ntok), toks.n_texts)
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
            lk.groups,
            lk.runs,
            lk.s_hash,
            lk.s_ntok,
            np.uint64(lk.len_mask),
            lk.filt,
            common_words(),
            cap,
            seen,
            base,
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
        occurrence, with at most ``MAX_SPANS`` spans (``hits``, as objects)."""
        return self.hits(texts, html=html, allowed=allowed).matches()

    def hits(
        self, texts: Sequence[str], *, html: bool | None = None, allowed: np.ndarray | None = None
    ) -> PhraseHits:
        """The phrases found in ``texts``, as columns (``PhraseHits``): what ``match_many`` reports, without
        an object per match."""
        if not len(self) or not len(texts):
            return PhraseHits.empty(len(texts))
        parts = []
        first = 0
        while first < len(texts):  # a slice of texts at a time: its arrays stay in the caches
            end, size = first, 0
            while end < len(texts) and (end == first or size + len(texts[end]) <= _SLICE):
                size += len(texts[end])
                end += 1
            toks = phrase_tokens_many(texts[first:end], html=html)
            raw = self._find_all(texts[first:end], toks, html, allowed)
            parts.append(group(raw, end - first, toks.text, toks.starts, toks.ends))
            first = end
        return PhraseHits.concat(parts)

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
