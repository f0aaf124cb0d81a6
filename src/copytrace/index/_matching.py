"""Compiled inner loops of a query: posting lookup, document frequencies, anchors and their chaining.

One call of ``match_query`` answers one query against the index's postings; document frequencies count
copy families (``copytrace.index.families``), not items.  The contract is stated by
``Index.match`` and ``MatchParams`` and checked against a brute-force reference (``tests/reference.py``).
"""

from __future__ import annotations

import numpy as np

from ..jit import njit
from ._delta import lookup_runs
from ._postings import MIX as _MIX


@njit(cache=True, nogil=True)
def lookup(bits, offsets, tags, query_hashes):  # type: ignore[no-untyped-def]
    """For each query hash, the range ``[lo, hi)`` of its postings in a bucketed level
    (``copytrace.index._postings``): its mixed hash's bucket, and in it the run of its tag."""
    m = query_hashes.shape[0]
    query_x = query_hashes * _MIX  # wraps, as _postings.mix
    lo = np.empty(m, dtype=np.int64)
    hi = np.empty(m, dtype=np.int64)
    shift = np.uint64(64 - bits)
    for j in range(m):  # first every bucket's bounds: independent loads, which the processor overlaps
        bucket = np.int64(query_x[j] >> shift)
        lo[j] = offsets[bucket]
        hi[j] = offsets[bucket + 1]
    first_tag = np.zeros(m, dtype=np.uint32)
    for j in range(m):  # then the first tag of every bucket, loaded for all before any bucket is scanned
        if lo[j] < hi[j]:
            first_tag[j] = tags[lo[j]]
    for j in range(m):
        t = np.uint32(query_x[j] & np.uint64(0xFFFFFFFF))
        a = lo[j]
        e = hi[j]
        if e - a <= 16:  # a bucket holds about 16: one or two cache lines of tags
            if a < e and first_tag[j] < t:
                a += 1
                while a < e and tags[a] < t:
                    a += 1
        else:
            c = e
            while a < c:
                mid = (a + c) >> 1
                if tags[mid] < t:
                    a = mid + 1
                else:
                    c = mid
        lo[j] = a
        b = a
        while b < e and b - a < 8 and tags[b] == t:  # most hashes have a posting or two
            b += 1
        if b - a == 8:  # held many times: the upper bound by binary search, so it costs no long scan
            c = e
            while b < c:
                mid = (b + c) >> 1
                if tags[mid] <= t:
                    b = mid + 1
                else:
                    c = mid
        hi[j] = b
    return lo, hi


@njit(cache=True, nogil=True)
def first_repeats(hashes, max_repeats):  # type: ignore[no-untyped-def]
    """Mask of the fingerprints that are among the first ``max_repeats`` occurrences of their hash.

    A text that repeats one phrase (or one word, or one character) thousands of times would otherwise
    pair every occurrence in the query with every occurrence in an item: quadratic work for no evidence,
    since a hash counts once in a chain anyway.
    """
    m = hashes.shape[0]
    keep = np.ones(m, dtype=np.bool_)
    if m <= max_repeats:
        return keep
    order = np.argsort(hashes, kind="mergesort")  # stable: occurrences of a hash stay in text order
    run = 0
    for t in range(m):
        if t > 0 and hashes[order[t]] == hashes[order[t - 1]]:
            run += 1
        else:
            run = 0
        if run >= max_repeats:
            keep[order[t]] = False
    return keep


@njit(cache=True, nogil=True)
def first_repeats_many(hashes, offsets, max_repeats):  # type: ignore[no-untyped-def]
    """``first_repeats`` of many fingerprints: fingerprint ``i`` is ``[offsets[i], offsets[i + 1])``."""
    keep = np.ones(hashes.shape[0], dtype=np.bool_)
    for i in range(offsets.shape[0] - 1):
        a = offsets[i]
        b = offsets[i + 1]
        if b - a > max_repeats:
            keep[a:b] = first_repeats(hashes[a:b], max_repeats)
    return keep


@njit(cache=True, nogil=True, inline="always")
def _weight(df, common_df):  # type: ignore[no-untyped-def]
    if df <= common_df:
        return 1.0
    r = common_df / df
    return r * r


