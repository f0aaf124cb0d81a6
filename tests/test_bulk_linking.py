"""Linking in bounded memory: items added in batches linked in compiled calls, an index whose postings are
kept in a file and rewritten as it grows, and a bulk add whose linking index does both, each giving the
links, families and matches of one call made in memory."""

from __future__ import annotations

import json
import mmap
import random
from pathlib import Path

import pytest

from copytrace import fingerprint
from copytrace.banks import Store, linking
from copytrace.fingerprints.batch import FingerprintBatch
from copytrace.fingerprints.fingerprint import Fingerprint
from copytrace.index import Index, _file_level
from copytrace.index._item_names import ItemNames

from .conftest import DATA
from .test_bulk_add import CHUNK, Run, _dense_items, _jsonl, _links, _reference, run, store  # noqa: F401

BOILERPLATE = (
    "Subscribe to our newsletter for the latest updates on policy, markets and the world, delivered to "
    "your inbox every morning before the markets open."
)


def _items(seed: int) -> list[tuple[str, Fingerprint]]:
    """Dense families (versions of five texts) among twelve texts without versions, a third of them with
    the same boilerplate footer, so that the footer's fingerprints are held by more than ``common_df``
    families and weigh less."""
    rng = random.Random(seed)
    items = _dense_items(n_texts=5, versions=11, seed=seed)
    for n, path in enumerate(sorted((DATA / "corpora" / "state_union").glob("*.txt"))[20:32]):
        words = path.read_text(encoding="utf-8", errors="replace").split()
        start = rng.randrange(0, len(words) - 200)
        items.insert(
            rng.randrange(len(items)), {"id": f"solo-{n}", "text": " ".join(words[start : start + 200])}
        )
    out = []
    for item in items:
        footer = item["id"].startswith("solo") or rng.random() < 0.35
        text = item["text"] + (" " + BOILERPLATE if footer else "")
        out.append((item["id"], fingerprint(text, allow_short=True)))
    return out


def _batches(items: list[tuple[str, Fingerprint]], size: int) -> list[tuple[list[str], FingerprintBatch]]:
    params = items[0][1].params
    return [
        (
            [i for i, _ in items[s : s + size]],
            FingerprintBatch.from_fingerprints([fp for _, fp in items[s : s + size]], params),
        )
        for s in range(0, len(items), size)
    ]


def _state(index: Index, items: list[tuple[str, Fingerprint]]) -> tuple[object, ...]:
    """Links, families and the matches of every item's fingerprint: what must not depend on how the
    index was built."""
    links = [index.links(i, bank="b") for i, _ in items]
    families = [index.family(i, bank="b") for i, _ in items]
    matches = [
        [(m.item_id, round(m.score, 9), m.query_containment, m.item_containment) for m in found]
        for found in index.match_fingerprints([fp for _, fp in items])
    ]
    return links, families, index.n_families(), matches


@pytest.mark.parametrize("size", [1, 7, 1000], ids=["one-by-one", "batches-of-7", "one-batch"])
@pytest.mark.parametrize("seed", [3, 11])
def test_batches_link_as_one_add_many(size: int, seed: int) -> None:
    items = _items(seed)
    reference = Index.for_params(items[0][1].params)
    reference.add_many(items, bank="b")
    index = Index.for_params(items[0][1].params)
    for ids, batch in _batches(items, size):
        index.add_batch(ids, batch, bank="b")
    assert _state(index, items) == _state(reference, items)
    assert sum(len(index.links(i, bank="b")) for i, _ in items) > len(items) // 2  # many links to check
    footer = set(fingerprint(BOILERPLATE).hashes.tolist())
    holders = [i for i, fp in items if len(footer & set(fp.hashes.tolist())) * 2 > len(footer)]
    assert len({reference.family(i, bank="b") for i in holders}) > 10  # held by many families: weighs less


