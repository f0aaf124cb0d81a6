"""Slow, obviously-correct references that the compiled code is tested against."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np

from copytrace.fingerprints.fingerprint import Fingerprint
from copytrace.index import MAX_REPEATS
from copytrace.index.match import MatchParams

MASK = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & MASK


def siphash(key: bytes, message: bytes, c_rounds: int = 2, d_rounds: int = 4) -> int:
    """SipHash-c-d of any message, straight from the paper (Aumasson & Bernstein 2012)."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rnd() -> None:
        v[0] = (v[0] + v[1]) & MASK
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & MASK
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & MASK
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & MASK
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)

    tail = len(message) % 8
    padded = message[: len(message) - tail] + message[len(message) - tail :] + b"\0" * (7 - tail)
    padded += bytes([len(message) & 0xFF])
    for i in range(0, len(padded), 8):
        m = int.from_bytes(padded[i : i + 8], "little")
        v[3] ^= m
        for _ in range(c_rounds):
            rnd()
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(d_rounds):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def winnow(hashes: list[int], window: int) -> list[int]:
    """Robust winnowing by definition: each window's rightmost minimum, each position once, in order."""
    if not hashes:
        return []
    w = min(window, len(hashes))
    chosen: list[int] = []
    for begin in range(len(hashes) - w + 1):
        block = hashes[begin : begin + w]
        low = min(block)
        pos = begin + max(i for i, h in enumerate(block) if h == low)
        if not chosen or chosen[-1] != pos:
            chosen.append(pos)
    return chosen


def brute_force_match(
    items: dict[tuple[str, str], Fingerprint],
    query: Fingerprint,
    mp: MatchParams,
    family: dict[tuple[str, str], object] | None = None,
) -> dict[tuple[str, str], tuple[int, int]]:
    """Compare the query with every item directly; return {(bank, id): (query fps matched, item fps matched)}.

    ``family`` names each item's copy family (default: each item its own); document frequency counts families.
    Same rules as the index, written as plainly as possible: weights from document frequency, chains of
    in-order anchors by dynamic programming, greedy extraction by best score (stable), acceptance.
    """
    k = query.params.k

    def first_repeats(hashes: list[int]) -> list[bool]:  # the first MAX_REPEATS occurrences of each hash
        seen: Counter[int] = Counter()
        keep = []
        for h in hashes:
            keep.append(seen[h] < MAX_REPEATS)
            seen[h] += 1
        return keep

    g = query.params.guarantee
    gap, skew, min_span = mp.gap_for(g), mp.skew_for(g), mp.min_tokens_for(g) - k
    fams: dict[int, set[object]] = {}
    postings: Counter[int] = Counter()
    capped = {}
    for name, fp in items.items():
        hs, ps = fp.hashes.tolist(), fp.positions.tolist()
        keep = first_repeats(hs)
        capped[name] = (
            [h for h, x in zip(hs, keep, strict=True) if x],
            [p for p, x in zip(ps, keep, strict=True) if x],
        )
        for h in hs:
            fams.setdefault(h, set()).add(name if family is None else family[name])
        postings.update(capped[name][0])
    df: Counter[int] = Counter({h: len(f) for h, f in fams.items()})

    def weight(d: int) -> float:
        return 1.0 if d <= mp.common_df else (mp.common_df / d) ** 2

    qh = query.hashes.tolist()
    qp = query.positions.tolist()
    q_first = first_repeats(qh)
    out = {}
    for name in items:
        item_hashes, item_positions = capped[name]
        anchors = []
        for j, h in enumerate(qh):
            if not q_first[j] or df[h] == 0 or postings[h] > mp.max_postings:
                continue
            for h2, p in zip(item_hashes, item_positions, strict=True):
                if h2 == h:
                    anchors.append((j, p, df[h]))
        anchors.sort(key=lambda a: (a[0], a[1]))
        score, prev = [], []
        for a, (j, p, d) in enumerate(anchors):
            w = weight(d)
            best, pb = w, -1
            for b in range(a - 1, -1, -1):
                dq = qp[j] - qp[anchors[b][0]]
                if dq > gap:
                    break
                di = p - anchors[b][1]
                if dq <= 0 or di <= 0 or di > gap or abs(dq - di) > skew:
                    continue
                if score[b] + w > best:
                    best, pb = score[b] + w, b
            score.append(best)
            prev.append(pb)
        order = sorted(range(len(anchors)), key=lambda a: -score[a])
        used = [False] * len(anchors)
        kept: set[int] = set()
        for a in order:
            if used[a]:
                continue
            chain = []
            b = a
            while b >= 0 and not used[b]:
                used[b] = True
                chain.append(b)
                b = prev[b]
            # each anchor counts as common as the most common anchor of the chain near it (guarantee tokens)
            weights = {
                c: weight(
                    max(anchors[o][2] for o in chain if abs(qp[anchors[o][0]] - qp[anchors[c][0]]) <= g)
                )
                for c in chain
            }
            by_hash: dict[int, float] = {}
            for c in chain:  # a phrase repeated in both texts is one piece of evidence
                h = qh[anchors[c][0]]
                by_hash[h] = max(by_hash.get(h, 0.0), weights[c])
            evidence = sum(by_hash.values())
            distinctive = [qp[anchors[c][0]] for c in chain if weights[c] >= 0.5]
            span = max(distinctive) - min(distinctive) if distinctive else -1
            strong = evidence + 1e-9 >= mp.min_evidence and span >= min_span
            if strong or (len(chain) >= len(item_hashes) and evidence + 1e-9 >= len(by_hash)):
                kept.update(chain)
        if kept:
            out[name] = (len({anchors[c][0] for c in kept}), len({anchors[c][1] for c in kept}))
    return out


def all_kgram_hashes(fp_text_hashes: np.ndarray) -> set[int]:
    return set(fp_text_hashes.tolist())


def assert_index_agrees_with_brute_force(items: list[str], query: str, mp: MatchParams) -> None:
    """Bank ``items`` in an index and check its matches of ``query`` (every version) against
    ``brute_force_match``: the same items, the same numbers of query and item fingerprints matched."""
    from copytrace import Index, fingerprint, tokenize
    from copytrace.index._matching import first_repeats

    index = Index(match_params=replace(mp, quotes=None))  # the long-text rule: quotes are tested apart
    fps = {}
    for n, text in enumerate(items):
        if len(tokenize(text)) >= 5:
            fps[("default", str(n))] = index.add(str(n), text, phrase=False)  # the long-text rule alone
    q = fingerprint(query, allow_short=True)
    families = {name: index.family(name[1], bank=name[0])[0] for name in fps}
    expected = brute_force_match(fps, q, mp, families) if len(q) else {}
    held = {name: int(first_repeats(fp.hashes, MAX_REPEATS).sum()) for name, fp in fps.items()}
    got = {
        (m.bank, m.item_id): (
            round(m.query_containment * len(q)),
            round(m.item_containment * held[(m.bank, m.item_id)]),
        )
        for m in index.match(query, per_family=False)
    }
    assert got == expected


def mutate(text: str, edits: list[tuple[int, str, str]]) -> str:
    """``text`` with each edit ``(where, "ins" | "sub" | "del", character)`` applied in turn; ``where`` wraps
    around the length (the fuzz tests' way of damaging a string)."""
    chars = list(text)
    for at, how, ch in edits:
        i = at % (len(chars) + 1)
        if how == "ins":
            chars.insert(i, ch)
        elif chars and i < len(chars):
            if how == "sub":
                chars[i] = ch
            else:
                del chars[i]
    return "".join(chars)