@njit(cache=True, nogil=True, inline="always")
def _visit_level(  # type: ignore[no-untyped-def]
    lo, hi, refs, page_item, allowed, item_end, family, table, stamp, count, p_item, t
):
    """Postings ``[lo, hi)`` of one query hash in one level: the item of each (-1 where not searched) into
    ``p_item`` from ``t``, and, where ``count``, the families not yet in ``table`` for this hash's
    ``stamp`` counted and put there (``_count_family``).  Returns (families counted, next t)."""
    c = 0
    for p in range(lo, hi):
        it = np.int64(page_item[refs[p]])
        if it < item_end and (allowed.shape[0] == 0 or allowed[it]):
            if count:
                c += _count_family(table, stamp, family[it])
            p_item[t] = it
        else:
            p_item[t] = -1
        t += 1
    return c, t


@njit(cache=True, nogil=True, inline="always")
def _gather_level(lo, hi, refs, page_item, allowed, item_end, p_item, t):  # type: ignore[no-untyped-def]
    """The item of each of the postings ``[lo, hi)`` of one query hash in one level into ``p_item`` from
    ``t`` (-1 where not searched).  Returns the next t."""
    for p in range(lo, hi):
        it = np.int64(page_item[refs[p]])
        p_item[t] = it if it < item_end and (allowed.shape[0] == 0 or allowed[it]) else -1
        t += 1
    return t


@njit(cache=True, nogil=True, inline="always")
def _count_family(table, stamp, f):  # type: ignore[no-untyped-def]
    """1 if family ``f`` is not yet in ``table`` for ``stamp`` (then put there), else 0.

    ``table`` is a set of the query's own, open addressing, a power of two at least twice the postings of
    any one hash it counts: an entry is ``stamp << 32 | f``, and one of an earlier stamp is free, so it is
    cleared once a query, not once a hash.  It is a few kilobytes where a table over every family label
    (one slot each, 16 MB at 1,000,000 items) costs a cache miss a posting."""
    mask = table.shape[0] - 1
    key = (np.int64(stamp) << 32) | np.int64(f)
    s = np.int64((np.uint64(f) * _MIX) >> np.uint64(40)) & mask
    while True:
        e = table[s]
        if e == key:
            return 0
        if (e >> 32) != stamp:
            table[s] = key
            return 1
        s = (s + 1) & mask


@njit(cache=True, nogil=True)
def family_counts(index, hashes):  # type: ignore[no-untyped-def]
    """How many copy families among the items ``index`` searches (``query_anchors``'s side: the allowed
    items numbered below ``item_end``) hold each of ``hashes``, every posting counted (no ``common_df`` or
    ``max_postings`` shortcut): the document frequency by which the quote pass tells the bank's
    boilerplate (``Search._family_counts``).  The families are counted in a set of the call's own, as
    ``collect`` counts them (``_count_family``)."""
    main_bits, main_offsets, main_tags, main_refs = index[0], index[1], index[2], index[3]
    run_bits, run_off, delta_offsets, delta_x, delta_refs = index[5], index[6], index[7], index[8], index[9]
    page_item, allowed, item_end, family = index[11], index[13], index[14], index[15]
    m = hashes.shape[0]
    lo1, hi1 = lookup(main_bits, main_offsets, main_tags, hashes)
    lo2, hi2 = lookup_runs(run_bits, run_off, delta_offsets, delta_x, hashes)
    n_runs = lo2.shape[0]
    most = 0
    for j in range(m):
        held = hi1[j] - lo1[j]
        for r in range(n_runs):
            held += hi2[r, j] - lo2[r, j]
        most = max(most, held)
    f_bits = 4
    while (1 << f_bits) < 2 * most:
        f_bits += 1
    table = np.zeros(1 << f_bits, dtype=np.int64)
    p_item = np.empty(most, dtype=np.int64)
    out = np.zeros(m, dtype=np.int64)
    for j in range(m):
        c, t = _visit_level(
            lo1[j], hi1[j], main_refs, page_item, allowed, item_end, family, table, j + 1, True, p_item, 0
        )
        for r in range(n_runs):
            c2, t = _visit_level(
                lo2[r, j],
                hi2[r, j],
                delta_refs,
                page_item,
                allowed,
                item_end,
                family,
                table,
                j + 1,
                True,
                p_item,
                t,
            )
            c += c2
        out[j] = c
    return out


@njit(cache=True, nogil=True, inline="always")
def _emit_level(  # type: ignore[no-untyped-def]
    j, lo, hi, refs, pos, page_no, p_item, p_slot, rank, at, out, t
):
    """The anchors of the postings ``[lo, hi)`` of query hash ``j`` whose item is a candidate (``rank`` of
    its slot at least 0), each put at its item's next place ``at[rank]``.  Returns the next t."""
    a_item, a_q, a_pos = out
    for p in range(lo, hi):
        s = p_slot[t]
        if s >= 0 and rank[s] >= 0:
            u = at[rank[s]]
            at[rank[s]] = u + 1
            a_item[u] = p_item[t]
            a_q[u] = j
            a_pos[u] = (np.int64(page_no[refs[p]]) << 16) + np.int64(pos[p])
        t += 1
    return t


