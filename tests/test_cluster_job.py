"""``copytrace cluster`` on a local Ray: the answers are ``copytrace.cluster``'s, every document appears once,
the outputs and report are written, the distributed components agree with union-find, resume and bad records
behave as in ``scan``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from copytrace.batch import inputs as batch_inputs
from copytrace.batch.cluster_corpus import LabelledCorpus, pair_scores
from copytrace.batch.clustering import cluster

from .cluster_corpus_files import job_order, read_clusters, read_edges, small_corpus, write_files
from .test_cluster import GRAPHS, _reference_components

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # the jobs on Ray join the test process's Ray


@pytest.fixture(scope="module")
def corpus() -> LabelledCorpus:
    return small_corpus()


@pytest.fixture(scope="module")
def expected(corpus: LabelledCorpus, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:  # type: ignore[type-arg]
    folder = write_files(tmp_path_factory.mktemp("corpus"), corpus, 3)
    order = job_order(folder)
    texts = dict(zip(corpus.ids, corpus.texts, strict=True))
    return folder, cluster([texts[i] for i in order], ids=order).rows()


@pytest.mark.parametrize(
    ("fmt", "executor"),
    [("parquet", "ray"), ("jsonl", "process"), ("parquet", "process")],
    ids=["parquet-ray", "jsonl-process", "parquet-process"],
)
def test_the_job_gives_the_library_clusters_and_writes_every_output(
    cli,
    corpus: LabelledCorpus,
    expected: tuple[Path, list[dict]],
    tmp_path: Path,
    fmt: str,
    executor: str,  # type: ignore[type-arg]
    request: pytest.FixtureRequest,
) -> None:  # type: ignore[no-untyped-def]
    """On Ray (``--workers``: the test process's Ray, joined for this test; a job's private Ray is
    ``test_ray_private``'s and ``test_cluster_processes``') or, for a small job that names no Ray, in the
    driver's process (no Ray is running then): the same clusters as the library, every output written."""
    if executor == "ray":
        request.getfixturevalue("shared_ray_now")
    folder, rows = expected
    out = tmp_path / "out"
    ray_options = ["--workers", "2"] if executor == "ray" else []
    code, _, err = cli("cluster", folder, "--out", out, "--format", fmt, *ray_options)
    assert code == 0, err
    assert ("clustered on this machine, without Ray" in err) == (executor == "process")
    got = read_clusters(out)
    assert got == rows
    assert sorted(r["id"] for r in got) == sorted(corpus.ids)  # every document exactly once
    truth = dict(zip(corpus.ids, corpus.labels, strict=True))
    scores = pair_scores([truth[r["id"]] for r in got], [r["cluster"] for r in got])
    assert scores["ari"] >= 0.95 and scores["precision"] >= 0.99, scores
    edges = read_edges(out)
    assert edges and {"a", "b", "score", "a_containment", "b_containment", "spans"} == set(edges[0])
    assert len({(e["a"], e["b"]) for e in edges}) == len(edges)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == len(corpus) and summary["edges"] == len(edges)
    assert summary["executor"] == executor and (summary["ray"] is None) == (executor == "process")
    if executor == "ray":  # Ray's start is named at the end when it was a large share of the job
        start = summary["ray"]["start_seconds"]
        assert ("Ray's start took" in err) == (start >= 0.3 * summary["wall_seconds"]), err
    assert summary["families"] == len({r["cluster"] for r in got if r["cluster_size"] > 1})
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<svg class="chart"' in page and "<mark" in page
    assert (out / "family-sizes.svg").read_text(encoding="utf-8").startswith("<svg")


def test_resume_skips_finished_blocks_and_refuses_another_job(
    cli,
    expected: tuple[Path, list[dict]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[type-arg]
) -> None:  # type: ignore[no-untyped-def]
    folder, rows = expected
    monkeypatch.setattr(batch_inputs, "BLOCK_BYTES", 40_000)
    big = tmp_path / "all.jsonl"
    big.write_bytes(b"".join(p.read_bytes() for p in sorted(folder.glob("*.jsonl"))))
    out = tmp_path / "out"
    assert cli("cluster", big, "--out", out, "--no-report")[0] == 0
    first = read_clusters(out)
    assert first == rows  # the same documents in the same order, cut into more blocks
    code, _, err = cli("cluster", big, "--out", out)
    assert code == 2 and "--resume" in err
    code, _, err = cli("cluster", big, "--out", out, "--resume", "--link", "near-duplicate")
    assert code == 2 and "link" in err
    markers = sorted((out / "done").glob("edges-*.json"))
    markers[1].unlink()
    code, _, err = cli("cluster", big, "--out", out, "--resume", "--no-report")
    assert code == 0, err
    assert "resuming edges" in err and "; 1 left" in err
    assert read_clusters(out) == first


def test_bad_records_are_named_and_skipped(cli, corpus: LabelledCorpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "posts.jsonl"
    good = [{"id": corpus.ids[i], "text": corpus.texts[i]} for i in range(20)]
    path.write_bytes(
        b"".join(json.dumps(d).encode() + b"\n" for d in good[:10])
        + b'{"id": "no-text"}\n{broken\n'
        + b"".join(json.dumps(d).encode() + b"\n" for d in good[10:])
    )
    code, _, err = cli("cluster", path, "--out", tmp_path / "out", "--no-report")
    assert code == 2
    assert f'{path}:11: "text" is missing' in err and f"{path}:12: malformed JSON" in err
    rows = read_clusters(tmp_path / "out")
    assert [r["id"] for r in rows] == [d["id"] for d in good]
    code, _, err = cli("cluster", tmp_path / "missing.jsonl", "--out", tmp_path / "o2")
    assert code == 2 and "no such file" in err


def test_distributed_components_give_the_same_clusters(
    cli,
    expected: tuple[Path, list[dict]],
    tmp_path: Path,  # type: ignore[type-arg]
    shared_ray: str,
) -> None:  # type: ignore[no-untyped-def]
    folder, rows = expected
    out = tmp_path / "out"
    code, _, err = cli("cluster", folder, "--out", out, "--components", "distributed", "--no-report")
    assert code == 0, err
    assert read_clusters(out) == rows
    assert json.loads((out / "summary.json").read_text())["components"] == "distributed"


def test_star_components_agree_with_union_find(shared_ray: str) -> None:
    from copytrace.batch import engine
    from copytrace.batch.components import star_components, union_find

    with engine.session():
        for name, (n, edges) in GRAPHS.items():
            a = np.array([e[0] for e in edges], dtype=np.int64)
            b = np.array([e[1] for e in edges], dtype=np.int64)
            halves = [(a[: len(a) // 2], b[: len(b) // 2]), (a[len(a) // 2 :], b[len(b) // 2 :])]
            labels = star_components(n, halves, parts=3)
            expected = _reference_components(n, edges)
            assert labels.tolist() == union_find(n, halves).tolist() == expected, name
