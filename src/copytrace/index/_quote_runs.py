"""The quote pass's first check, compiled: how long a shared run each candidate chain can grow to.

A quote candidate is a chain of shared fingerprints between a query and an item (``quotes``).  Most are a
few words in common by chance: in prose against a large bank, a third of the queries that match nothing
carry one.  Verifying each in Python (its item's tokens, the run grown on both sides, the information
of its words) cost seven times the whole long-text search.  This kernel does the part that rejects them,
for every candidate of a batch of queries in one call: at each end anchor of a chain, check that the
k-gram is the same tokens in both texts (not a hash collision) and grow it over the tokens both texts
share, as ``quotes.text_run`` does, returning the longest run.  Only chains whose run reaches
``QuoteParams.min_tokens`` go on to the exact verification, which gives the same answer it gave before.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..jit import njit
from ..text.html import looks_like_html
from ..text.normalize import tokenize

if TYPE_CHECKING:
    from ._contents import Contents

HASH_CACHE = 1 << 24
"""Tokens whose cut hashes ``TokenHashes`` keeps (2 bytes each: 32 MB)."""
ABSENT, NO_TEXT, TEXT = 0, 1, 2
"""What ``TokenHashes.take`` says of an item: not kept, kept without a text of its fingerprint, kept with
its cut hashes."""


@njit(cache=True, nogil=True)
def longest_runs(
    chain_query: np.ndarray,
    chain_slot: np.ndarray,
    anchors: np.ndarray,
    q_hashes: np.ndarray,
    q_offsets: np.ndarray,
    i_hashes: np.ndarray,
    i_offsets: np.ndarray,
    k: int,
    max_run: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """``longest_runs_between`` of item texts laid end to end: item slot ``t``'s token hashes are
    ``i_hashes[i_offsets[t]:i_offsets[t + 1]]``."""
    return longest_runs_between(
        chain_query,
        chain_slot,
        anchors,
        q_hashes,
        q_offsets,
        i_hashes,
        i_offsets[:-1],
        i_offsets[1:],
        k,
        max_run,
    )


@njit(cache=True, nogil=True)
def longest_runs_between(
    chain_query: np.ndarray,
    chain_slot: np.ndarray,
    anchors: np.ndarray,
    q_hashes: np.ndarray,
    q_offsets: np.ndarray,
    i_hashes: np.ndarray,
    i_starts: np.ndarray,
    i_ends: np.ndarray,
    k: int,
    max_run: int,
) -> np.ndarray:  # pragma: no cover - compiled
    """For each chain ``c`` (query slot ``chain_query[c]``, item slot ``chain_slot[c]``, ``anchors[c]`` =
    first query token, last query token, first item token, last item token of its k-gram starts), the
    longest exact shared run of tokens through one of its two end anchors: grown at most ``max_run``
    tokens either side of the anchor's k-gram; 0 where neither anchor's k-gram is the same tokens.
    Token hashes of query slot ``s`` are ``q_hashes[q_offsets[s]:q_offsets[s + 1]]``, of item slot
    ``t`` ``i_hashes[i_starts[t]:i_ends[t]]`` (``TokenHashes`` keeps them in one array, read in place)."""
    n = len(chain_query)
    out = np.zeros(n, dtype=np.int64)
    for c in range(n):
        qb = q_offsets[chain_query[c]]
        qn = q_offsets[chain_query[c] + 1] - qb
        ib = i_starts[chain_slot[c]]
        inn = i_ends[chain_slot[c]] - ib
        best = 0
        for end in range(2):
            qa = anchors[c, 0] if end == 0 else anchors[c, 1]
            ia = anchors[c, 2] if end == 0 else anchors[c, 3]
            if end == 1 and qa == anchors[c, 0] and ia == anchors[c, 2]:
                break  # one anchor: checked already
            if qa < 0 or ia < 0 or qa + k > qn or ia + k > inn:
                continue
            same = True
            for t in range(k):
                if q_hashes[qb + qa + t] != i_hashes[ib + ia + t]:
                    same = False
                    break
            if not same:
                continue  # a hash collision, or a keyed hash of other tokens
            back = 0
            while back < max_run and qa - back > 0 and ia - back > 0:
                if q_hashes[qb + qa - back - 1] != i_hashes[ib + ia - back - 1]:
                    break
                back += 1
            ahead = 0
            while ahead < max_run and qa + k + ahead < qn and ia + k + ahead < inn:
                if q_hashes[qb + qa + k + ahead] != i_hashes[ib + ia + k + ahead]:
                    break
                ahead += 1
            run = back + k + ahead
            best = max(best, run)
        out[c] = best
    return out


def runs_of(
    chain_query: np.ndarray,
    chain_item: np.ndarray,
    anchors: np.ndarray,
    query_hashes: list[np.ndarray],
    item_hashes: dict[int, np.ndarray],
    k: int,
    max_run: int,
) -> np.ndarray:
    """``longest_runs`` for chains given by query slot (into ``query_hashes``) and item number (a key of
    ``item_hashes``): the token hashes are laid end to end once, each text once."""
    q_offsets = np.zeros(len(query_hashes) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in query_hashes], out=q_offsets[1:])
    numbers = np.fromiter(item_hashes.keys(), dtype=np.int64, count=len(item_hashes))
    order = np.argsort(numbers)
    numbers = numbers[order]
    held = list(item_hashes.values())
    held = [held[j] for j in order.tolist()]
    i_offsets = np.zeros(len(held) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in held], out=i_offsets[1:])
    empty = np.zeros(0, dtype=np.uint64)
    return longest_runs(
        chain_query.astype(np.int64),
        np.searchsorted(numbers, chain_item).astype(np.int64),
        np.ascontiguousarray(anchors, dtype=np.int64),
        np.concatenate(query_hashes) if query_hashes else empty,
        q_offsets,
        np.concatenate(held) if held else empty,
        i_offsets,
        k,
        max_run,
    )


def cut(hashes: np.ndarray) -> np.ndarray:
    """64-bit token hashes folded to 16 bits (the exclusive or of their four 16-bit parts: the top bits
    alone of a token's FNV hash barely change with its last letter).  Equal tokens have equal cut hashes,
    so a run measured on them is at least the exact run (and is the exact run but for about a
    one-in-65,536 chance per token)."""
    folded: np.ndarray = hashes ^ (hashes >> np.uint64(32))
    out: np.ndarray = (folded ^ (folded >> np.uint64(16))).astype(np.uint16)
    return out


class TokenHashes:
    """The cut token hashes (``cut``) of the texts of items the quote pass checked, by item number: the
    first check (``long_enough``) reads and tokenizes a candidate's text once while it stays here, not
    once per query sharing a few words with it.  At most ``budget`` tokens; the least recently used
    item goes first.  ``None`` is kept for an item without a text of its fingerprint.  Item numbers are
    the index's: it forgets an item it removes, and starts a new cache when it renumbers them.  Queries
    of several threads share it (each call holds its lock).

    A batch asks for thousands of items, so the bookkeeping is arrays indexed by item number (whether
    held, tokens, last use), not a dictionary walked in Python: ``take`` answers a batch in a few array
    operations.  The hashes kept are never written again, so a caller may read them after the lock is
    released while another thread evicts them."""

    def __init__(self, budget: int = HASH_CACHE) -> None:
        self.budget = budget
        self.size = 0  # tokens held
        self._count = 0  # items held
        self._clock = 0  # the last use stamp given
        self._held = np.zeros(0, dtype=np.int8)  # per item number: ABSENT, NO_TEXT or TEXT
        self._used = np.zeros(0, dtype=np.int64)  # its last use
        self._tokens = np.zeros(0, dtype=np.int64)  # its tokens held
        self._hashes = np.zeros(0, dtype=object)  # its cut hashes (None without a text): a view of _arena
        self._start = np.zeros(0, dtype=np.int64)  # where they start in _arena
        self._arena = np.zeros(0, dtype=np.uint16)  # every item's cut hashes, end to end (with holes)
        self._fill = 0  # the end of those written in _arena
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def __contains__(self, idx: object) -> bool:
        if not isinstance(idx, int | np.integer):
            return False
        with self._lock:
            return bool(0 <= idx < len(self._held) and self._held[idx] != ABSENT)

    def get(self, idx: int) -> tuple[bool, np.ndarray | None]:
        """``(held, hashes)``: whether item ``idx`` is kept, and its cut hashes (None: no text)."""
        state, parts = self.take(np.array([idx], dtype=np.int64))
        return bool(state[0] != ABSENT), parts[0]

    def get_many(self, numbers: list[int]) -> list[tuple[bool, np.ndarray | None]]:
        """``get`` of each of ``numbers`` under one hold of the lock."""
        state, parts = self.take(np.asarray(numbers, dtype=np.int64))
        return list(zip((state != ABSENT).tolist(), parts.tolist(), strict=True))

    def take(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``numbers`` (item numbers): whether it is kept and with a text (``ABSENT``,
        ``NO_TEXT`` or ``TEXT``), and its cut hashes (an object array, None where not kept or without a
        text); those kept become the most recently used (all alike: one batch)."""
        state, parts, _ = self.take_with_lengths(numbers)
        return state, parts

    def take_with_lengths(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``take``, and the length of each one's cut hashes (0 where not kept or without a text), read
        under the same hold of the lock."""
        numbers = np.asarray(numbers, dtype=np.int64)
        parts = np.full(len(numbers), None, dtype=object)
        lengths = np.zeros(len(numbers), dtype=np.int64)
        with self._lock:
            state, held = self._use(numbers)
            at = numbers[held]
            parts[held] = self._hashes[at]
            lengths[held] = self._tokens[at]
        return state, parts, lengths

    def take_in_place(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``take`` without an array per item: ``(state, arena, starts, lengths)``, item ``numbers[j]``'s
        cut hashes at ``arena[starts[j]:starts[j] + lengths[j]]`` (empty where not kept or without a text).
        What ``arena`` holds there is never written again (new items go after the last, and room is made
        in a new array), so it may be read after another thread has evicted them."""
        numbers = np.asarray(numbers, dtype=np.int64)
        starts = np.zeros(len(numbers), dtype=np.int64)
        lengths = np.zeros(len(numbers), dtype=np.int64)
        with self._lock:
            state, held = self._use(numbers)
            at = numbers[held]
            starts[held] = self._start[at]
            lengths[held] = self._tokens[at]
            arena = self._arena
        return state, arena, starts, lengths

    def put(self, idx: int, hashes: np.ndarray | None) -> None:
        """Keep item ``idx``'s cut hashes (None: it has no text of its fingerprint)."""
        self.put_many([idx], [hashes])

    def put_many(self, numbers: list[int], hashes: list[np.ndarray | None]) -> None:
        """``put`` of each of ``numbers`` (distinct) under one hold of the lock, in order: the least
        recently used items go first, as many as the new ones need."""
        with self._lock:
            for idx in numbers:
                self._forget(idx)
            todo = [
                (idx, h)
                for idx, h in zip(numbers, hashes, strict=True)
                if (0 if h is None else len(h)) <= self.budget  # longer than the budget: read again
            ]
            todo = self._last_that_fit(todo)
            if not todo:
                return
            self._grow(max(idx for idx, _ in todo) + 1)
            need = sum(0 if h is None else len(h) for _, h in todo)
            if self.size + need > self.budget:
                self._evict(self.size + need - self.budget)
            if self._fill + need > len(self._arena):
                self._new_arena(need)
            for idx, h in todo:
                n = 0 if h is None else len(h)
                if self.size + n > self.budget:  # the new ones alone outgrow it: the earliest of them go
                    self._evict(self.size + n - self.budget)
                self._clock += 1
                self._held[idx] = NO_TEXT if h is None else TEXT
                self._used[idx] = self._clock
                self._tokens[idx] = n
                if h is None:
                    self._hashes[idx] = None
                else:
                    at = self._fill
                    self._arena[at : at + n] = h
                    self._start[idx] = at
                    self._hashes[idx] = self._arena[at : at + n]
                    self._fill = at + n
                self.size += n
                self._count += 1

    def pop(self, idx: int, default: None = None) -> None:
        """Forget item ``idx`` (removed from the index)."""
        with self._lock:
            self._forget(idx)

    # ---------------------------------------------------------------------------- under the lock
    def _last_that_fit(
        self, todo: list[tuple[int, np.ndarray | None]]
    ) -> list[tuple[int, np.ndarray | None]]:
        """The last of ``todo`` whose tokens fit in the budget together: the earlier ones would go at once
        as the later ones are put (the least recently used first), and written to the arena first they
        made a batch's new arena as large as all its candidates, not the budget."""
        total = 0
        for first in range(len(todo) - 1, -1, -1):
            h = todo[first][1]
            total += 0 if h is None else len(h)
            if total > self.budget:
                return todo[first + 1 :]
        return todo

    def _use(self, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each of ``numbers``'s state, and which are held: those become the most recently used."""
        state = np.full(len(numbers), ABSENT, dtype=np.int8)
        inside = numbers < len(self._held)
        state[inside] = self._held[numbers[inside]]
        held = state != ABSENT
        if held.any():
            self._clock += 1
            self._used[numbers[held]] = self._clock
        return state, held

    def _forget(self, idx: int) -> None:
        if 0 <= idx < len(self._held) and self._held[idx] != ABSENT:
            self.size -= int(self._tokens[idx])
            self._count -= 1
            self._held[idx] = ABSENT
            self._tokens[idx] = 0
            self._hashes[idx] = None

    def _grow(self, n: int) -> None:
        if n <= len(self._held):
            return
        cap = max(64, 2 * len(self._held), n)
        old = len(self._held)
        self._held = np.concatenate((self._held, np.zeros(cap - old, dtype=np.int8)))
        self._used = np.concatenate((self._used, np.zeros(cap - old, dtype=np.int64)))
        self._tokens = np.concatenate((self._tokens, np.zeros(cap - old, dtype=np.int64)))
        self._start = np.concatenate((self._start, np.zeros(cap - old, dtype=np.int64)))
        hashes = np.empty(cap, dtype=object)
        hashes[:old] = self._hashes
        self._hashes = hashes

    def _new_arena(self, need: int) -> None:
        """A new arena with the items held copied to its start and room for ``need`` more tokens after
        them (half as much again as both, so that copying stays a few tokens per token put); the old one
        is left as it was, for those still reading it."""
        held = np.flatnonzero(self._held == TEXT)
        held = held[np.argsort(self._start[held], kind="stable")]
        live = int(self._tokens[held].sum())
        arena = np.zeros(max(4096, (live + need) * 3 // 2), dtype=np.uint16)
        at = 0
        for idx in held.tolist():
            n = int(self._tokens[idx])
            arena[at : at + n] = self._hashes[idx]
            self._start[idx] = at
            self._hashes[idx] = arena[at : at + n]
            at += n
        self._arena, self._fill = arena, at

    def _evict(self, tokens: int) -> None:
        """Forget the least recently used items, oldest first, until ``tokens`` tokens are freed (or none
        is left)."""
        held = np.flatnonzero(self._held != ABSENT)
        held = held[np.argsort(self._used[held], kind="stable")]
        freed = np.cumsum(self._tokens[held])
        last = int(np.searchsorted(freed, tokens))  # the first prefix that frees enough
        for idx in held[: last + 1].tolist():
            self._forget(idx)


def _texts(
    contents: Contents, numbers: list[int], also: Sequence[int] = ()
) -> list[tuple[str, bool | None] | None]:
    """``Contents.item_text`` of each of ``numbers``, the text lookup's asked in one go (its
    ``prefetch``, called even with none to read: a lookup serves one batch's texts, then forgets them),
    with the texts of items ``also`` that the batch asks for next (read in the same statement)."""
    kept, lookup, names = contents.texts, contents.text_lookup, contents.names
    out: list[tuple[str, bool | None] | None] = [kept.get(idx) for idx in numbers]
    if lookup is None:
        return out
    asked = [(j, names[idx]) for j, idx in enumerate(numbers) if out[j] is None]
    prefetch = getattr(lookup, "prefetch", None)
    if prefetch is not None:
        wanted = [name for _, name in asked]
        others = sorted(set(also).difference(numbers))
        prefetch(wanted + [names[idx] for idx in others if idx not in kept])
    for j, name in asked:
        text = lookup(*name)
        if text is not None:
            out[j] = (text, None)
    return out


def _cut_texts(
    contents: Contents, numbers: list[int], texts: list[tuple[str, bool | None] | None]
) -> list[np.ndarray | None]:
    """The cut hashes of the texts of items ``numbers`` (None: no text, or a text not of its
    fingerprint), tokenized in one call, joined by spaces (a space separates tokens, so none runs across
    two texts), those that are HTML one by one."""
    found: list[np.ndarray | None] = [None] * len(numbers)
    plain: list[str] = []
    plain_at: list[int] = []
    for t, text in enumerate(texts):
        if text is None:
            continue
        if text[1] is False or (text[1] is None and not looks_like_html(text[0])):
            plain.append(text[0])
            plain_at.append(t)
        else:
            found[t] = cut(tokenize(text[0], html=True).hashes)
    if plain:
        lengths = np.fromiter(map(len, plain), dtype=np.int64, count=len(plain))
        bases = np.cumsum(lengths + 1) - (lengths + 1)  # where each text starts in the joined one
        joined = tokenize(" ".join(plain), html=False)
        cuts = [*np.searchsorted(joined.starts, bases).tolist(), len(joined)]
        all_cut = cut(joined.hashes)
        for u, t in enumerate(plain_at):
            found[t] = all_cut[cuts[u] : cuts[u + 1]].copy()  # a copy: the cache keeps it alone
    ntok = contents.ntok
    for t, idx in enumerate(numbers):
        hashes = found[t]
        if hashes is not None and len(hashes) != int(ntok[idx]):
            found[t] = None  # a text not of this fingerprint: no item offsets from it
    return found


def warm_up(i_hashes: np.ndarray) -> None:
    """Load ``longest_runs_between`` for item hashes of ``i_hashes``'s type (a token sidecar's mapped,
    read-only array is a kernel of its own), on no chain: its first query then loads nothing."""
    none = np.zeros(0, dtype=np.int64)
    longest_runs_between(
        none,
        none,
        np.zeros((0, 4), dtype=np.int64),
        np.zeros(0, dtype=np.uint16),
        np.zeros(1, dtype=np.int64),
        i_hashes,
        none,
        none,
        5,
        1,
    )


def cut_items(contents: Contents, numbers: list[int]) -> list[np.ndarray | None]:
    """The cut hashes of the texts of items ``numbers``, read in one go (``_texts``) and cut
    (``_cut_texts``): what the first check measures an item on (None: no text of its fingerprint).  A
    token sidecar holds these for every item of a snapshot (``token_sidecar``)."""
    return _cut_texts(contents, numbers, _texts(contents, numbers))


def cut_hashes(
    contents: Contents, numbers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cut token hashes (``cut``) of the texts of items ``numbers`` (distinct): ``(hashes, starts,
    ends, with_text, read)``, item ``numbers[j]``'s at ``hashes[starts[j]:ends[j]]``, empty where it has
    no text of its fingerprint (``with_text[j]`` False); ``read[j]``: its text was read now (the text
    lookup holds it until its next ``prefetch``).

    Those the index's ``TokenHashes`` holds are read where it keeps them (``take_in_place``: a batch
    of a stream that repeats its items copies none); the texts of the others are read in one go
    (``_texts``), cut (``_cut_texts``) and laid end to end with the others."""
    cache: TokenHashes = contents.hash_cache
    state, arena, starts, sizes = cache.take_in_place(numbers)
    missing = np.flatnonzero(state == ABSENT).tolist()
    with_text = state == TEXT
    read = np.zeros(len(numbers), dtype=bool)
    texts = _texts(contents, [int(numbers[j]) for j in missing])  # asked even for none (``_texts``)
    if not missing:
        return arena, starts, starts + sizes, with_text, read
    found = _cut_texts(contents, [int(numbers[j]) for j in missing], texts)
    cache.put_many([int(numbers[j]) for j in missing], found)
    parts: list[np.ndarray] = []
    new_at = dict(zip(missing, found, strict=True))
    for j in range(len(numbers)):
        if j in new_at:
            hashes = new_at[j]
            with_text[j] = hashes is not None
            sizes[j] = 0 if hashes is None else len(hashes)
            if hashes is not None:
                parts.append(hashes)
        elif with_text[j]:
            parts.append(arena[starts[j] : starts[j] + sizes[j]])
    offsets = np.zeros(len(numbers) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    read[missing] = True
    hashes_all = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint16)
    return hashes_all, offsets[:-1], offsets[1:], with_text, read


def long_enough(
    contents: Contents,
    chain_query: np.ndarray,
    chain_item: np.ndarray,
    anchors: np.ndarray,
    query_hashes: list[np.ndarray],
    k: int,
    min_tokens: int,
    max_run: int,
    also: Sequence[int] = (),
) -> np.ndarray:
    """Which chains may hold a quote: those of an item without its text (proved from fingerprints alone,
    ``quotes.fingerprint_run``), and those whose longest run (``longest_runs``) reaches ``min_tokens``.
    Chain ``c`` is of query slot ``chain_query[c]`` (token hashes ``query_hashes[slot]``) and item number
    ``chain_item[c]``, with end anchors ``anchors[c]``.

    Runs are measured first on cut hashes, then, for the few chains that reach ``min_tokens`` there, on
    the exact tokens (which verification reads next anyway, ``Contents.item_tokens``): the chains kept
    are exactly those whose exact run is long enough.  The items of the mapped snapshot that a token
    sidecar holds (``Contents.sidecar``: present since the snapshot, numbered as in it) are measured where
    it keeps them, and their texts are not read; the items the index's ``TokenHashes`` holds are measured
    where it keeps them (``take_in_place``); then the texts the batch needs are read in
    one go (``_texts``, one statement of a store's lookup): those of the items not held, those of the
    held items to measure exactly, and those of items ``also`` (the caller's, next in the batch: its
    matches' spans).  The items read are cut (``_cut_texts``), kept, and measured like the others."""
    if not len(chain_item):
        _texts(contents, [], also)
        return np.zeros(0, dtype=bool)
    chain_query = chain_query.astype(np.int64)
    anchors = np.ascontiguousarray(anchors, dtype=np.int64)
    distinct, slot = np.unique(chain_item, return_inverse=True)
    slot = slot.astype(np.int64)
    q_offsets = np.zeros(len(query_hashes) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in query_hashes], out=q_offsets[1:])
    q_hashes = np.concatenate(query_hashes) if query_hashes else np.zeros(0, dtype=np.uint64)
    q_cut = cut(q_hashes)
    runs = np.zeros(len(slot), dtype=np.int64)
    state = np.full(len(distinct), ABSENT, dtype=np.int8)
    side = contents.sidecar
    in_side = np.zeros(len(distinct), dtype=bool)
    if side is not None:  # items of the mapped snapshot, present since: measured where the sidecar holds them
        in_side = distinct < side.n_items
        in_side[in_side] = contents.alive[distinct[in_side]]
    others = np.flatnonzero(~in_side)
    cache: TokenHashes = contents.hash_cache
    c_state, arena, c_starts, c_sizes = cache.take_in_place(distinct[others])
    state[others] = c_state
    starts = np.zeros(len(distinct), dtype=np.int64)
    ends = np.zeros(len(distinct), dtype=np.int64)
    starts[others], ends[others] = c_starts, c_starts + c_sizes
    measured = np.zeros(len(slot), dtype=bool)
    if side is not None and in_side.any():
        on_side = np.flatnonzero(in_side)
        s_state, s_starts, s_ends = side.take(distinct[on_side])
        state[on_side] = s_state
        side_starts = np.zeros(len(distinct), dtype=np.int64)
        side_ends = np.zeros(len(distinct), dtype=np.int64)
        side_starts[on_side], side_ends[on_side] = s_starts, s_ends
        chains = np.flatnonzero(in_side[slot] & (state[slot] == TEXT))
        if len(chains):
            runs[chains] = longest_runs_between(
                chain_query[chains],
                slot[chains],
                anchors[chains],
                q_cut,
                q_offsets,
                side.hashes,
                side_starts,
                side_ends,
                k,
                max_run,
            )
            measured[chains] = True
    with_text = state == TEXT
    on_held = np.flatnonzero(with_text[slot] & ~measured)
    if len(on_held):
        runs[on_held] = longest_runs_between(
            chain_query[on_held],
            slot[on_held],
            anchors[on_held],
            q_cut,
            q_offsets,
            arena,
            starts,
            ends,
            k,
            max_run,
        )
    on_held = np.flatnonzero(with_text[slot])
    missing = np.flatnonzero(state == ABSENT)
    exactly = np.unique(slot[on_held[runs[on_held] >= min_tokens]])  # held: to measure exactly
    texts = _texts(  # the batch's one read, even of none (``_texts``)
        contents, distinct[missing].tolist(), [*distinct[exactly].tolist(), *also]
    )
    if len(missing):
        found = _cut_texts(contents, distinct[missing].tolist(), texts)
        cache.put_many(distinct[missing].tolist(), found)
        new_sizes = np.zeros(len(distinct), dtype=np.int64)
        for t, j in enumerate(missing.tolist()):
            hashes = found[t]
            with_text[j] = hashes is not None
            new_sizes[j] = 0 if hashes is None else len(hashes)
        on_new = np.flatnonzero(np.isin(slot, missing) & with_text[slot])
        if len(on_new):
            ends = np.cumsum(new_sizes)
            parts = [h for h in found if h is not None]
            runs[on_new] = longest_runs_between(
                chain_query[on_new],
                slot[on_new],
                anchors[on_new],
                q_cut,
                q_offsets,
                np.concatenate(parts),
                ends - new_sizes,
                ends,
                k,
                max_run,
            )
    keep: np.ndarray = ~with_text[slot] | (runs >= min_tokens)
    recheck = np.flatnonzero(with_text[slot] & (runs >= min_tokens))
    if not len(recheck):
        return keep
    again = np.unique(slot[recheck])  # slots of the items to measure exactly: their texts were read now
    exact: list[np.ndarray] = []
    exact_text = np.zeros(len(again), dtype=bool)
    for t, s in enumerate(again.tolist()):
        tokens = contents.item_tokens(int(distinct[s]))
        exact.append(np.zeros(0, dtype=np.uint64) if tokens is None else tokens.hashes)
        exact_text[t] = tokens is not None
    e_offsets = np.zeros(len(exact) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in exact], out=e_offsets[1:])
    e_slot = np.searchsorted(again, slot[recheck])
    exact_runs = longest_runs(
        chain_query[recheck],
        e_slot,
        anchors[recheck],
        q_hashes,
        q_offsets,
        np.concatenate(exact),
        e_offsets,
        k,
        max_run,
    )
    keep[recheck] = ~exact_text[e_slot] | (exact_runs >= min_tokens)
    return keep