@njit(cache=True, nogil=True)
def collect(  # type: ignore[no-untyped-def]
    lo1,
    hi1,
    refs1,
    pos1,
    lo2,
    hi2,
    refs2,
    pos2,
    page_item,
    page_no,
    allowed,
    item_end,
    family,
    item_nfp,
    first,
    max_postings,
    max_anchors,
    common_df,
    min_evidence,
):
    """The anchors of one query that can be part of a kept chain, in (item, query index, item position)
    order, and each query hash's document frequency, from its postings (main level, then the delta's runs,
    ``lo2``/``hi2`` one row a run, ``copytrace.index._delta``).

    A hash's document frequency is the number of distinct copy families among the allowed items holding
    it: versions of one text are one family (``copytrace.index.families``), so text that many versions
    share is not boilerplate, text that many unrelated items share is.  The families of a hash are counted
    in a small set of the query's own (``_count_family``), and only for a hash with more than ``common_df``
    postings: one with fewer weighs 1 however few families hold it.  A hash with more than
    ``max_postings`` postings is not counted (its df is its postings) and makes no anchors.  A hash makes
    anchors only if it is among the first occurrences of its hash in the query (``first``): at most
    ``max_anchors`` of them (negative: all), with the earliest items, since postings are in item order.

    Most items a query reaches share one common fingerprint with it and no chain of theirs can count
    (``chain_anchors``).  A chain's evidence is at most the sum of its anchors' own weights (an anchor
    takes the largest df near it, and a hash counts once), so an item whose anchors weigh less than
    ``min_evidence`` in all, and which has fewer anchors than fingerprints (not the whole item), is left
    out before its anchors are sorted and chained.  The weights are summed per item in a small hash table
    of the items the query reaches (a sparse accumulator), the kept items' anchors placed by a counting
    sort: the results are those of chaining every anchor."""
    m = lo1.shape[0]
    n_runs = lo2.shape[0]
    df = np.zeros(m, dtype=np.int64)
    held = hi1 - lo1  # each hash's postings, main level and delta
    for r in range(n_runs):
        held += hi2[r] - lo2[r]
    total = 0
    most = 0  # the most postings of one hash whose families are counted
    for j in range(m):
        if held[j] <= max_postings:
            total += held[j]
            if held[j] > common_df:
                most = max(most, held[j])
    p_item = np.empty(total, dtype=np.int64)  # each visited posting's item (-1: not searched)
    p_slot = np.empty(total, dtype=np.int64)  # its item's slot in the table (-1: makes no anchor)
    p_lab = np.empty(total, dtype=np.int64)  # its item's family label, where the hash's are counted
    p_nfp = np.empty(total, dtype=np.int64)  # its item's fingerprints
    t_at = np.empty(m + 1, dtype=np.int64)  # hash j's postings are p_item[t_at[j]:t_at[j + 1]]
    bits = 4
    while (1 << bits) < 2 * total:
        bits += 1
    size = 1 << bits
    shift = np.uint64(64 - bits)
    keys = np.full(size, -1, dtype=np.int64)
    acc_w = np.zeros(size, dtype=np.float64)
    acc_n = np.zeros(size, dtype=np.int64)
    nfp = np.empty(size, dtype=np.int64)  # the item's fingerprints, where keys[s] is an item
    slots = np.empty(total, dtype=np.int64)  # the slots taken, in the order taken
    n_items = 0
    f_bits = 4
    while (1 << f_bits) < 2 * most:
        f_bits += 1
    families = np.zeros(1 << f_bits, dtype=np.int64)  # the families counted (_count_family)
    # The loads that miss the cache (each posting's item, then its item's family label and fingerprint
    # count) are made for every hash of the query first, in loops of their own, independent of one
    # another, so that the processor overlaps them: not one posting at a time behind the branches of the
    # counting and the item table, which depend on what they load.
    t = 0
    for j in range(m):
        t_at[j] = t
        if held[j] > max_postings:
            continue
        t = _gather_level(lo1[j], hi1[j], refs1, page_item, allowed, item_end, p_item, t)
        for r in range(n_runs):  # the delta's runs, oldest first: pages stay in order
            t = _gather_level(lo2[r, j], hi2[r, j], refs2, page_item, allowed, item_end, p_item, t)
    t_at[m] = t
    for u in range(t):
        p_nfp[u] = item_nfp[max(p_item[u], 0)]
    for j in range(m):
        if common_df < held[j] <= max_postings:
            for u in range(t_at[j], t_at[j + 1]):
                p_lab[u] = family[max(p_item[u], 0)]
    for j in range(m):
        if held[j] > max_postings:
            df[j] = held[j]
            continue
        t0 = t_at[j]
        t1 = t_at[j + 1]
        # A hash with at most common_df postings weighs 1 whatever its families: they are not counted,
        # its df is its postings searched (the weights, all the kernels read of a df, are the same).
        c = 0
        if held[j] > common_df:
            for u in range(t0, t1):
                if p_item[u] >= 0:
                    c += _count_family(families, j + 1, p_lab[u])
        else:
            for u in range(t0, t1):
                c += p_item[u] >= 0
        df[j] = c
        w = _weight(c, common_df)
        budget = max_anchors if first[j] else 0
        for u in range(t0, t1):
            it = p_item[u]
            if it < 0 or budget == 0:
                p_slot[u] = -1
                continue
            budget -= 1
            s = np.int64((np.uint64(it) * _MIX) >> shift)
            while keys[s] != it and keys[s] != -1:
                s = (s + 1) & (size - 1)
            if keys[s] == -1:  # the item's first anchor (its fingerprint count gathered above)
                keys[s] = it
                nfp[s] = p_nfp[u]
                slots[n_items] = s
                n_items += 1
            acc_w[s] += w
            acc_n[s] += 1
            p_slot[u] = s
    kept = np.empty(n_items, dtype=np.int64)
    n_keep = 0
    for q in range(n_items):
        v = slots[q]
        if acc_w[v] + 1e-6 >= min_evidence or acc_n[v] >= nfp[v]:
            kept[n_keep] = v
            n_keep += 1
    if n_keep == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, df
    kept = kept[:n_keep]
    kept = kept[np.argsort(keys[kept])]  # distinct items: any sort
    rank = np.full(size, -1, dtype=np.int64)
    at = np.empty(n_keep, dtype=np.int64)
    n = 0
    for q in range(n_keep):
        rank[kept[q]] = q
        at[q] = n
        n += acc_n[kept[q]]
    a_item = np.empty(n, dtype=np.int64)
    a_q = np.empty(n, dtype=np.int64)
    a_pos = np.empty(n, dtype=np.int64)
    out = (a_item, a_q, a_pos)
    t = 0
    for j in range(m):  # the same walk as above: the kept anchors, each at its item's next place
        if held[j] > max_postings:
            continue
        t = _emit_level(j, lo1[j], hi1[j], refs1, pos1, page_no, p_item, p_slot, rank, at, out, t)
        for r in range(n_runs):
            t = _emit_level(j, lo2[r, j], hi2[r, j], refs2, pos2, page_no, p_item, p_slot, rank, at, out, t)
    return a_item, a_q, a_pos, df


