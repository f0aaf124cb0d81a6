"""The delta's runs against a brute-force list of postings, and an index that grows one item at a time
against brute force through adds, removals, lookups, saves and loads."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from copytrace.fingerprints.fingerprint import Fingerprint, fingerprint
from copytrace.index import MAX_REPEATS, Index, _delta, _postings
from copytrace.index._matching import first_repeats
from copytrace.index.match import MatchParams

from .reference import brute_force_match

_UNMIX = np.uint64(pow(int(_postings.MIX), -1, 2**64))  # lookups mix the hashes they are given


def _found(delta: _delta.Delta, raw: np.ndarray) -> list[list[tuple[int, int]]]:
    """(page, position) of each hash's postings, runs oldest first, as the query reads them."""
    lo, hi = delta.ranges(raw)
    refs, pos = delta.refs, delta.pos
    return [
        [(int(refs[p]), int(pos[p])) for r in range(lo.shape[0]) for p in range(lo[r, j], hi[r, j])]
        for j in range(len(raw))
    ]


# A few distinct hashes, some sharing a bucket and a low 32 bits: many postings per hash, and collisions
# of the bucket table's bits that only the full hash tells apart.
_X = st.sampled_from([1, 2, 3, 1 << 40 | 2, 1 << 63 | 2, (1 << 64) - 1, 12345678901234567])


@given(st.lists(st.lists(_X, max_size=40), max_size=30), st.data())
@settings(max_examples=200, deadline=None)
def test_delta_lookups_agree_with_brute_force(batches: list[list[int]], data: st.DataObject) -> None:
    delta = _delta.Delta()
    reference: list[tuple[int, int, int]] = []  # (x, page, position), in the order added
    page = 0
    for batch in batches:
        x = np.array(batch, dtype=np.uint64)
        refs = np.repeat(np.arange(page, page + len(x) // 4 + 1, dtype=np.uint32), 4)[: len(x)]
        pos = np.arange(len(x), dtype=np.uint16)
        delta.add(x, refs, pos)
        reference += [(int(a), int(b), int(c)) for a, b, c in zip(x, refs, pos, strict=True)]
        page += len(x) // 4 + 1
        queried = data.draw(st.lists(_X, max_size=5))
        raw = np.array(queried, dtype=np.uint64) * _UNMIX
        assert _found(delta, raw) == [[(p, q) for y, p, q in reference if y == x] for x in queried]
        assert len(delta) == len(reference)
        n = len(reference)
        assert delta.n_runs <= max(1, math.floor(math.log2(n)) + 1) if n else delta.n_runs == 0
    x, refs, pos = delta.postings()
    assert sorted(zip(refs.tolist(), pos.tolist(), x.tolist(), strict=True)) == [
        (p, q, y) for y, p, q in sorted(reference, key=lambda t: (t[1], t[2], t[0]))
    ]
    assert list(zip(refs.tolist(), pos.tolist(), strict=True)) == sorted(
        zip(refs.tolist(), pos.tolist(), strict=True)
    )


@pytest.mark.parametrize("size", [1, 7, 100], ids=["one", "seven", "hundred"])
def test_a_posting_is_copied_about_log2_n_times(size: int) -> None:
    rng = np.random.default_rng(size)
    delta = _delta.Delta()
    total = 0
    for page in range(3000):
        k = int(rng.integers(0, 2 * size + 1))
        x = rng.integers(0, 2**63, k, dtype=np.int64).astype(np.uint64)
        delta.add(x, np.full(k, page, np.uint32), np.arange(k, dtype=np.uint16))
        total += k
    assert len(delta) == total
    assert delta.n_runs <= math.log2(total) + 1
    assert delta.copied <= 2 * total * math.log2(total)


def test_the_filter_passes_every_held_hash_and_few_others() -> None:
    rng = np.random.default_rng(7)
    delta = _delta.Delta()
    held = []
    for page in range(400):  # the filter is remade larger several times on the way
        x = rng.integers(0, 2**63, int(rng.integers(1, 80)), dtype=np.int64).astype(np.uint64)
        delta.add(x, np.full(len(x), page, np.uint32), np.arange(len(x), dtype=np.uint16))
        held.append(x)
    raw = np.concatenate(held) * _UNMIX
    assert delta.may_hold(raw).all()
    others = rng.integers(0, 2**63, 100_000, dtype=np.int64).astype(np.uint64)
    assert delta.may_hold(others).mean() < 0.04  # two bits of 16 or more a posting: about 1.5%
    lo, hi = delta.ranges(others)
    assert ((hi > lo).any(axis=0) <= delta.may_hold(others)).all()  # a filtered hash has no postings


_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


@st.composite
def _steps(draw: st.DrawFn) -> list[tuple[str, int, str]]:
    texts = [" ".join(draw(st.lists(st.sampled_from(_WORDS), min_size=12, max_size=40))) for _ in range(4)]
    out = []
    for _ in range(draw(st.integers(1, 25))):
        op = draw(st.sampled_from(["add", "add", "add", "remove", "save", "match"]))
        base = texts[draw(st.integers(0, len(texts) - 1))]
        words = base.split()
        cut = draw(st.integers(0, len(words) // 3))
        out.append((op, draw(st.integers(0, 10**6)), " ".join(words[cut:] + words[:cut])))
    return out


_MP = MatchParams(min_tokens=5, quotes=None)


def _agrees(index: Index, held: dict[tuple[str, str], Fingerprint], query: str) -> None:
    """The index's matches of ``query`` are brute force's over the items it holds (as in ``reference``)."""
    q = fingerprint(query, allow_short=True)
    families = {name: index.family(name[1], bank=name[0])[0] for name in held}
    expected = brute_force_match(held, q, _MP, families) if len(q) else {}
    kept = {name: int(first_repeats(fp.hashes, MAX_REPEATS).sum()) for name, fp in held.items()}
    got = {
        (m.bank, m.item_id): (
            round(m.query_containment * len(q)),
            round(m.item_containment * kept[(m.bank, m.item_id)]),
        )
        for m in index.match(query, per_family=False)
    }
    assert got == expected


@given(_steps())
@settings(max_examples=40, deadline=None)
def test_an_index_grown_one_item_at_a_time_agrees_with_brute_force(steps: list[tuple[str, int, str]]) -> None:
    index = Index(match_params=_MP)
    held: dict[tuple[str, str], Fingerprint] = {}
    for i, (op, pick, text) in enumerate(steps):
        if op == "add":
            held[("default", f"item{i}")] = index.add(f"item{i}", text, phrase=False)
        elif op == "remove" and held:
            gone = sorted(held)[pick % len(held)]
            index.remove(gone[1])
            del held[gone]
        elif op == "save":
            out = io.BytesIO()
            index.save(out)
            out.seek(0)
            index = Index.load(out, match_params=_MP)
        _agrees(index, held, text)
