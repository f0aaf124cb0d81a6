"""``copytrace cluster`` and ``copytrace scan`` on one two-node Ray cluster (two raylets on this machine),
started once for both: both nodes work, the second gets the index once (through the object store, or the
texts through the shared cache folder), and the answers are those of one process."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from copytrace.batch.clustering import cluster

from .cluster_corpus_files import job_order, read_clusters, small_corpus, write_files
from .conftest import lighter_ray
from .scan_corpus import bank_files, documents, read_rows, reference_rows, write_jsonl

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a two-node Ray cluster


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The cluster, joined by this process; the cache folder its workers see (their environment is fixed when
    the nodes start)."""
    from ray.cluster_utils import Cluster

    cache = tmp_path_factory.mktemp("node-cache")
    before = os.environ.get("COPYTRACE_CACHE")
    os.environ["COPYTRACE_CACHE"] = str(cache)  # what the nodes' workers see
    with lighter_ray() as config:
        cluster_ = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 1, "include_dashboard": False, "_system_config": config},
        )
        cluster_.add_node(num_cpus=1)
    cluster_.wait_for_nodes()
    ray.init(address=cluster_.address, log_to_driver=False, logging_level=logging.ERROR)
    yield cache
    ray.shutdown()
    cluster_.shutdown()
    if before is None:
        os.environ.pop("COPYTRACE_CACHE", None)
    else:
        os.environ["COPYTRACE_CACHE"] = before


def test_two_nodes_give_the_clusters_of_one_process(two_nodes: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    corpus = small_corpus()
    folder = write_files(tmp_path / "corpus", corpus, 8)
    out = tmp_path / "out"
    code, _, err = cli("cluster", folder, "--out", out, "--workers", "2", "--components", "distributed")
    assert code == 0, err
    markers = [json.loads(p.read_text()) for p in (out / "done").glob("*.json")]
    assert len(markers) == 3 * 8
    assert len({m["node"] for m in markers}) == 2  # both nodes did work
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ray"]["nodes"] == 2
    assert any((two_nodes / "shared-index").glob("*.bin"))  # the texts went to the other node once
    order = job_order(folder)
    texts = dict(zip(corpus.ids, corpus.texts, strict=True))
    assert read_clusters(out) == cluster([texts[i] for i in order], ids=order).rows()


def test_both_nodes_scan_and_the_answers_are_one_process_answers(
    two_nodes: Path, cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from copytrace.batch.shared_index import file_digest

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    assert cli("bank", "add", "ref", *bank_files())[0] == 0
    docs = documents()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in range(8):
        write_jsonl(corpus / f"part-{f}.jsonl", [{**d, "id": f"{f}-{d['id']}"} for d in docs])
    out = tmp_path / "out"
    code, _, err = cli("scan", corpus, "--out", out, "--workers", "2")
    assert code == 0, err

    markers = [json.loads(p.read_text()) for p in (out / "done").glob("*.json")]
    assert len(markers) == 8
    assert len({m["node"] for m in markers}) == 2  # both nodes did work
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ray"]["nodes"] == 2 and summary["ray"]["actors"] == 2
    copy = two_nodes / "shared-index" / f"{file_digest(out / 'index.ctidx')}.ctidx"
    assert copy.exists() and copy.read_bytes() == (out / "index.ctidx").read_bytes()

    expected = reference_rows(os.environ["COPYTRACE_DB"], corpus)
    key = lambda r: (r["source"]["file"], r["source"]["row"], r["item_id"])  # noqa: E731
    assert sorted(read_rows(out), key=key) == sorted(expected, key=key)