@njit(cache=True, nogil=True, inline="always")
def _order_by_score(score, g0, g1, out):  # type: ignore[no-untyped-def]
    """Indices ``g0..g1-1`` by descending score, ties in index order (a stable sort), into ``out``."""
    k = g1 - g0
    if k > 32:
        out[:k] = np.argsort(-score[g0:g1], kind="mergesort") + g0
        return
    for i in range(k):
        a = g0 + i
        j = i - 1
        while j >= 0 and score[out[j]] < score[a]:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = a


@njit(cache=True, nogil=True, inline="always")
def _order_by_key(keys, k, out):  # type: ignore[no-untyped-def]
    """Indices ``0..k-1`` by ascending ``keys``, ties in index order (a stable sort), into ``out``."""
    if k > 32:
        out[:k] = np.argsort(keys[:k], kind="mergesort")
        return
    for i in range(k):
        j = i - 1
        while j >= 0 and keys[out[j]] > keys[i]:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = i


@njit(cache=True, nogil=True)
def chain_anchors(  # type: ignore[no-untyped-def]
    a_item,
    a_q,
    a_pos,
    a_df,
    q_pos,
    q_hashes,
    item_nfp,
    common_df,
    max_gap,
    max_skew,
    min_evidence,
    min_span,
    near,
):
    """Group anchors per item into co-linear chains and keep the chains that are evidence of a copy.

    Anchors are sorted by (item, query fingerprint index).  Consecutive anchors of a chain advance in both
    texts by at most ``max_gap`` tokens, and the two advances differ by at most ``max_skew`` tokens, so a
    chain is a passage copied in order with light edits.  An anchor weighs 1 when at most ``common_df``
    families hold its hash, else ``(common_df / df)**2``.  For the evidence of a chain, each anchor takes the
    largest df of the chain's anchors within ``near`` query tokens of it: which k-grams winnowing selects at
    the edge of a boilerplate passage depends on the text before it, so those few look rare while the
    passage is common.  Each distinct hash adds its weight once (a phrase repeated in both texts is one piece
    of evidence).  A chain counts when its evidence reaches ``min_evidence`` and its distinctive anchors
    (weight at least 0.5) span at least ``min_span`` query positions, or when it covers every fingerprint of
    the item (every posting, in order) and each of its distinct hashes weighs 1: a short item, or a text
    that repeats one word or phrase, whose fingerprints are one hash or a few, each held at most
    ``MAX_REPEATS`` times (``first_repeats``).  A stock phrase that runs into boilerplate is not a copy.
    Returns per matched item
    (item, distinct query fingerprints matched, distinct item fingerprints matched, evidence) and per kept
    chain (result index, first/last query token, first/last item token, anchor count).
    """
    return chain_anchors_twice(
        a_item,
        a_q,
        a_pos,
        a_df,
        q_pos,
        q_hashes,
        item_nfp,
        common_df,
        max_gap,
        max_skew,
        (min_evidence, min_evidence),
        (min_span, min_span),
        near,
        False,
    )[0]