@pytest.mark.parametrize("above", [40, 300, 2000])
def test_postings_kept_in_a_file_answer_as_in_memory(above: int) -> None:
    """Linking reads what it looks up from the file (``FilePostings.held``); queries read the mapping."""
    items = _items(5)
    lent = []
    held = _file_level.FilePostings.held

    def counted(self: _file_level.FilePostings, *args: object) -> object:
        level = held(self, *args)  # type: ignore[arg-type]
        lent.append(level is not None and len(level) > 0)
        return level

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_file_level.FilePostings, "held", counted)
        index = _in_a_file(items, above)
    assert sum(lent) >= 3
    reference = Index.for_params(items[0][1].params)
    reference.add_many(items, bank="b")
    in_file = index._contents.in_file
    assert in_file is not None and in_file.rewrites >= (2 if above < 2000 else 1)
    assert isinstance(index._contents.main.tags.base.obj, mmap.mmap)  # mapped, not in memory
    assert _state(index, items) == _state(reference, items)
    assert index.n_fingerprints == reference.n_fingerprints

    # removing items (the index compacts) and adding them back keeps the two the same
    for item_id, _ in items[::4]:
        index.remove(item_id, bank="b")
        reference.remove(item_id, bank="b")
    assert _state(index, items[1::4]) == _state(reference, items[1::4])
    index.add_many(items[::4], bank="b")
    reference.add_many(items[::4], bank="b")
    assert _state(index, items) == _state(reference, items)


def _in_a_file(items: list[tuple[str, Fingerprint]], above: int) -> Index:
    index = Index.for_params(items[0][1].params)
    index.keep_postings_in_file(above=above, expected=20_000)
    for ids, batch in _batches(items, 6):
        index.add_batch(ids, batch, bank="b")
        index.flush()
        assert index.postings_in_memory <= above
    return index


def test_an_index_with_postings_in_a_file_saves_and_loads(tmp_path: Path) -> None:
    items = _items(7)
    index = Index.for_params(items[0][1].params)
    index.keep_postings_in_file(above=100)
    for ids, batch in _batches(items, 9):
        index.add_batch(ids, batch, bank="b")
    before = _state(index, items)
    index.save(tmp_path / "i.ctx")
    assert _state(Index.load(tmp_path / "i.ctx"), items) == before


def test_a_file_level_written_block_by_block_equals_one_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of a few postings: every block boundary of a rewrite is crossed many times."""
    monkeypatch.setattr(_file_level, "BLOCK_POSTINGS", 5)
    test_postings_kept_in_a_file_answer_as_in_memory(60)


def test_names_folded_into_arrays_keep_their_numbers() -> None:
    names = ItemNames()
    for n in range(50):
        names.append("a" if n % 3 else "b", f"id-{n}")
    names.remove(7)
    names.fold()
    names.append("a", "late")
    names.remove(48)
    names.fold()
    names.fold()  # nothing appended: nothing changes
    assert len(names) == 51
    assert names[50] == ("a", "late") and names[3] == ("b", "id-3")
    assert names.number("a", "late") == 50 and names.number("a", "id-5") == 5
    assert names.number("a", "id-7") is None and names.number("b", "id-48") is None
    assert names.number("b", "id-5") is None  # another bank
    assert [names.number(*names[n]) for n in range(51) if n not in (7, 48)] == [
        n for n in range(51) if n not in (7, 48)
    ]


@pytest.fixture
def rewrites(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry for each rewrite of a linking index's postings file, as it happens."""
    counted: list[int] = []
    write = _file_level.write

    def counting(*args: object, **kwargs: object) -> object:
        counted.append(1)
        return write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_file_level, "write", counting)
    return counted


