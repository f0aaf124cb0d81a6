"""The Python side of a search: runs the compiled kernels (``_matching``), turns their results into matches.

A query weighs each held hash by how many copy families hold it, chains the shared fingerprints of each
item in order (``_matching.chain_anchors``) and reports the items with enough evidence (``MatchParams``):
``match_arrays`` does it for many queries in one compiled call.  Then the quote pass (``quotes``) adds the
short runs the long-text rule is too coarse for, and the phrase table (``_phrase_matches``) the phrases.
``versions_of`` asks the same kernel which items of a bank a new item is a version of (``families``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import cast

import numpy as np

from ..errors import ParameterMismatchError
from ..fingerprints.fingerprint import Fingerprint, FingerprintParams, fingerprint
from ..fingerprints.keys import Key
from ..phrases import PhraseFingerprint
from . import _matching, _phrase_matches, _quote_runs, quotes
from ._contents import Contents
from ._postings import MAX_REPEATS
from ._prepare import hashing_key
from .evidence import evidence_spans
from .families import VERSION_CONTAINMENT
from .match import Match, MatchParams, QuoteEvidence, Span

LINK_ANCHORS = 64  # postings of one fingerprint that linking looks at (the earliest items holding it)

QueryFingerprint = Callable[[int], Fingerprint]


class Search:
    """Searches of one index's ``contents`` with its fingerprint ``params``, ``match_params`` and ``key``
    (None: fingerprints only)."""

    def __init__(
        self, contents: Contents, params: FingerprintParams, match_params: MatchParams, key: Key | None
    ) -> None:
        self.contents = contents
        self.params = params
        self.match_params = match_params
        self.key = key

    # -------------------------------------------------------------------------------------- public side
    def match(
        self,
        text: str,
        banks: Iterable[str] | None,
        limit: int | None,
        html: bool | None,
        query: str | None,
        per_family: bool,
    ) -> list[Match]:
        """``Index.match``."""
        contents = self.contents
        found: list[Match] = []
        if (
            not len(contents.phrases) or contents.n_fingerprints
        ):  # a bank of phrases only: no text to look for
            fp = fingerprint(
                text,
                key=hashing_key(self.key, self.params),
                k=self.params.k,
                window=self.params.window,
                html=html,
                allow_short=True,
            )
            found = self.match_fingerprint(fp, banks, limit, query, per_family)
        if not len(contents.phrases):
            return found
        phrases = _phrase_matches.phrase_matches(contents, [text], html, banks, [query])[0]
        return _phrase_matches.merged(found, phrases, limit)

    def match_fingerprint(
        self,
        fp: Fingerprint,
        banks: Iterable[str] | None,
        limit: int | None,
        query: str | None,
        per_family: bool,
    ) -> list[Match]:
        """``Index.match_fingerprint``."""
        if fp.params != self.params:
            raise ParameterMismatchError(self.params, fp.params, what="query")
        if len(fp) == 0 or not self.contents.n_present:
            return []
        starts = np.array([0, len(fp)], dtype=np.int64)
        return self.match_arrays(
            fp.hashes, fp.positions, starts, lambda _: fp, banks, limit, [query], per_family
        )[0]

    def match_many(
        self,
        texts: Sequence[str],
        banks: Iterable[str] | None,
        limit: int | None,
        html: bool | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        """``Index.match_many``."""
        from ..fingerprints.batch import fingerprint_many

        contents = self.contents
        if len(contents.phrases) and not contents.n_fingerprints:  # a bank of phrases only
            phrases = _phrase_matches.phrase_matches(contents, texts, html, banks, queries)
            return [_phrase_matches.merged([], p, limit) for p in phrases]
        batch, tokens = fingerprint_many(
            texts,
            key=hashing_key(self.key, self.params),
            k=self.params.k,
            window=self.params.window,
            html=html,
        )
        offsets = batch.offsets
        bounds = offsets.tolist()
        made: list[Fingerprint | None] = [None] * len(texts)

        def query_fp(i: int) -> Fingerprint:
            # asked up to three times for a query (quote check, matches, quotes): made once
            fp = made[i]
            if fp is None:
                a, b = bounds[i], bounds[i + 1]
                fp = made[i] = Fingerprint(
                    batch.params, batch.hashes[a:b], batch.positions[a:b], int(batch.n_tokens[i]), tokens[i]
                )
            return fp

        found = self.match_arrays(
            batch.hashes, batch.positions, offsets, query_fp, banks, limit, queries, per_family
        )
        if not len(contents.phrases):
            return found
        phrases = _phrase_matches.phrase_matches(contents, texts, html, banks, queries)
        return [_phrase_matches.merged(f, p, limit) for f, p in zip(found, phrases, strict=True)]

    def match_fingerprints(
        self,
        fps: Sequence[Fingerprint | PhraseFingerprint],
        banks: Iterable[str] | None,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        """``Index.match_fingerprints``."""
        if queries is not None and len(queries) != len(fps):
            raise ValueError(f"{len(fps)} queries but {len(queries)} query names")
        if not any(isinstance(fp, PhraseFingerprint) for fp in fps):
            return self._match_text_fingerprints(
                cast(Sequence[Fingerprint], fps), banks, limit, queries, per_family
            )
        names = list(queries) if queries is not None else [None] * len(fps)
        text_at = [i for i, fp in enumerate(fps) if isinstance(fp, Fingerprint)]
        phrase_at = [i for i, fp in enumerate(fps) if isinstance(fp, PhraseFingerprint)]
        out: list[list[Match]] = [[] for _ in fps]
        text_fps = [cast(Fingerprint, fps[i]) for i in text_at]
        for i, found in zip(
            text_at,
            self._match_text_fingerprints(text_fps, banks, limit, [names[i] for i in text_at], per_family),
            strict=True,
        ):
            out[i] = found
        for i, found in zip(
            phrase_at,
            _phrase_matches.fingerprint_matches(
                self.contents,
                [cast(PhraseFingerprint, fps[i]) for i in phrase_at],
                banks,
                limit,
                [names[i] for i in phrase_at],
            ),
            strict=True,
        ):
            out[i] = found
        return out

    def versions_of(self, fp: Fingerprint, bank: str, limit: int, added_before: str | None) -> list[str]:
        """``Index.versions_of``."""
        if fp.params != self.params:
            raise ParameterMismatchError(self.params, fp.params, what="item")
        names = self.contents.names
        if len(fp) == 0 or not self.contents.n_present:
            return []
        before = None if added_before is None else names.number(bank, added_before)
        # Versions are looked for among the earliest holders of each fingerprint only: a family of 10,000
        # versions links its next one after chaining 64 of them, not 10,000.
        items, qc, ic, _ = self.results(fp, (bank,), before=before, max_anchors=LINK_ANCHORS)
        if len(items) == 0:
            return []
        both = np.minimum(qc, ic)
        ok = np.flatnonzero(both >= VERSION_CONTAINMENT)
        ok = ok[np.lexsort((items[ok], -both[ok]))][:limit]
        return [names[i][1] for i in items[ok].tolist()]

    # ------------------------------------------------------------------------------------ kernel calls
    def results(
        self,
        fp: Fingerprint,
        banks: Iterable[str] | None,
        *,
        before: int | None = None,
        max_anchors: int = -1,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every item (numbered below ``before``) with evidence in ``fp``: item numbers, query and item
        containments, kept chains."""
        r_item, r_qm, r_im, _r_ev, segs = _matching.match_query(
            self.contents.kernel_index(banks, before),
            fp.hashes,
            fp.positions,
            self._kernel_params(max_anchors),
        )
        if not len(r_item):
            return r_item, r_item, r_item, segs
        return r_item, r_qm / len(fp), r_im / np.maximum(1, self.contents.nfp[r_item]), segs

    def _kernel_params(self, max_anchors: int, *, quotes: bool = False) -> tuple[object, ...]:
        """The matching parameters of a kernel call; ``quotes``: of the pass that finds quote candidates
        (every chain with a shared fingerprint of weight 1, ``quotes``)."""
        mp = self.match_params
        g = self.params.guarantee
        return (
            float(mp.common_df),
            mp.max_postings,
            MAX_REPEATS,
            max_anchors,
            mp.gap_for(g),
            mp.skew_for(g),
            1.0 if quotes else mp.min_evidence,
            0 if quotes else mp.min_tokens_for(g) - self.params.k,
            g,
        )

    def _match_text_fingerprints(
        self,
        fps: Sequence[Fingerprint],
        banks: Iterable[str] | None,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        for fp in fps:
            if fp.params != self.params:
                raise ParameterMismatchError(self.params, fp.params, what="query")
        lengths = np.fromiter((len(fp) for fp in fps), dtype=np.int64, count=len(fps))
        starts = np.zeros(len(fps) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        hashes = np.concatenate([fp.hashes for fp in fps]) if fps else np.zeros(0, np.uint64)
        positions = np.concatenate([fp.positions for fp in fps]) if fps else np.zeros(0, np.int64)
        return self.match_arrays(
            hashes, positions, starts, fps.__getitem__, banks, limit, queries, per_family
        )

    def match_arrays(
        self,
        hashes: np.ndarray,
        positions: np.ndarray,
        starts: np.ndarray,
        query_fp: QueryFingerprint,
        banks: Iterable[str] | None,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> list[list[Match]]:
        """Matches of many queries given as flat arrays (query ``i`` is ``[starts[i], starts[i + 1])``);
        ``query_fp(i)`` is asked only for the queries that match something."""
        n = len(starts) - 1
        if queries is not None and len(queries) != n:
            raise ValueError(f"{n} queries but {len(queries)} query names")
        out: list[list[Match]] = [[] for _ in range(n)]
        if n == 0 or not self.contents.n_present or starts[-1] == 0:
            return out
        (r_query, r_item, r_qm, r_im, _ev, segs), wide = self._kernel_passes(hashes, positions, starts, banks)
        strict = (r_query, r_item)  # each query's long-text results, in query order
        # The quote pass's first check runs before the spans, so that the texts of both, the candidates'
        # and the matched items', are read in one go (``_quote_runs.long_enough``'s ``also``).
        spans_of = np.unique(r_item) if len(r_query) else r_item
        quote_chains, read = self._quote_chains(query_fp, strict, per_family, wide, spans_of)
        if len(r_query) == 0:  # most queries of a moderation stream
            return self._with_quotes(
                query_fp, banks, out, strict, limit, queries, per_family, wide, quote_chains
            )
        if not read:
            self.contents.prefetch(spans_of)  # the texts of their spans, read in one go
        qc = r_qm / np.maximum(1, np.diff(starts))[r_query]
        ic = r_im / np.maximum(1, self.contents.nfp[r_item])
        self._matches(out, query_fp, r_query, r_item, qc, ic, segs, limit, queries, per_family)
        return self._with_quotes(query_fp, banks, out, strict, limit, queries, per_family, wide, quote_chains)

    def _kernel_passes(
        self, hashes: np.ndarray, positions: np.ndarray, starts: np.ndarray, banks: Iterable[str] | None
    ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...] | None]:
        """The kernel's results for a batch (``_matching.match_batch``): the long-text rule's, and the quote
        pass's (every chain with a shared fingerprint of weight 1), or None where no quote pass runs.

        The two keep different chains of the same anchors, so each query's postings are looked up once
        and its anchors chained twice (``match_batch_both``).  The quote pass keeps every chain the
        long-text rule keeps (evidence at least 1 over at least 0 tokens, ``_strict_within_wide``), so a
        query without a quote candidate is not chained a second time: in a stream most share nothing."""
        index = self.contents.kernel_index(banks, None)
        strict_params = self._kernel_params(-1)
        if not self._runs_quote_pass():
            return tuple(_matching.match_batch(index, hashes, positions, starts, strict_params)), None
        wide_params = self._kernel_params(-1, quotes=True)
        if not self._strict_within_wide():
            strict = _matching.match_batch(index, hashes, positions, starts, strict_params)
            return tuple(strict), tuple(_matching.match_batch(index, hashes, positions, starts, wide_params))
        strict, wide = _matching.match_batch_both(
            index, hashes, positions, starts, strict_params, wide_params
        )
        return tuple(strict), tuple(wide)

    def _runs_quote_pass(self) -> bool:
        """Whether the quote pass runs: quotes on, and item texts to verify them on (or a ``min_tokens``
        below the chain rule's, which fingerprints alone can prove: docs/matching.md#quotes)."""
        qp = self.match_params.quotes
        contents = self.contents
        if qp is None:
            return False
        return (
            bool(contents.texts) or contents.text_lookup is not None or qp.min_tokens < self._chain_tokens()
        )

    # --------------------------------------------------------------------------------- kernel results
    def _matches(
        self,
        out: list[list[Match]],
        query_fp: QueryFingerprint,
        r_query: np.ndarray,
        r_item: np.ndarray,
        qc: np.ndarray,
        ic: np.ndarray,
        segs: np.ndarray,
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
    ) -> None:
        """The reported matches of every query of a batch from the kernel's results (query, item and
        containments of each result, in query order; ``segs``: the kept chains, by result), into ``out``.
        The score floor, the phrase items and the best version of each family are picked for the whole
        batch at once; only the ranking of a query's matches and the matches themselves are per query."""
        contents = self.contents
        names, families = contents.names, contents.families
        score = np.maximum(qc, ic)
        ok = score >= self.match_params.min_score
        if len(contents.phrases):  # an item kept as a phrase is reported as a phrase only
            ok &= ~contents.phrase_items()[r_item]
        found = np.flatnonzero(ok)
        if per_family and len(found) > 1:  # the best version of each family: by score, then earliest added
            family, of = families.labels[r_item[found]], r_query[found]
            order = np.lexsort((r_item[found], -score[found], family, of))
            first = np.ones(len(order), dtype=bool)
            first[1:] = (family[order[1:]] != family[order[:-1]]) | (of[order[1:]] != of[order[:-1]])
            found = np.sort(found[order[first]])
        if not len(found):
            return
        # chains come per result, in order: those of result r are rows [at[r], at[r + 1])
        at = np.searchsorted(segs[:, 0], np.arange(len(r_item) + 1)).tolist()
        f_query = r_query[found]
        cuts = np.flatnonzero(np.diff(f_query)) + 1
        items, scores, qcs, ics = r_item.tolist(), score.tolist(), qc.tolist(), ic.tolist()
        for group in np.split(found, cuts.tolist()):
            ranked = group.tolist()
            i = int(r_query[ranked[0]])
            if len(ranked) > 1:
                ranked.sort(key=lambda r: (-scores[r], *names[items[r]]))
            if limit is not None:
                ranked = ranked[:limit]
            fp = query_fp(i)
            query = None if queries is None else queries[i]
            matches = []
            for r in ranked:
                idx = items[r]
                bank, item_id = names[idx]
                earliest = families.family_of(idx)
                matches.append(
                    Match(
                        bank,
                        item_id,
                        scores[r],
                        qcs[r],
                        ics[r],
                        self._spans(idx, fp, segs[at[r] : at[r + 1]]),
                        query,
                        family=item_id if earliest == idx else names[earliest][1],
                        family_size=families.size(idx),
                    )
                )
            out[i] = matches

    def _spans(self, idx: int, fp: Fingerprint, chains: np.ndarray) -> tuple[Span, ...]:
        """The evidence spans of item ``idx``'s chains (``evidence``): query offsets only without its text."""
        if fp.tokens is None or not len(chains):
            return ()
        # The item's tokens as the quote pass keeps them (a stream reports the same items again and
        # again); None without its text, or with a text not of this fingerprint: query offsets only.
        item_tokens = self.contents.item_tokens(idx)
        return evidence_spans(chains, self.params.k, fp.tokens, item_tokens)

    # ------------------------------------------------------------------------------------------ quotes
    def _quote_chains(
        self,
        query_fp: QueryFingerprint,
        strict: tuple[np.ndarray, np.ndarray],
        per_family: bool,
        wide: tuple[np.ndarray, ...] | None,
        also: np.ndarray,
    ) -> tuple[np.ndarray | None, bool]:
        """The quote candidate chains worth verifying (``_worth_verifying``) of the quote pass's kernel
        results ``wide`` (None: no quote pass, or none), and whether the texts of items ``also`` were read
        with the candidates' (the batch's one read of the text lookup)."""
        if self.match_params.quotes is None or wide is None:
            return None, False
        r_query, r_item, _, _, _, segs = wide
        if not len(segs):
            return None, False
        keep, read = self._worth_verifying(r_query, r_item, segs, query_fp, strict, per_family, also)
        segs = segs[keep]
        return (segs if len(segs) else None), read

    def _with_quotes(
        self,
        query_fp: QueryFingerprint,
        banks: Iterable[str] | None,
        out: list[list[Match]],
        strict: tuple[np.ndarray, np.ndarray],
        limit: int | None,
        queries: Sequence[str | None] | None,
        per_family: bool,
        wide: tuple[np.ndarray, ...] | None,
        segs: np.ndarray | None,
    ) -> list[list[Match]]:
        """``out`` with the quotes (``quotes``) of each query added: items not among its long-text results
        (``strict``: the query and item of each, in query order), best first, at most ``limit``.
        ``wide``: the quote pass's kernel results (``_kernel_passes``; None: no quote pass); ``segs``: its
        chains worth verifying (``_quote_chains``; None: none)."""
        qp = self.match_params.quotes
        contents = self.contents
        if qp is None or wide is None or segs is None:
            return out
        r_query, r_item = wide[0], wide[1]
        n = len(out) + 1
        bounds = np.searchsorted(r_query, np.arange(n))
        s_bounds = np.searchsorted(r_query[segs[:, 0]], np.arange(n))
        h_bounds = np.searchsorted(strict[0], np.arange(n)).tolist()
        index = contents.kernel_index(banks, None)
        names, families, ntok = contents.names, contents.families, contents.ntok

        def common(held: np.ndarray) -> np.ndarray:
            return self._family_counts(held, index) > self.match_params.common_df

        for i in np.flatnonzero(np.diff(s_bounds)).tolist():
            fp = query_fp(i)
            a, b = int(bounds[i]), int(bounds[i + 1])
            held = strict[1][h_bounds[i] : h_bounds[i + 1]]
            taken = set(families.labels[held].tolist() if per_family else held.tolist())
            items = r_item[a:b]
            labels = families.labels[items]
            mine = segs[s_bounds[i] : s_bounds[i + 1]].copy()
            mine[:, 0] -= a
            added = []
            found = quotes.find(
                items,
                mine,
                fp,
                k=self.params.k,
                params=qp,
                item_tokens=contents.item_tokens,
                common=common,
                groups=labels if per_family else None,
            )
            for idx, run, span in found:
                family = int(families.labels[idx]) if per_family else idx
                score = run.tokens / max(1, min(fp.n_tokens, int(ntok[idx])))
                if family in taken or score < self.match_params.min_score:
                    continue
                taken.add(family)
                bank, item_id = names[idx]
                earliest = families.family_of(idx)
                added.append(
                    Match(
                        bank,
                        item_id,
                        score,
                        run.tokens / max(1, fp.n_tokens),
                        run.tokens / max(1, int(ntok[idx])),
                        (span,),
                        None if queries is None else queries[i],
                        family=item_id if earliest == idx else names[earliest][1],
                        family_size=families.size(idx),
                        kind="quote",
                        quote=QuoteEvidence(run.tokens, run.bits),
                    )
                )
            if added:
                ranked = sorted(out[i] + added, key=lambda m: (-m.score, m.bank, m.item_id))
                out[i] = ranked if limit is None else ranked[:limit]
        return out

    def _strict_within_wide(self) -> bool:
        """Whether every chain the long-text rule keeps is one the quote pass's kernel keeps too: its
        evidence at least 1 and its span at least 0 (true unless the parameters ask for less)."""
        mp = self.match_params
        return mp.min_evidence >= 1.0 and mp.min_tokens_for(self.params.guarantee) >= self.params.k

    def _worth_verifying(
        self,
        r_query: np.ndarray,
        r_item: np.ndarray,
        segs: np.ndarray,
        query_fp: QueryFingerprint,
        strict: tuple[np.ndarray, np.ndarray],
        per_family: bool,
        also: np.ndarray,
    ) -> tuple[np.ndarray, bool]:
        """Which quote candidate chains ``segs`` (``[result, first query token, last query token, first
        item token, last item token, anchors]``) are worth verifying, for all queries at once: not of an
        item (or, ``per_family``, a family) among the query's long-text results ``strict``, nor of a
        phrase item, and, where the item's text is known, with a shared run through an end anchor of at
        least ``QuoteParams.min_tokens`` tokens (``_quote_runs``, compiled).  A chain of an item without
        its text stays: its run is proved from fingerprints alone (``quotes.fingerprint_run``).  Also
        whether the texts of items ``also`` were read with the candidates' (``_quote_runs.long_enough``)."""
        contents = self.contents
        qp = self.match_params.quotes
        assert qp is not None
        c_query, c_item = r_query[segs[:, 0]], r_item[segs[:, 0]]
        keep = np.ones(len(segs), dtype=bool)
        if len(contents.phrases):
            keep &= ~contents.phrase_items()[c_item]
        labels = contents.families.labels
        s_query, s_item = strict
        if len(s_item):
            mine = labels[c_item] if per_family else c_item
            held = labels[s_item] if per_family else s_item
            width = np.int64(max(int(mine.max(initial=0)), int(held.max(initial=0))) + 1)
            keep &= ~np.isin(c_query.astype(np.int64) * width + mine, s_query.astype(np.int64) * width + held)
        todo = np.flatnonzero(keep)
        if not len(todo):
            return keep, False
        slots, query_slot = np.unique(c_query[todo], return_inverse=True)
        query_hashes = []
        for i in slots.tolist():
            tokens = query_fp(i).tokens
            query_hashes.append(np.zeros(0, dtype=np.uint64) if tokens is None else tokens.hashes)
        keep[todo] = _quote_runs.long_enough(
            contents,
            query_slot,
            c_item[todo],
            segs[todo, 1:5],
            query_hashes,
            self.params.k,
            qp.min_tokens,
            quotes.MAX_RUN,
            also.tolist(),
        )
        return keep, True

    def _chain_tokens(self) -> int:
        """The chain rule's minimum run of query tokens (``MatchParams.min_tokens``)."""
        return self.match_params.min_tokens_for(self.params.guarantee)

    def _family_counts(self, hashes: np.ndarray, index: tuple[object, ...]) -> np.ndarray:
        """How many copy families among the items a search with the kernel side ``index``
        (``Contents.kernel_index``) looks at hold each of ``hashes``: one compiled call
        (``_matching.family_counts``)."""
        return cast(np.ndarray, _matching.family_counts(index, np.ascontiguousarray(hashes, dtype=np.uint64)))