@njit(cache=True, nogil=True, inline="always")
def _results(r_list, s_list):  # type: ignore[no-untyped-def]
    """``chain_anchors``'s arrays from its lists of results and kept chains."""
    n_res = len(r_list)
    r_item = np.empty(n_res, dtype=np.int64)
    r_qm = np.empty(n_res, dtype=np.int64)
    r_im = np.empty(n_res, dtype=np.int64)
    r_ev = np.empty(n_res, dtype=np.float64)
    for t in range(n_res):
        r_item[t], r_qm[t], r_im[t], r_ev[t] = r_list[t]
    ns = len(s_list)
    segs = np.empty((ns, 6), dtype=np.int64)
    for t in range(ns):
        for c in range(6):
            segs[t, c] = s_list[t][c]
    return r_item, r_qm, r_im, r_ev, segs


@njit(cache=True, nogil=True)
def chain_anchors_twice(  # type: ignore[no-untyped-def]
    a_item,
    a_q,
    a_pos,
    a_df,
    q_pos,
    q_hashes,
    item_nfp,
    common_df,
    max_gap,
    max_skew,
    min_evidence,
    min_span,
    near,
    both,
):
    """``chain_anchors`` under two rules of which chains count, ``(min_evidence[p], min_span[p])`` for
    ``p`` 0 and 1, the anchors chained once: the chains themselves do not depend on those two, only which
    of them are kept.  Returns the two results, each as ``chain_anchors`` returns it (with ``both``
    False, the second is empty and not worked out)."""
    n = a_item.shape[0]
    n_pass = 2 if both else 1
    score = np.empty(n, dtype=np.float64)
    prev = np.empty(n, dtype=np.int64)
    used = np.zeros(n, dtype=np.bool_)
    keep = np.zeros((2, n), dtype=np.bool_)
    chain = np.empty(n, dtype=np.int64)
    cw = np.empty(n, dtype=np.float64)
    ch = np.empty(n, dtype=np.uint64)
    order = np.empty(n, dtype=np.int64)  # scratch for the sorts of a group (no allocation per group)
    by_hash = np.empty(n, dtype=np.int64)
    ipos = np.empty(n, dtype=np.int64)
    r_lists = (
        [(np.int64(0), np.int64(0), np.int64(0), 0.0)][:0],
        [(np.int64(0), np.int64(0), np.int64(0), 0.0)][:0],
    )
    s_lists = (
        [(np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0))][:0],
        [(np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0))][:0],
    )
    qmark = np.full((2, q_pos.shape[0]), -1, dtype=np.int64)
    n_res = np.zeros(2, dtype=np.int64)
    evidence = np.zeros(2, dtype=np.float64)
    n_chains = np.zeros(2, dtype=np.int64)
    g0 = 0
    while g0 < n:
        item = a_item[g0]
        g1 = g0
        while g1 < n and a_item[g1] == item:
            g1 += 1
        if g1 - g0 == 1:  # one shared fingerprint (most items a common hash reaches): the same rules,
            # without the sorting and scratch arrays of a longer group
            w = _weight(a_df[g0], common_df)
            span = 0 if w >= 0.5 else -(np.int64(1) << 62)
            whole = w + 1e-9 >= 1 and item_nfp[item] <= 1
            for p in range(n_pass):
                if (w + 1e-9 >= min_evidence[p] and span >= min_span[p]) or whole:
                    qt = q_pos[a_q[g0]]
                    s_lists[p].append((n_res[p], qt, qt, a_pos[g0], a_pos[g0], np.int64(1)))
                    r_lists[p].append((item, np.int64(1), np.int64(1), w))
                    n_res[p] += 1
            g0 = g1
            continue
        # best chain ending at each anchor
        for a in range(g0, g1):
            qa = q_pos[a_q[a]]
            best = _weight(a_df[a], common_df)
            pb = -1
            for b in range(a - 1, g0 - 1, -1):
                dq = qa - q_pos[a_q[b]]
                if dq > max_gap:
                    break
                if dq <= 0:
                    continue
                di = a_pos[a] - a_pos[b]
                if di <= 0 or di > max_gap or abs(dq - di) > max_skew:
                    continue
                cand = score[b] + _weight(a_df[a], common_df)
                if cand > best:
                    best = cand
                    pb = b
            score[a] = best
            prev[a] = pb
        _order_by_score(score, g0, g1, order)
        evidence[:] = 0.0
        n_chains[:] = 0
        for oi in range(g1 - g0):
            a = order[oi]
            if used[a]:
                continue
            hits = 0
            weight = 0.0
            b = a
            while b >= 0 and not used[b]:
                used[b] = True
                chain[hits] = b
                hits += 1
                b = prev[b]
            lo_q = np.int64(1) << 62
            hi_q = -lo_q
            for t in range(hits):  # chain[] runs from the last query position back to the first
                qt = q_pos[a_q[chain[t]]]
                df = a_df[chain[t]]
                u = t - 1
                while u >= 0 and q_pos[a_q[chain[u]]] - qt <= near:
                    df = max(df, a_df[chain[u]])
                    u -= 1
                u = t + 1
                while u < hits and qt - q_pos[a_q[chain[u]]] <= near:
                    df = max(df, a_df[chain[u]])
                    u += 1
                w = _weight(df, common_df)
                cw[t] = w
                ch[t] = q_hashes[a_q[chain[t]]]
                if w >= 0.5:  # a distinctive anchor: the chain's length is measured on these alone
                    lo_q = min(lo_q, qt)
                    hi_q = max(hi_q, qt)
            # A phrase repeated in both texts is one piece of evidence: each hash counts once, at its best.
            _order_by_key(ch, hits, by_hash)
            best_w = 0.0
            distinct = 0
            for t in range(hits):
                best_w = max(best_w, cw[by_hash[t]])
                if t + 1 == hits or ch[by_hash[t + 1]] != ch[by_hash[t]]:
                    weight += best_w
                    best_w = 0.0
                    distinct += 1
            first = chain[hits - 1]
            # The whole item, in order, each of its distinct fingerprints rare: a short item, or a text that
            # repeats one word or phrase (whose fingerprints are one hash or a few, held at most
            # MAX_REPEATS times).
            whole = hits >= item_nfp[item] and weight + 1e-9 >= distinct
            for p in range(n_pass):
                strong = weight + 1e-9 >= min_evidence[p] and hi_q - lo_q >= min_span[p]
                if strong or whole:
                    for t in range(hits):
                        keep[p, chain[t]] = True
                    s_lists[p].append(
                        (n_res[p], q_pos[a_q[first]], q_pos[a_q[a]], a_pos[first], a_pos[a], np.int64(hits))
                    )
                    evidence[p] += weight
                    n_chains[p] += 1
        for p in range(n_pass):
            if n_chains[p] > 0:
                res = n_res[p]
                qm = 0
                ni = 0
                for a in range(g0, g1):
                    if keep[p, a]:
                        if qmark[p, a_q[a]] != res:
                            qmark[p, a_q[a]] = res
                            qm += 1
                        ipos[ni] = a_pos[a]
                        ni += 1
                ipos[:ni] = np.sort(ipos[:ni])
                im = 0
                for t in range(ni):
                    if t == 0 or ipos[t] != ipos[t - 1]:
                        im += 1
                r_lists[p].append((item, np.int64(qm), np.int64(im), evidence[p]))
                n_res[p] += 1
        g0 = g1
    return _results(r_lists[0], s_lists[0]), _results(r_lists[1], s_lists[1])


