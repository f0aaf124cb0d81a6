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
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

from ..jit import njit
from ..text.html import looks_like_html
from ..text.normalize import tokenize

if TYPE_CHECKING:
    from ._contents import Contents

HASH_CACHE = 1 << 24
"""Tokens whose cut hashes ``TokenHashes`` keeps (2 bytes each: 32 MB)."""


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
    """For each chain ``c`` (query slot ``chain_query[c]``, item slot ``chain_slot[c]``, ``anchors[c]`` =
    first query token, last query token, first item token, last item token of its k-gram starts), the
    longest exact shared run of tokens through one of its two end anchors: grown at most ``max_run``
    tokens either side of the anchor's k-gram; 0 where neither anchor's k-gram is the same tokens.
    Token hashes of query slot ``s`` are ``q_hashes[q_offsets[s]:q_offsets[s + 1]]``, of item slot
    ``t`` ``i_hashes[i_offsets[t]:i_offsets[t + 1]]``."""
    n = len(chain_query)
    out = np.zeros(n, dtype=np.int64)
    for c in range(n):
        qb = q_offsets[chain_query[c]]
        qn = q_offsets[chain_query[c] + 1] - qb
        ib = i_offsets[chain_slot[c]]
        inn = i_offsets[chain_slot[c] + 1] - ib
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
    of several threads share it (each call holds its lock)."""

    def __init__(self, budget: int = HASH_CACHE) -> None:
        self.budget = budget
        self.size = 0  # tokens held
        self._held: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, idx: object) -> bool:
        return idx in self._held

    def get(self, idx: int) -> tuple[bool, np.ndarray | None]:
        """``(held, hashes)``: whether item ``idx`` is kept, and its cut hashes (None: no text)."""
        held = self._held
        with self._lock:
            if idx not in held:
                return False, None
            held.move_to_end(idx)
            return True, held[idx]

    def get_many(self, numbers: list[int]) -> list[tuple[bool, np.ndarray | None]]:
        """``get`` of each of ``numbers`` under one hold of the lock (a batch asks for thousands)."""
        held = self._held
        move = held.move_to_end
        out: list[tuple[bool, np.ndarray | None]] = []
        append = out.append
        with self._lock:
            for idx in numbers:
                if idx in held:
                    move(idx)
                    append((True, held[idx]))
                else:
                    append((False, None))
        return out

    def put(self, idx: int, hashes: np.ndarray | None) -> None:
        """Keep item ``idx``'s cut hashes (None: it has no text of its fingerprint)."""
        self.pop(idx)
        n = 0 if hashes is None else len(hashes)
        if n > self.budget:
            return  # a text longer than the whole budget is read again when asked for
        held = self._held
        with self._lock:
            while held and self.size + n > self.budget:
                _, old = held.popitem(last=False)
                self.size -= 0 if old is None else len(old)
            if idx not in held:
                held[idx] = hashes
                self.size += n

    def pop(self, idx: int, default: None = None) -> None:
        """Forget item ``idx`` (removed from the index)."""
        with self._lock:
            old = self._held.pop(idx, default)
            self.size -= 0 if old is None else len(old)


def _texts(contents: Contents, numbers: list[int]) -> list[tuple[str, bool | None] | None]:
    """``Contents.item_text`` of each of ``numbers``, the text lookup's asked in one go (its
    ``prefetch``, called even with none to read: a lookup serves one batch's texts, then forgets them)."""
    kept, lookup, names = contents.texts, contents.text_lookup, contents.names
    out: list[tuple[str, bool | None] | None] = [kept.get(idx) for idx in numbers]
    if lookup is None:
        return out
    asked = [(j, names[idx]) for j, idx in enumerate(numbers) if out[j] is None]
    prefetch = getattr(lookup, "prefetch", None)
    if prefetch is not None:
        prefetch([name for _, name in asked])
    for j, name in asked:
        text = lookup(*name)
        if text is not None:
            out[j] = (text, None)
    return out


