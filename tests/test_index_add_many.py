"""``Index.add_many`` in chunks: its memory does not grow with the items it adds, and a call that fails part
way leaves the index as it was (items, families, answers), however many chunks it had inserted."""

from __future__ import annotations

import random
import tracemalloc
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from copytrace import Index, fingerprint
from copytrace.errors import DuplicateItemError, NoTokenError, ParameterMismatchError
from copytrace.fingerprints.fingerprint import DEFAULT_PARAMS, Fingerprint
from copytrace.index import _index


def _versions(text: str, n: int, seed: int) -> list[str]:
    """``n`` reposts of ``text``, each with its own first line and a few words changed."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = text.split(" ")
        for j in rng.sample(range(len(words)), len(words) // 50):
            words[j] = rng.choice(["indeed", "truly", "again", "today"])
        out.append(f"Repost {i} from channel @news{rng.randrange(100, 999)}\n" + " ".join(words))
    return out


def _state(index: Index, queries: list[str]) -> tuple[object, ...]:
    """What a user of the index can see: its items with their links and families, and the answers."""
    items = sorted(index.items())
    return (
        items,
        [(index.links(i, bank=b), index.family(i, bank=b)) for b, i in items],
        index.n_families(),
        index.n_fingerprints,
        [[(m.bank, m.item_id, m.family, m.score) for m in index.match(q)] for q in queries],
    )


def _bad_items(kind: str, earlier: list[tuple[str, str]]) -> Iterator[tuple[str, str | Fingerprint]]:
    """New items, their last one refused as ``kind`` says (or reading them failing)."""
    yield from earlier
    if kind == "present":
        yield "old-0", "a text under the id of an item already in the index"
    elif kind == "repeated":
        yield earlier[1][0], "a text under an id added earlier in the same call"
    elif kind == "no-token":
        yield "blank", " ... !!! "
    elif kind == "other-key":
        yield "keyed", fingerprint(earlier[0][1], key="a key of enough length to use")
    else:
        raise RuntimeError("the source of the items failed")


_ERRORS: dict[str, type[Exception]] = {
    "present": DuplicateItemError,
    "repeated": DuplicateItemError,
    "no-token": NoTokenError,
    "other-key": ParameterMismatchError,
    "source-fails": RuntimeError,
}


@pytest.mark.parametrize("kind", list(_ERRORS), ids=list(_ERRORS))
@pytest.mark.parametrize("loaded", [False, True], ids=["in-memory", "from-snapshot"])
def test_a_failed_add_many_leaves_the_index_as_it_was(
    kind: str,
    loaded: bool,
    text_000: str,
    state_union: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The refused item comes in the fourth chunk: the three before it were inserted and linked (new
    versions joined the family of the items there before), and are removed again."""
    monkeypatch.setattr(_index, "ADD_MANY_CHUNK", 4)
    reposts = _versions(text_000, 12, seed=1)
    index = Index()
    index.add_many([(f"old-{i}", t) for i, t in enumerate(reposts[:3])])
    index.add_many(list(state_union.items())[:3], bank="speeches")
    if loaded:
        index.save(tmp_path / "index.snapshot")
        index = Index.load(tmp_path / "index.snapshot")
    queries = [reposts[5], text_000[:2000], list(state_union.values())[1]]
    before = _state(index, queries)
    new = [(f"new-{i}", t) for i, t in enumerate(reposts[3:])] + [
        (name, text) for name, text in list(state_union.items())[3:6]
    ]
    assert len(new) == 12  # three chunks of four, then the refused item
    with pytest.raises(_ERRORS[kind]):
        index.add_many(_bad_items(kind, new))
    assert _state(index, queries) == before
    # nothing of the failed call is left to change what the same items do when added again
    assert index.add_many(new) == len(new)
    reference = Index()
    reference.add_many([(f"old-{i}", t) for i, t in enumerate(reposts[:3])])
    reference.add_many(list(state_union.items())[:3], bank="speeches")
    reference.add_many(new)
    assert _state(index, queries) == _state(reference, queries)
    assert index.family("new-8") == ("old-0", 12)