@njit(cache=True, nogil=True)
def query_anchors(index, q_hashes, params, min_evidence):  # type: ignore[no-untyped-def]
    """The anchors of one query against the main and delta postings: lookup, weights by document
    frequency, then the anchors in (item, query index, item position) order as ``(a_item, a_q, a_pos,
    a_df)``.  ``index`` is the index's side (``Index._kernel_index``): the main level's bucket bits,
    offsets, tags, refs and positions, the delta's runs (``_delta.Delta.kernel``), the page table, the
    allowed items, ``item_end``, family labels, the counting scratch and each item's fingerprint count;
    ``params`` the matching parameters (``Index._kernel_params``).

    Only items numbered below ``item_end`` are searched (all of them, or those added before one), and each
    query hash makes anchors with at most ``max_anchors`` items (the earliest; negative: all).  Only the
    first ``max_repeats`` occurrences of a hash in the query make anchors (items hold at most as many
    postings of a hash), so the work stays linear in the query however repetitive it is.  The anchors of
    an item that cannot reach ``min_evidence`` (nor be matched whole) are left out (``collect``)."""
    (
        main_bits,
        main_offsets,
        main_tags,
        main_refs,
        main_pos,
        run_bits,
        run_off,
        delta_offsets,
        delta_x,
        delta_refs,
        delta_pos,
        page_item,
        page_no,
        allowed,
        item_end,
        family,
        _seen,  # scratch of an older counting of families, left in the index's side
        item_nfp,
    ) = index
    common_df = params[0]
    max_postings = params[1]
    max_repeats = params[2]
    max_anchors = params[3]
    m = q_hashes.shape[0]
    lo1, hi1 = lookup(main_bits, main_offsets, main_tags, q_hashes)
    lo2, hi2 = lookup_runs(run_bits, run_off, delta_offsets, delta_x, q_hashes)
    count = hi1 - lo1
    for r in range(lo2.shape[0]):
        count += hi2[r] - lo2[r]
    held = np.flatnonzero(count > 0)  # most of a query's hashes are in no item
    if held.shape[0] == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, empty
    first = np.ones(m, dtype=np.bool_)
    if held.shape[0] > max_repeats:  # repeats matter only where there are postings
        first[held] = first_repeats(q_hashes[held], max_repeats)
    a_item, a_q, a_pos, df = collect(
        lo1,
        hi1,
        main_refs,
        main_pos,
        lo2,
        hi2,
        delta_refs,
        delta_pos,
        page_item,
        page_no,
        allowed,
        item_end,
        family,
        item_nfp,
        first,
        max_postings,
        max_anchors,
        common_df,
        min_evidence,
    )
    return a_item, a_q, a_pos, df[a_q]


