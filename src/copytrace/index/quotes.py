"""Quotes: a short run of a banked text inside a query, found in full and told from a stock phrase.

The long-text rule (``MatchParams``) wants a chain of shared fingerprints over at least 10 query tokens.
At winnowing density 0.4 a 10-word quote shares only one or two fingerprints with its source, so it is
rarely reported.  Winnowing still guarantees that a shared run of ``k + window - 1`` tokens (8 at the
defaults) shares at least one fingerprint: that fingerprint is enough to *align* the query on the item.

**Items with text** (kept by the index or given by ``text_lookup``).  Each anchor of a candidate chain is
checked token by token and grown over the tokens both texts share, as the evidence spans are
(``evidence``): the result is the exact shared run.  It is a quote when it is at least
``QuoteParams.min_tokens`` tokens long and its words carry at least ``min_bits`` of information beyond
ordinary language (``copytrace.text.background``): "at the end of the day we will" carries about 10 bits,
"we don't sleep for one night unless we think of eliminating" about 45.

**Fingerprint-only items.**  Without the item's text, a shared fingerprint proves only its own ``k``
tokens (hash collisions aside); tokens between two shared fingerprints are unknown.  So a run counts as
shared only where the chain proves it: its first and last fingerprints on one diagonal, *every* query
fingerprint between them shared, and consecutive ones at most ``k`` tokens apart (their k-grams touch or
overlap, so no token between is unchecked).  The proven run is from the first fingerprint to the end of
the last k-gram.  A 10-token quote shares k-grams at 6 positions of which winnowing keeps about 2.4, so its
proven run usually falls short of 10 tokens: fingerprint-only banks find few 10-word quotes, and more the
longer the quote.

**Boilerplate of the bank.**  Where the bank knows a passage is common, it is: a token of the run
covered by a query fingerprint that more than ``common_df`` families hold (the long-text rule's
boilerplate, a publisher's footer) breaks the run, and the quote is the best part left.  A query that
carries the footer and, before it, the last words of a banked text ("God bless America") is not a quote
of it.  A bank too small to know its boilerplate relies on the background alone.

Candidates are the items whose shared fingerprints include one held by at most ``common_df`` families
(the long-text rule's weights; boilerplate of a large bank is no candidate), not already matched as text.
At most ``max_candidates`` are verified per query, those whose shared k-grams carry the most information
first.

>>> from copytrace import Index
>>> index = Index()
>>> _ = index.add("speech", "Our enemies should know this: we don't sleep for one night unless we think of "
...     "eliminating them, and the people are with us in this struggle until the end of time.")
>>> found = index.match("A post said that we don't sleep for one night unless we think of eliminating. Ok.")
>>> [(m.item_id, m.kind, m.quote.tokens) for m in found]
[('speech', 'quote', 12)]
>>> index.match("At the end of the day we will see.")
[]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..fingerprints.fingerprint import Fingerprint
from ..text.background import Background, background
from ..text.normalize import Tokens
from .evidence import _shared_run
from .match import QuoteParams, Span

PER_GROUP = 2
"""Versions of one copy family verified per query, at most."""
MAX_RUN = 1024
"""Tokens a run is grown by on either side of its anchor: a quote is short, and the work on a repetitive
text stays bounded (a longer shared run is the long-text rule's to report)."""


@dataclass(frozen=True)
class QuoteRun:
    """A shared run: tokens ``[query_start, query_end)`` of the query and ``[item_start, item_end)`` of the
    item (``None`` for a fingerprint-only item), and the bits its words carry."""

    query_start: int
    query_end: int
    item_start: int | None
    item_end: int | None
    bits: float

    @property
    def tokens(self) -> int:
        return self.query_end - self.query_start


def model(params: QuoteParams) -> Background:
    """The background model ``params`` name."""
    return background(params.language, params.reference)


def _information(bg: Background, hashes: np.ndarray, a: int, b: int, content: np.ndarray | None) -> float:
    """``bg.information(hashes[a:b])``.  With ``content``, ``bg.content(hashes)`` of the whole query made
    once, and no reference (a token's content is then its word's alone, wherever it stands), it is read
    from there instead of looked up again for every run: the same values summed in the same order (all
    of them, or one per distinct token in the order of their hashes), so the same bits."""
    if content is None or bg.reference is not None:
        return bg.information(hashes[a:b])
    run, carried = hashes[a:b], content[a:b]
    ordered = np.sort(run)
    if len(run) < 2 or bool((ordered[1:] != ordered[:-1]).all()):
        return float(carried.sum())
    _, first = np.unique(run, return_index=True)
    return float(carried[first].sum())


def text_run(
    chains: Sequence[Sequence[int]],
    k: int,
    query: Tokens,
    item: Tokens,
    bg: Background,
    min_tokens: int = 0,
    content: np.ndarray | None = None,
) -> QuoteRun | None:
    """The most informative exact shared run through an anchor of ``chains`` (``[result, first query
    token, last query token, first item token, last item token, anchors]``, k-gram starts) of at least
    ``min_tokens`` tokens; ``content``: ``bg.content`` of the query's tokens, where already made."""
    qh, ih = query.hashes, item.hashes
    best: QuoteRun | None = None
    seen: set[tuple[int, int]] = set()
    for _, q0, q1, i0, i1, _hits in chains:
        for qa, ia in ((q0, i0), (q1, i1)):
            if qa + k > len(qh) or ia + k > len(ih) or not np.array_equal(qh[qa : qa + k], ih[ia : ia + k]):
                continue  # a hash collision, or a keyed hash of other tokens: no run here
            back = _shared_run(qh[max(0, qa - MAX_RUN) : qa][::-1], ih[max(0, ia - MAX_RUN) : ia][::-1])
            ahead = _shared_run(qh[qa + k : qa + k + MAX_RUN], ih[ia + k : ia + k + MAX_RUN])
            start, item_start = qa - back, ia - back
            if (start, item_start) in seen:
                continue
            seen.add((start, item_start))
            end = qa + k + ahead
            if end - start < min_tokens:
                continue  # most candidates: a few words in common by chance, measured no further
            run = QuoteRun(start, end, item_start, ia + k + ahead, _information(bg, qh, start, end, content))
            if best is None or (run.bits, run.tokens) > (best.bits, best.tokens):
                best = run
    return best


def fingerprint_run(
    chains: Sequence[Sequence[int]],
    k: int,
    fp: Fingerprint,
    bg: Background,
    min_tokens: int = 0,
    content: np.ndarray | None = None,
) -> QuoteRun | None:
    """The most informative run of at least ``min_tokens`` tokens that the chains of a fingerprint-only
    item prove shared (see the module's docstring); the query must carry its tokens.  ``content``:
    ``bg.content`` of the query's tokens, where already made."""
    if fp.tokens is None:
        return None
    pos = fp.positions
    best: QuoteRun | None = None
    for _, q0, q1, i0, i1, hits in chains:
        if q1 - q0 != i1 - i0 or q1 + k - q0 < min_tokens:
            continue  # not one diagonal: an insertion or deletion between, the run is broken
        lo, hi = np.searchsorted(pos, q0), np.searchsorted(pos, q1, side="right")
        if hi - lo != hits or (hi - lo > 1 and int(np.diff(pos[lo:hi]).max()) > k):
            continue  # a query fingerprint between is not shared, or tokens between are unchecked
        run = QuoteRun(q0, q1 + k, None, None, _information(bg, fp.tokens.hashes, q0, q1 + k, content))
        if best is None or (run.bits, run.tokens) > (best.bits, best.tokens):
            best = run
    return best


def candidates(
    items: np.ndarray,
    chains: np.ndarray,
    k: int,
    fp: Fingerprint,
    bg: Background,
    limit: int,
    groups: np.ndarray | None = None,
    content: np.ndarray | None = None,
) -> list[tuple[int, list[list[int]]]]:
    """Up to ``limit`` results ``(result index, its chains)`` of a candidate pass, most informative shared
    k-grams first (ties: in result order); at most ``PER_GROUP`` of one group (``groups[r]``: the copy
    family of result ``r``), so that the versions of one text do not take every place.  ``content``:
    ``bg.content`` of the query's tokens, where already made."""
    if fp.tokens is None or not len(items):
        return []
    if content is None:
        content = bg.content(fp.tokens.hashes)
    total = np.concatenate(([0.0], np.cumsum(content)))
    by_result: dict[int, list[list[int]]] = {}
    for chain in chains.tolist():
        by_result.setdefault(chain[0], []).append(chain)
    scored = []
    for r, mine in by_result.items():
        bits = max(total[min(len(total) - 1, c[2] + k)] - total[c[1]] for c in mine)
        scored.append((-bits, r, mine))
    scored.sort(key=lambda s: (s[0], s[1]))
    if groups is None:
        return [(r, mine) for _, r, mine in scored[:limit]]
    out: list[tuple[int, list[list[int]]]] = []
    per_group: dict[int, int] = {}
    for _, r, mine in scored:
        g = int(groups[r])
        if per_group.get(g, 0) < PER_GROUP:
            per_group[g] = per_group.get(g, 0) + 1
            out.append((r, mine))
            if len(out) == limit:
                break
    return out


def without_boilerplate(
    run: QuoteRun,
    k: int,
    fp: Fingerprint,
    common: Callable[[np.ndarray], np.ndarray],
    bg: Background,
    content: np.ndarray | None = None,
) -> QuoteRun:
    """The most informative part of ``run`` that no common query fingerprint covers: ``common(hashes)``
    says which of the query fingerprints within the run the bank holds as boilerplate.  Winnowing keeps
    one k-gram of every ``window``, so a common passage may start up to ``window - 1`` tokens before its
    first kept k-gram: each covers ``[p - (window - 1), p + k + window - 1)`` (the guarantee either side,
    as the long-text rule's ``near``).  ``content``: ``bg.content`` of the query's tokens, where already
    made."""
    assert fp.tokens is not None
    pos = fp.positions
    lo = int(np.searchsorted(pos, run.query_start))
    hi = int(np.searchsorted(pos, run.query_end - k, side="right"))
    if hi <= lo:
        return run
    distinct, inverse = np.unique(fp.hashes[lo:hi], return_inverse=True)
    is_common = common(distinct)[inverse]
    if not is_common.any():
        return run
    reach = fp.params.window - 1
    at = pos[lo:hi][is_common] - run.query_start
    edge = np.zeros(run.tokens + 1, dtype=np.int64)
    np.add.at(edge, np.clip(at - reach, 0, run.tokens), 1)
    np.add.at(edge, np.clip(at + k + reach, 0, run.tokens), -1)
    covered = np.cumsum(edge[:-1]) > 0
    best = QuoteRun(run.query_start, run.query_start, None, None, 0.0)
    edges = np.flatnonzero(np.diff(np.concatenate(([1], covered.astype(np.int8), [1]))))
    for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):  # the uncovered stretches
        qa, qb = run.query_start + a, run.query_start + b
        item_start = None if run.item_start is None else run.item_start + a
        item_end = None if item_start is None else item_start + (qb - qa)
        part = QuoteRun(qa, qb, item_start, item_end, _information(bg, fp.tokens.hashes, qa, qb, content))
        if (part.bits, part.tokens) > (best.bits, best.tokens):
            best = part
    return best


