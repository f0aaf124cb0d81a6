"""``copytrace cluster`` on a two-node Ray cluster (two raylets on this machine): both nodes work, and the
clusters are those of one process."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from copytrace.batch.clustering import cluster

from .cluster_corpus_files import job_order, read_clusters, small_corpus, write_files

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a two-node Ray cluster


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from ray.cluster_utils import Cluster

    cache = tmp_path_factory.mktemp("node-cache")
    before = os.environ.get("COPYTRACE_CACHE")
    os.environ["COPYTRACE_CACHE"] = str(cache)  # what the nodes' workers see
    cluster_ = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
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