@njit(cache=True, nogil=True)
def chains_of(anchors, q_hashes, q_pos, item_nfp, params):  # type: ignore[no-untyped-def]
    """``chain_anchors`` of one query's ``anchors`` (``query_anchors``) under ``params``."""
    a_item, a_q, a_pos, a_df = anchors
    common_df, _max_postings, _max_repeats, _max_anchors, max_gap, max_skew, min_evidence, min_span, near = (
        params
    )
    return chain_anchors(
        a_item,
        a_q,
        a_pos,
        a_df,
        q_pos,
        q_hashes,
        item_nfp,
        common_df,
        max_gap,
        max_skew,
        min_evidence,
        min_span,
        near,
    )


@njit(cache=True, nogil=True)
def match_query(index, q_hashes, q_pos, params):  # type: ignore[no-untyped-def]
    """One query: its anchors (``query_anchors``), then the chains that are evidence of a copy
    (``chain_anchors``).  One compiled call per query."""
    return chains_of(query_anchors(index, q_hashes, params, params[6]), q_hashes, q_pos, index[17], params)


@njit(cache=True, nogil=True)
def _assemble(found):  # type: ignore[no-untyped-def]
    """The results of a batch laid end to end (``match_batch``): ``found`` holds, in query order, each
    query with a result as ``(query, r_item, r_qm, r_im, r_ev, segs)``."""
    total = 0
    n_segs = 0
    for t in range(len(found)):
        total += found[t][1].shape[0]
        n_segs += found[t][5].shape[0]
    r_query = np.empty(total, dtype=np.int64)
    r_item = np.empty(total, dtype=np.int64)
    r_qm = np.empty(total, dtype=np.int64)
    r_im = np.empty(total, dtype=np.int64)
    r_ev = np.empty(total, dtype=np.float64)
    segs = np.empty((n_segs, 6), dtype=np.int64)
    at = 0
    s_at = 0
    for t in range(len(found)):
        i, items, qms, ims, evs, s = found[t]
        k = items.shape[0]
        r_query[at : at + k] = i
        r_item[at : at + k] = items
        r_qm[at : at + k] = qms
        r_im[at : at + k] = ims
        r_ev[at : at + k] = evs
        for u in range(s.shape[0]):
            segs[s_at + u, 0] = s[u, 0] + at
            for c in range(1, 6):
                segs[s_at + u, c] = s[u, c]
        s_at += s.shape[0]
        at += k
    return r_query, r_item, r_qm, r_im, r_ev, segs


