"""Bucketed postings (``copytrace.index._postings``) and their lookup kernel against a plain reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace.index import _postings
from copytrace.index._matching import lookup


def _reference(
    x: np.ndarray, refs: np.ndarray, pos: np.ndarray, query: np.ndarray, bits: int
) -> list[list[tuple[int, int]]]:
    """For each query hash, the (page, position) of every posting with the same bucket and low 32 bits, in
    page then position order."""
    shift = np.uint64(64 - bits)
    low = np.uint64(0xFFFFFFFF)
    out = []
    for q in query.tolist():
        q = np.uint64(q)
        same = [
            (int(r), int(p))
            for h, r, p in zip(x.tolist(), refs.tolist(), pos.tolist(), strict=True)
            if (np.uint64(h) >> shift) == (q >> shift) and (np.uint64(h) & low) == (q & low)
        ]
        out.append(sorted(same))
    return out


_UNMIX = np.uint64(pow(int(_postings.MIX), -1, 2**64))  # lookup mixes the hashes it is given


def _found(level: _postings.Level, query_x: np.ndarray) -> list[list[tuple[int, int]]]:
    """What ``lookup`` finds for the hashes whose mixed values are ``query_x``."""
    lo, hi = lookup(level.bits, level.offsets, level.tags, query_x * _UNMIX)
    return [
        list(zip(level.refs[a:b].tolist(), level.pos[a:b].tolist(), strict=True))
        for a, b in zip(lo.tolist(), hi.tolist(), strict=True)
    ]


hashes = st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=300)


@settings(max_examples=60, deadline=None)
@given(hashes, st.integers(0, 40), st.data())
def test_lookup_finds_exactly_the_postings_of_a_hash(values: list[int], n_repeats: int, data) -> None:  # type: ignore[no-untyped-def]
    """Built in one go or merged in several steps, every hash finds all its postings and nothing else,
    earliest page first; hashes that share nothing with the level find nothing."""
    rng = np.random.default_rng(len(values) + n_repeats)
    x = np.array(values + [values[0]] * n_repeats if values else [], dtype=np.uint64)
    refs = np.sort(rng.integers(0, 50, len(x))).astype(np.uint32)
    pos = rng.integers(0, 1 << 16, len(x)).astype(np.uint16)
    order = np.lexsort((pos, refs))  # postings come in page order, positions ascending within a page
    refs, pos = refs[order], pos[order]
    one = _postings.build(x, refs, pos)
    cut = data.draw(st.integers(0, len(x)))
    # a merge needs the later postings on later pages: renumber the tail after the head
    refs2 = refs.copy()
    refs2[cut:] += 64
    merged = _postings.merge(
        _postings.build(x[:cut], refs2[:cut], pos[:cut]), x[cut:], refs2[cut:], pos[cut:]
    )
    query = np.concatenate((x[:20], rng.integers(0, 2**63, 20, dtype=np.int64).astype(np.uint64)))
    assert _found(one, query) == _reference(x, refs, pos, query, one.bits)
    assert _found(merged, query) == _reference(x, refs2, pos, query, merged.bits)


def test_a_snapshot_level_keeps_its_buckets_when_it_grows() -> None:
    """A level read from a snapshot has no top hash bits: new postings go into its buckets, and lookups of
    both the old and the new postings still find them."""
    rng = np.random.default_rng(7)
    x = _postings.mix(rng.integers(0, 2**63, 5000, dtype=np.int64).astype(np.uint64))
    built = _postings.build(x[:1000], np.arange(1000, dtype=np.uint32), np.zeros(1000, np.uint16))
    frozen = _postings.Level(built.bits, built.offsets, built.tags, built.refs, built.pos, None)
    grown = _postings.merge(
        frozen, x[1000:], np.arange(1000, 5000, dtype=np.uint32), np.zeros(4000, np.uint16)
    )
    assert grown.bits == built.bits and len(grown) == 5000 and grown.hi is None
    found = _found(grown, x)
    assert [f[0][0] for f in found] == list(range(5000))


def test_buckets_are_even_for_winnowed_hashes() -> None:
    """Winnowing keeps the smallest hash of each window, so stored hashes are skewed low; mixing spreads
    them: no bucket holds more than a few times the average."""
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 2**63, (200_000, 4), dtype=np.int64).astype(np.uint64).min(axis=1)
    level = _postings.build(_postings.mix(raw), np.zeros(len(raw), np.uint32), np.zeros(len(raw), np.uint16))
    counts = np.diff(level.offsets.astype(np.int64))
    assert counts.max() <= 4 * counts.mean() and level.nbytes / len(raw) <= 10.5
