"""``copytrace scan`` on a two-node Ray cluster (two raylets on this machine): both nodes work, the second
gets the index through the object store once, and the answers are those of one process."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .scan_corpus import bank_files, documents, read_rows, reference_rows, write_jsonl

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a two-node Ray cluster


@pytest.fixture(scope="module")
def node_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The cache folder the cluster's workers see (their environment is fixed when the nodes start)."""
    path = tmp_path_factory.mktemp("node-cache")
    before = os.environ.get("COPYTRACE_CACHE")
    os.environ["COPYTRACE_CACHE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("COPYTRACE_CACHE", None)
    else:
        os.environ["COPYTRACE_CACHE"] = before


@pytest.fixture(scope="module")
def two_nodes(node_cache: Path) -> Iterator[object]:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.ERROR)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_both_nodes_scan_and_the_answers_are_one_process_answers(
    two_nodes: object, node_cache: Path, cli, tmp_path: Path
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
    copy = node_cache / "shared-index" / f"{file_digest(out / 'index.ctidx')}.ctidx"
    assert copy.exists() and copy.read_bytes() == (out / "index.ctidx").read_bytes()

    expected = reference_rows(os.environ["COPYTRACE_DB"], corpus)
    key = lambda r: (r["source"]["file"], r["source"]["row"], r["item_id"])  # noqa: E731
    assert sorted(read_rows(out), key=key) == sorted(expected, key=key)