@njit(cache=True, nogil=True)
def match_batch(index, q_hashes, q_pos, q_starts, params):  # type: ignore[no-untyped-def]
    """``match_query`` for many queries in one call: query ``i`` is ``[q_starts[i], q_starts[i + 1])`` of the
    concatenated query arrays.  Returns the results of all of them in query order, with the query of each
    result (``r_query``), and the kept chains with their result numbered across the batch."""
    found = []
    for i in range(q_starts.shape[0] - 1):
        a = q_starts[i]
        b = q_starts[i + 1]
        if b == a:
            continue
        r_item, r_qm, r_im, r_ev, segs = match_query(index, q_hashes[a:b], q_pos[a:b], params)
        if r_item.shape[0] > 0:
            found.append((i, r_item, r_qm, r_im, r_ev, segs))
    return _assemble(found)


@njit(cache=True, nogil=True)
def match_batch_both(index, q_hashes, q_pos, q_starts, params, wide_params):  # type: ignore[no-untyped-def]
    """``match_batch`` under two sets of parameters that differ only in which chains they keep (the
    long-text rule's and the quote pass's): each query's postings are looked up once and its anchors
    chained once, each chain then kept or not under each rule (``chain_anchors_twice``).  The long-text
    rule's results are reported only where the quote pass kept some (every chain it keeps, the quote pass
    keeps too: ``Search._strict_within_wide``).  Returns the two results, each as ``match_batch`` returns
    it."""
    found = []
    wide = []
    item_nfp = index[17]
    # the chains depend on the weights, the gaps and ``near`` only: the same in both, they are chained once
    once = (
        params[0] == wide_params[0]
        and params[4] == wide_params[4]
        and params[5] == wide_params[5]
        and params[8] == wide_params[8]
    )
    for i in range(q_starts.shape[0] - 1):
        a = q_starts[i]
        b = q_starts[i + 1]
        if b == a:
            continue
        qh = q_hashes[a:b]
        qp = q_pos[a:b]
        anchors = query_anchors(index, qh, params, min(params[6], wide_params[6]))
        if anchors[0].shape[0] == 0:
            continue
        if once:
            strict, loose = _chains_twice(anchors, qh, qp, item_nfp, params, wide_params)
        else:
            loose = chains_of(anchors, qh, qp, item_nfp, wide_params)
        if loose[0].shape[0] == 0:
            continue
        wide.append((i, loose[0], loose[1], loose[2], loose[3], loose[4]))
        if not once:
            strict = chains_of(anchors, qh, qp, item_nfp, params)
        if strict[0].shape[0] > 0:
            found.append((i, strict[0], strict[1], strict[2], strict[3], strict[4]))
    return _assemble(found), _assemble(wide)


@njit(cache=True, nogil=True)
def _chains_twice(anchors, q_hashes, q_pos, item_nfp, params, wide_params):  # type: ignore[no-untyped-def]
    """``chains_of`` of one query's ``anchors`` under ``params`` and ``wide_params`` (which differ only
    in ``min_evidence`` and ``min_span``), chained once (``chain_anchors_twice``)."""
    a_item, a_q, a_pos, a_df = anchors
    common_df, _max_postings, _max_repeats, _max_anchors, max_gap, max_skew, min_evidence, min_span, near = (
        params
    )
    return chain_anchors_twice(
        a_item,
        a_q,
        a_pos,
        a_df,
        q_pos,
        q_hashes,
        item_nfp,
        common_df,
        max_gap,
        max_skew,
        (min_evidence, wide_params[6]),
        (min_span, wide_params[7]),
        near,
        True,
    )