def verify(
    mine: Sequence[Sequence[int]],
    k: int,
    fp: Fingerprint,
    item_tokens: Tokens | None,
    params: QuoteParams,
    bg: Background,
    common: Callable[[np.ndarray], np.ndarray] | None = None,
    content: np.ndarray | None = None,
) -> QuoteRun | None:
    """The quote of one candidate item, or None: its best run (less the bank's boilerplate, where
    ``common`` says which fingerprints are), when long and informative enough.  ``content``: ``bg.content``
    of the query's tokens, where already made (``find`` makes it once for all its candidates)."""
    if fp.tokens is None:
        return None
    if item_tokens is None:
        run = fingerprint_run(mine, k, fp, bg, params.min_tokens, content)
    else:
        run = text_run(mine, k, fp.tokens, item_tokens, bg, params.min_tokens, content)
    if run is not None and common is not None:
        run = without_boilerplate(run, k, fp, common, bg, content)
    if run is None or run.tokens < params.min_tokens or run.bits + 1e-9 < params.min_bits:
        return None
    return run


def find(
    items: np.ndarray,
    chains: np.ndarray,
    fp: Fingerprint,
    *,
    k: int,
    params: QuoteParams,
    item_tokens: Callable[[int], Tokens | None],
    common: Callable[[np.ndarray], np.ndarray] | None = None,
    groups: np.ndarray | None = None,
) -> list[tuple[int, QuoteRun, Span]]:
    """The quotes among the results ``items`` (item numbers) of a candidate pass with ``chains``:
    ``(item number, run, its span in characters)`` of each verified candidate.  ``item_tokens(item)`` is
    the item's tokens, or None for a fingerprint-only item; ``common(hashes)`` which query fingerprints
    the bank holds as boilerplate.  With ``groups`` (the copy family of each result), one quote a group,
    its most informative candidate's that verifies."""
    if fp.tokens is None or not len(chains):
        return []  # no candidate: the background model is not even loaded
    bg = model(params)
    content = bg.content(fp.tokens.hashes)  # once for the query: every candidate's runs read it
    out = []
    done: set[int] = set()
    for r, mine in candidates(items, chains, k, fp, bg, params.max_candidates, groups, content):
        if groups is not None and int(groups[r]) in done:
            continue
        idx = int(items[r])
        tokens = item_tokens(idx)
        run = verify(mine, k, fp, tokens, params, bg, common, content)
        if run is None:
            continue
        if groups is not None:
            done.add(int(groups[r]))
        q_start, q_end = int(fp.tokens.starts[run.query_start]), int(fp.tokens.ends[run.query_end - 1])
        if tokens is None or run.item_start is None or run.item_end is None:
            out.append((idx, run, Span(q_start, q_end)))
            continue
        i_start, i_end = int(tokens.starts[run.item_start]), int(tokens.ends[run.item_end - 1])
        out.append((idx, run, Span(q_start, q_end, i_start, i_end)))
    return out