def cut_hashes(
    contents: Contents, numbers: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cut token hashes (``cut``) of the texts of items ``numbers`` (distinct), laid end to end:
    ``(hashes, offsets, with_text, read)``, item ``numbers[j]``'s at ``hashes[offsets[j]:offsets[j + 1]]``,
    empty where it has no text of its fingerprint (``with_text[j]`` False); ``read[j]``: its text was
    read now (the text lookup holds it until its next ``prefetch``).

    Those the index's ``TokenHashes`` holds are taken from it; the texts of the others are read in one
    go (``_texts``) and tokenized in one call, joined by spaces (a space separates tokens, so none runs
    across two texts), those that are HTML one by one."""
    cache: TokenHashes = contents.hash_cache
    found: list[np.ndarray | None] = [None] * len(numbers)
    with_text = np.ones(len(numbers), dtype=bool)
    missing: list[int] = []
    for j, (held, hashes) in enumerate(cache.get_many(numbers.tolist())):
        if not held:
            missing.append(j)
        elif hashes is None:
            with_text[j] = False
        else:
            found[j] = hashes
    texts = _texts(contents, [int(numbers[j]) for j in missing])
    plain: list[str] = []
    plain_at: list[int] = []
    for j, text in zip(missing, texts, strict=True):
        if text is None:
            continue
        if text[1] is False or (text[1] is None and not looks_like_html(text[0])):
            plain.append(text[0])
            plain_at.append(j)
        else:
            found[j] = cut(tokenize(text[0], html=True).hashes)
    if plain:
        lengths = np.fromiter(map(len, plain), dtype=np.int64, count=len(plain))
        bases = np.cumsum(lengths + 1) - (lengths + 1)  # where each text starts in the joined one
        joined = tokenize(" ".join(plain), html=False)
        cuts = [*np.searchsorted(joined.starts, bases).tolist(), len(joined)]
        all_cut = cut(joined.hashes)
        for t, j in enumerate(plain_at):
            found[j] = all_cut[cuts[t] : cuts[t + 1]].copy()  # a copy: the cache keeps it alone
    ntok = contents.ntok
    for j in missing:
        idx = int(numbers[j])
        hashes = found[j]
        if hashes is not None and len(hashes) != int(ntok[idx]):
            hashes = found[j] = None  # a text not of this fingerprint: no item offsets from it
        if hashes is None:
            with_text[j] = False
        cache.put(idx, hashes)
    empty = np.zeros(0, dtype=np.uint16)
    parts = [empty if h is None else h for h in found]
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in parts], out=offsets[1:])
    read = np.zeros(len(numbers), dtype=bool)
    read[missing] = True
    return (np.concatenate(parts) if parts else empty), offsets, with_text, read


def long_enough(
    contents: Contents,
    chain_query: np.ndarray,
    chain_item: np.ndarray,
    anchors: np.ndarray,
    query_hashes: list[np.ndarray],
    k: int,
    min_tokens: int,
    max_run: int,
) -> np.ndarray:
    """Which chains may hold a quote: those of an item without its text (proved from fingerprints alone,
    ``quotes.fingerprint_run``), and those whose longest run (``longest_runs``) reaches ``min_tokens``.
    Chain ``c`` is of query slot ``chain_query[c]`` (token hashes ``query_hashes[slot]``) and item number
    ``chain_item[c]``, with end anchors ``anchors[c]``.

    Runs are measured first on cut hashes (``cut_hashes``: the items' kept or read all at once), then,
    for the few chains that reach ``min_tokens`` there, on the exact tokens (which verification reads
    next anyway, ``Contents.item_tokens``): the chains kept are exactly those whose exact run is long
    enough."""
    if not len(chain_item):
        return np.zeros(0, dtype=bool)
    chain_query = chain_query.astype(np.int64)
    anchors = np.ascontiguousarray(anchors, dtype=np.int64)
    distinct, slot = np.unique(chain_item, return_inverse=True)
    slot = slot.astype(np.int64)
    i_hashes, i_offsets, with_text, read = cut_hashes(contents, distinct)
    q_offsets = np.zeros(len(query_hashes) + 1, dtype=np.int64)
    np.cumsum([len(h) for h in query_hashes], out=q_offsets[1:])
    q_hashes = np.concatenate(query_hashes) if query_hashes else np.zeros(0, dtype=np.uint64)
    runs = longest_runs(chain_query, slot, anchors, cut(q_hashes), q_offsets, i_hashes, i_offsets, k, max_run)
    keep = ~with_text[slot] | (runs >= min_tokens)
    recheck = np.flatnonzero(with_text[slot] & (runs >= min_tokens))
    if not len(recheck):
        return keep
    again = np.unique(slot[recheck])  # slots of the items to read exactly
    if not read[again].all():  # some were kept from an earlier batch: their texts are read in one go
        contents.prefetch(distinct[again])
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
