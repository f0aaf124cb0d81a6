"""How the matching kernel counts the copy families holding a hash (a hash's document frequency): in a set of
the query's own, only for hashes with more than ``common_df`` postings.  Queries of several threads run the
kernel at once, so no state outlives a call: the answers are those of the reference that counts every
family with a Python set (``test_matching_anchors``), whatever a thread's scratch holds."""

from __future__ import annotations

import numpy as np
import pytest

from copytrace import Index, MatchParams
from copytrace.fingerprints.batch import fingerprint_many
from copytrace.index import _matching

from .test_matching_anchors import bank_of_boilerplate, reference, same


@pytest.mark.parametrize(
    "params",
    [pytest.param(MatchParams(), id="default"), pytest.param(MatchParams(common_df=2), id="common-df-2")],
)
def test_answers_do_not_depend_on_the_scratch_a_thread_left(params: MatchParams) -> None:
    """The index's side of a kernel call still carries a per-thread scratch array over every family label
    (where an earlier kernel stamped the families of each hash it counted); every slot holding the stamp
    the next query would use must not change an answer."""
    index, queries = bank_of_boilerplate(params, 4)
    search = index._search
    batch, _ = fingerprint_many(queries)
    kernel_index = search.contents.kernel_index(None, None)
    rule = search._kernel_params(-1, quotes=True)
    seen = kernel_index[16]
    starts = batch.offsets
    matched = 0
    for i in range(len(queries)):
        a, b = int(starts[i]), int(starts[i + 1])
        want = reference(kernel_index, batch.hashes[a:b], batch.positions[a:b], rule)
        matched += len(want[0])
        for j in range(b - a):  # every family slot holding the stamp the query's hash j would be given
            seen[:-1] = seen[-1] + j + 1
            got = _matching.match_query(kernel_index, batch.hashes[a:b], batch.positions[a:b], rule)
            assert same(tuple(got), want), (i, j)
    assert matched


def test_a_hash_held_by_many_versions_of_one_text_weighs_one() -> None:
    """A hash with more postings than ``common_df`` whose holders are versions of one text is one family:
    counted, not taken for boilerplate (its postings alone would say it is)."""
    words = " ".join(f"w{n}" for n in range(60))
    index = Index(match_params=MatchParams(common_df=2))
    for n in range(6):  # six versions of one text: one copy family, six postings of each hash
        index.add(f"v{n}", f"{words} version{n}")
    assert index._contents.families.size(0) == 6
    batch, _ = fingerprint_many([f"a post: {words}"])
    holders = index._contents.holders(batch.hashes)
    assert max(sum(len(part) for part in parts) for parts in holders) > 2  # more postings than common_df
    found = index.match(f"a post: {words}", per_family=False)
    assert sorted(m.item_id for m in found) == [f"v{n}" for n in range(6)]


def python_family_counts(index: Index, hashes: np.ndarray, banks: list[str] | None) -> list[int]:
    """The copy families holding each of ``hashes`` among the live items of ``banks``, from every posting
    (``Contents.holders``) in Python sets."""
    contents = index._contents
    allowed = contents.allowed(banks)
    counts = []
    for parts in contents.holders(hashes):
        items = [int(i) for part in parts for i in part.tolist()]
        live = [i for i in items if contents.alive[i] and (not len(allowed) or allowed[i])]
        counts.append(len({int(contents.families.labels[i]) for i in live}))
    return counts


@pytest.mark.parametrize("banks", [None, ["a"], ["b"], ["a", "b"]], ids=["all", "a", "b", "a-and-b"])
@pytest.mark.parametrize("seed", [1, 2], ids=["seed-1", "seed-2"])
def test_the_quote_pass_counts_families_as_every_posting_says(banks: list[str] | None, seed: int) -> None:
    """The quote pass's boilerplate check (``family_counts``, compiled) counts the families of each hash
    over every posting, main level and delta, removed items and other banks left out: as a Python set
    of every posting's family does."""
    index, queries = bank_of_boilerplate(MatchParams(common_df=2), seed)
    batch, _ = fingerprint_many(queries)
    hashes = np.unique(batch.hashes)
    kernel_index = index._contents.kernel_index(banks, None)
    got = _matching.family_counts(kernel_index, hashes).tolist()
    want = python_family_counts(index, hashes, banks)
    assert got == want
    assert max(want) > 2 and sum(1 for c in want if c == 0) < len(want)  # boilerplate, and shared hashes
