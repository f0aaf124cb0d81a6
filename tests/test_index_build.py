"""Snapshots built on disk batch by batch (``copytrace.index.snapshot_build``) are the files ``Index.save``
writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from copytrace import DuplicateItemError, Index, fingerprint
from copytrace.fingerprints.batch import FingerprintBatch
from copytrace.index.snapshot import read
from copytrace.index.snapshot_build import SnapshotBuilder
from copytrace.index.snapshot_contents import FORMAT

from .conftest import FOOTER


def _batches(texts: dict[str, str], size: int) -> list[tuple[list[str], FingerprintBatch]]:
    ids = list(texts)
    fps = [fingerprint(texts[i]) for i in ids]
    return [
        (ids[a : a + size], FingerprintBatch.from_fingerprints(fps[a : a + size], fps[0].params))
        for a in range(0, len(ids), size)
    ]


@pytest.mark.parametrize("size", [1, 7, 1000], ids=["one-by-one", "batches-of-7", "one-batch"])
@pytest.mark.parametrize("footer", [False, True], ids=["distinct", "common-footer"])
def test_built_file_is_the_saved_file(
    tmp_path: Path, state_union: dict[str, str], text_000: str, text_001: str, size: int, footer: bool
) -> None:
    """The same items with the same links, built on disk or added and saved: identical arrays and meta,
    so identical answers; with a footer every item shares, its hashes' buckets are large."""
    texts = {
        **({f"{name}+footer": text[:600] + FOOTER for name, text in state_union.items()} if footer else {}),
        **state_union,
        "000": text_000,
        "001": text_001,
        "long": " ".join(f"w{i % 999} x{i // 3}" for i in range(40_000)),
    }
    index = Index(keep_text=False)
    for bank, (ids, batch) in zip(("a", "b") * 100, _batches(texts, size), strict=False):
        index.add_batch(ids, batch, bank=bank)
    links = {name: index.links(name[1], bank=name[0]) for name in index.items()}
    saved, built = tmp_path / "saved.ctidx", tmp_path / "built.ctidx"
    index.save(saved)
    with SnapshotBuilder(built, index.params) as builder:
        for bank, (ids, batch) in zip(("a", "b") * 100, _batches(texts, size), strict=False):
            builder.add(bank, ids, batch, [links[(bank, i)] for i in ids])
    meta_s, arrays_s = read(saved, FORMAT)
    meta_b, arrays_b = read(built, FORMAT)
    assert meta_s == meta_b and arrays_s.keys() == arrays_b.keys()
    for name in arrays_s:
        assert np.array_equal(arrays_s[name], arrays_b[name]), name
    loaded = Index.load(built)
    for text in (text_001, state_union[sorted(state_union)[4]], texts["long"][-2000:]):
        assert loaded.match(text) == index.match(text)


def test_a_duplicate_name_is_refused_and_nothing_is_written(
    tmp_path: Path, text_000: str, text_001: str
) -> None:
    path = tmp_path / "dup.ctidx"
    ((_, batch),) = _batches({"x": text_000}, 10)
    with pytest.raises(DuplicateItemError), SnapshotBuilder(path, batch.params) as builder:
        builder.add("news", ["x"], batch)
        builder.add("news", ["x"], batch)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_an_empty_build_is_an_empty_index(tmp_path: Path) -> None:
    path = tmp_path / "empty.ctidx"
    with SnapshotBuilder(path, fingerprint("some text to take the parameters from").params):
        pass
    index = Index.load(path)
    assert len(index) == 0 and index.match("anything at all that could be matched against it") == []


def test_built_snapshots_keep_phrases(tmp_path: Path, text_000: str) -> None:
    from copytrace.phrases import phrase_fingerprint

    texts = {"article": text_000, "slogan": "Death to the occupiers, burn their homes"}
    path = tmp_path / "built.ctidx"
    ((ids, batch),) = _batches(texts, 10)
    with SnapshotBuilder(path, batch.params) as builder:
        builder.add("news", ids, batch)
        builder.add_phrases([("news", "slogan", phrase_fingerprint(texts["slogan"]))])
    loaded = Index.load(path)
    assert loaded.is_phrase("slogan", bank="news") and not loaded.is_phrase("article", bank="news")
    assert [(m.item_id, m.kind) for m in loaded.match("D3ATH to the occupiers burn their homes")] == [
        ("slogan", "phrase")
    ]