@pytest.mark.parametrize("in_file", [True, False], ids=["postings-in-a-file", "in-memory"])
def test_a_bulk_add_links_across_chunks_and_files_as_one_call(
    run: Run,  # noqa: F811
    store: Store,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rewrites: list[int],
    in_file: bool,
) -> None:
    """Chunks of 7 items, the linking index's postings merged into a new file every 200 postings or so:
    the links and families are those of one call, on SQLite and PostgreSQL."""
    monkeypatch.setattr(linking, "IN_FILE_FROM", 1000 if in_file else 1 << 40)
    monkeypatch.setattr(linking, "IN_FILE_ABOVE", 200)
    items = _dense_items(n_texts=4, versions=11, seed=9)
    for n, item in enumerate(items):
        if n % 3 == 0:
            item["text"] += " " + BOILERPLATE
    code, out, err = run("bank", "add", "chunked", "--jsonl", _jsonl(tmp_path / "dense.jsonl", items))
    assert code == 0, err
    assert json.loads(out)["added"] == len(items)
    assert (len(rewrites) >= 5) if in_file else not rewrites
    _reference(store, items, "whole", one_call=True)
    chunked = _links(store, "chunked")
    assert chunked == _links(store, "whole")
    position = {item_id: n for n, (item_id, _) in enumerate(chunked)}
    across = [(a, b) for a, links in chunked for b in links if position[a] // CHUNK != position[b] // CHUNK]
    assert len(across) > 10
    counts = store.family_counts()
    assert counts["chunked"] == counts["whole"] == 4


def test_a_bulk_add_to_a_bank_with_items_links_as_one_call(
    run: Run,  # noqa: F811
    store: Store,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rewrites: list[int],
) -> None:
    """The bank's index comes from the store (a snapshot of its first items), then its postings and the
    new chunks' go to a file: links as one call of every item; and --replace of some items links them as
    the same calls made with the index in memory."""
    monkeypatch.setattr(linking, "IN_FILE_ABOVE", 150)
    items = _dense_items(n_texts=4, versions=9, seed=4)
    half = len(items) // 2
    first, rest = (
        _jsonl(tmp_path / "first.jsonl", items[:half]),
        _jsonl(tmp_path / "rest.jsonl", items[half:]),
    )
    replaced = [dict(i, text=i["text"] + " A line added to this version.") for i in items[:: len(items) // 6]]
    new = _jsonl(tmp_path / "new.jsonl", replaced)
    for bank, threshold in [("filed", 500), ("memory", 1 << 40)]:
        monkeypatch.setattr(linking, "IN_FILE_FROM", threshold)
        assert run("bank", "add", bank, "--jsonl", first)[0] == 0
        code, _, err = run("bank", "add", bank, "--jsonl", rest)
        assert code == 0, err
        if bank == "filed":
            _reference(store, items, "whole", one_call=True)
            assert _links(store, bank) == _links(store, "whole")
            assert store.family_counts()[bank] == 4
        code, _, err = run("bank", "add", bank, "--jsonl", new, "--replace")
        assert code == 0, err
        assert bool(rewrites) == (bank == "filed")
        rewrites.clear()
    assert _links(store, "filed") == _links(store, "memory")
    assert sum(len(links) for _, links in _links(store, "filed")) > len(items)


def test_a_failed_rewrite_keeps_the_postings(tmp_path: Path) -> None:
    """The file cannot be written (no such folder): the error is raised, and the index still holds and
    answers with every posting; once it can, the postings go to the file."""
    items = _items(3)
    indexes = [Index.for_params(items[0][1].params) for _ in range(2)]
    for index in indexes:
        index.add_many(items[:20], bank="b")
        index.add_batch(*_batches(items[20:], len(items))[0], bank="b", links=[[]] * (len(items) - 20))
    index, reference = indexes
    index.keep_postings_in_file(str(tmp_path / "missing"), above=10)
    with pytest.raises(OSError):
        index.flush()
    assert index.postings_in_memory == reference.n_fingerprints
    assert _state(index, items) == _state(reference, items)
    index.keep_postings_in_file(str(tmp_path), above=10)
    index.compact()  # merges the delta now
    assert index.postings_in_memory == 0
    assert _state(index, items) == _state(reference, items)
