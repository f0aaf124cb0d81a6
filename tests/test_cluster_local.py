"""``cluster`` without Ray: a small job's JSON Lines files cut into byte ranges, its passes run in this
process or by workers forked from it, and the same answers whichever ran them (the library's, bad records at
their lines)."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import pytest

from copytrace.batch import cluster as cluster_module
from copytrace.batch import inputs as batch_inputs
from copytrace.batch.cluster import ClusterSettings, cut, run_cluster
from copytrace.batch.cluster_corpus import LabelledCorpus
from copytrace.batch.clustering import cluster
from copytrace.batch.inputs import Block, TableColumns, expand, plan
from copytrace.batch.readers import BlockReading, Doc, read_block

from .cluster_corpus_files import read_clusters, read_edges, small_corpus


@pytest.fixture(scope="module")
def corpus() -> LabelledCorpus:
    return small_corpus()


def _write(path: Path, corpus: LabelledCorpus, bad: bool = False) -> list[str]:
    """The corpus as one JSON Lines file (with two bad records after the tenth document when ``bad``); the
    ids in the file's order."""
    lines = [json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(corpus.ids, corpus.texts, strict=True)]
    if bad:
        lines[10:10] = ['{"id": "no-text"}\n', "{broken\n"]
    path.write_text("".join(lines), encoding="utf-8")
    return corpus.ids


def _ids(block: Block) -> list[str]:
    return [d.id for d in read_block(block, TableColumns(), BlockReading()) if isinstance(d, Doc)]


def test_a_small_file_is_cut_into_ranges_that_read_its_documents_in_order(
    corpus: LabelledCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "SMALL_BLOCK_BYTES", 20_000)
    ids = _write(tmp_path / "docs.jsonl", corpus)
    with gzip.open(tmp_path / "more.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write((tmp_path / "docs.jsonl").read_text(encoding="utf-8"))
    whole = plan(expand([str(tmp_path / "docs.jsonl"), str(tmp_path / "more.jsonl.gz")]))
    blocks = cut(whole)
    size = (tmp_path / "docs.jsonl").stat().st_size
    ranges = [b for b in blocks if b.path.endswith("docs.jsonl")]
    assert len(ranges) == -(-size // 20_000) and all(b.size <= 20_000 for b in ranges)
    assert ranges[0].start == 0 and ranges[-1].stop == size
    assert all(a.stop == b.start for a, b in itertools.pairwise(ranges))
    assert [i for b in ranges for i in _ids(b)] == ids  # every document once, in the file's order
    assert blocks[-1] == whole[-1]  # a compressed file is read whole
    assert cut(blocks) == blocks  # the same inputs are cut the same
    monkeypatch.setattr(batch_inputs, "BLOCK_BYTES", 50_000)  # a file past it is planned as ranges
    planned = plan(expand([str(tmp_path / "docs.jsonl")]))
    assert len(planned) > 1 and planned[0].stop == 50_000
    again = cut(planned)
    assert [(b.start, b.stop) for b in again][-1][1] == size and all(b.size <= 20_000 for b in again)
    assert all(a.stop == b.start for a, b in itertools.pairwise(again))
    assert [i for b in again for i in _ids(b)] == ids
    monkeypatch.setattr(cluster_module, "LOCAL_BYTES", size)  # an input for Ray keeps the inputs' blocks
    assert cut(whole) == whole


@pytest.fixture(scope="module")
def runs(corpus: LabelledCorpus, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:  # type: ignore[type-arg]
    """The same job over one file cut into 8 ranges, with bad records: in this process (one worker) and
    by two forked workers."""
    folder = tmp_path_factory.mktemp("local")
    path = folder / "docs.jsonl"
    _write(path, corpus, bad=True)
    out: dict[str, tuple[Path, dict]] = {}  # type: ignore[type-arg]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cluster_module, "SMALL_BLOCK_BYTES", path.stat().st_size // 8 + 1)
        for name, workers in (("one", 1), ("forked", 2)):
            result = run_cluster(
                [str(path)], folder / name, settings=ClusterSettings(), key=None, local_workers=workers
            )
            out[name] = (folder / name, result.summary | {"bad": result.bad})
    return out


def test_forked_workers_give_the_answers_of_one_process_and_of_the_library(
    corpus: LabelledCorpus,
    runs: dict[str, tuple[Path, dict]],  # type: ignore[type-arg]
) -> None:
    (one, s1), (forked, s2) = runs["one"], runs["forked"]
    assert s1["executor"] == s2["executor"] == "process"
    assert (s1["local_workers"], s2["local_workers"], s1["blocks"], s2["blocks"]) == (1, 2, 8, 8)
    expected = cluster(corpus.texts, ids=corpus.ids).rows()
    assert read_clusters(one) == read_clusters(forked) == expected
    edges = read_edges(one)
    assert edges and read_edges(forked) == edges  # spans included
    for key in ("documents", "edges", "families", "largest_family", "bad_records"):
        assert s1[key] == s2[key], key
    assert (one / "report.html").read_bytes() == (forked / "report.html").read_bytes()


def test_bad_records_keep_their_lines_across_the_ranges(runs: dict[str, tuple[Path, dict]]) -> None:  # type: ignore[type-arg]
    for _, summary in runs.values():
        rows = sorted((b["row"], b["reason"]) for b in summary["bad"])
        assert [r for r, _ in rows] == [11, 12], rows
        assert "text" in rows[0][1] and "JSON" in rows[1][1]