@pytest.mark.parametrize("chunk", [1, 3, 4096], ids=["chunk-1", "chunk-3", "chunk-default"])
def test_add_many_in_chunks_links_as_adding_one_by_one_does(
    chunk: int, text_000: str, state_union: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_index, "ADD_MANY_CHUNK", chunk)
    items = [(f"r{i}", t) for i, t in enumerate(_versions(text_000, 7, seed=2))] + list(state_union.items())[
        :6
    ]
    random.Random(3).shuffle(items)
    one_by_one, at_once = Index(), Index()
    for name, text in items:
        one_by_one.add(name, text)
    assert at_once.add_many(iter(items)) == len(items)
    queries = [text_000, *list(state_union.values())[:3]]
    assert _state(at_once, queries) == _state(one_by_one, queries)


def _synthetic(i: int) -> Fingerprint:
    """A fingerprint of 60 random hashes (no text to fingerprint: cheap to make by the thousand)."""
    rng = np.random.default_rng(i)
    hashes = rng.integers(0, 2**63, 60, dtype=np.uint64)
    return Fingerprint(DEFAULT_PARAMS, hashes, np.arange(0, 300, 5, dtype=np.int64), 310)


def test_add_many_keeps_no_fingerprint_of_an_earlier_chunk_alive() -> None:
    """While the fourth chunk is read, the fingerprints given in the first two are gone: the call holds one
    chunk, not every item it has added (it returns their number, not their fingerprints)."""
    chunk = _index.ADD_MANY_CHUNK
    refs: list[weakref.ref[Fingerprint]] = []
    alive_at: dict[int, int] = {}

    def items() -> Iterator[tuple[str, Fingerprint]]:
        for i in range(4 * chunk):
            if i % chunk == 0:
                alive_at[i // chunk] = sum(r() is not None for r in refs[: max(0, i - chunk)])
            fp = _synthetic(i)
            refs.append(weakref.ref(fp))
            yield str(i), fp
            del fp

    index = Index(keep_text=False)
    added = index.add_many(items())
    assert alive_at == {0: 0, 1: 0, 2: 0, 3: 0}
    assert added == 4 * chunk
    assert len(index) == 4 * chunk and index.n_fingerprints == 4 * chunk * 60


def test_between_chunks_add_many_holds_no_more_than_the_index_it_built(
    state_union: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Texts fingerprinted in the call, their tokens with them: each time a chunk is read, the memory traced
    since the call began is what the index holds (at most what it holds at the end), not the fingerprints
    and tokens of the chunks before (when every item was prepared first, it was 2.8 times what the index held
    at the end, by the last chunk)."""
    monkeypatch.setattr(_index, "ADD_MANY_CHUNK", 100)
    words = " ".join(state_union.values()).split()
    rng = random.Random(4)
    texts = []
    for _ in range(800):
        at = rng.randrange(len(words) - 200)
        texts.append(" ".join(words[at : at + rng.randrange(100, 200)]))
    Index(keep_text=False).add_many((str(i), t) for i, t in enumerate(texts[:100]))  # compiled code loaded
    between: list[int] = []

    def items() -> Iterator[tuple[str, str]]:
        for i, text in enumerate(texts):
            if i and i % 100 == 0:
                between.append(tracemalloc.get_traced_memory()[0] - start)
            yield str(i), text

    index = Index(keep_text=False)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        index.add_many(items())
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(between) == 7 and held > 0
    assert max(between) <= held, (between, held)


def test_undoing_a_failed_add_many_re_derives_a_family_once(
    text_000: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed call that had added 40 versions of one text removes them together: what is left of their
    family is re-derived once (each remaining item's links read once), not once per item removed, which
    made undoing k versions cost k^2 to k^3 (minutes for a few thousand reposts of one text)."""
    from copytrace.index.families import Families

    monkeypatch.setattr(_index, "ADD_MANY_CHUNK", 8)
    reposts = _versions(text_000, 45, seed=4)
    index = Index()
    index.add_many([(f"old-{i}", t) for i, t in enumerate(reposts[:5])])
    before = _state(index, [reposts[0]])
    reads: list[int] = []
    neighbours = Families._neighbours

    def counted(self: Families, name: object) -> list[int]:
        reads.append(1)
        return neighbours(self, name)

    def source() -> Iterator[tuple[str, str]]:
        yield from ((f"new-{i}", t) for i, t in enumerate(reposts[5:]))
        monkeypatch.setattr(Families, "_neighbours", counted)  # from the refusal on: the undo
        yield "old-0", "an id already in the index"

    with pytest.raises(DuplicateItemError):
        index.add_many(source())
    assert _state(index, [reposts[0]]) == before
    assert 0 < len(reads) <= 5  # the five items left in the family, once each
