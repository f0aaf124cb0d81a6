"""The labelled corpus written as a cluster job reads it, and the job's clusters read back (cluster tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from copytrace.batch.cluster_corpus import LabelledCorpus, labelled_corpus

from .conftest import DATA


def small_corpus() -> LabelledCorpus:
    return labelled_corpus(DATA, families=30, singletons=150, seed=3)


def write_files(folder: Path, corpus: LabelledCorpus, n_files: int) -> Path:
    """The corpus as ``n_files`` JSON Lines files, documents dealt round-robin."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        with open(folder / f"part-{f:02d}.jsonl", "w", encoding="utf-8") as fh:
            for i in range(f, len(corpus), n_files):
                fh.write(json.dumps({"id": corpus.ids[i], "text": corpus.texts[i]}) + "\n")
    return folder


def job_order(folder: Path) -> list[str]:
    """The ids in the order a job numbers them (files in name order, lines in order)."""
    return [
        json.loads(line)["id"]
        for p in sorted(folder.glob("*.jsonl"))
        for line in p.read_text(encoding="utf-8").splitlines()
    ]


def read_clusters(out: Path) -> list[dict[str, Any]]:
    if (out / "clusters.jsonl").exists():
        return [
            json.loads(line) for line in (out / "clusters.jsonl").read_text(encoding="utf-8").splitlines()
        ]
    return pq.read_table(out / "clusters.parquet").to_pylist()  # type: ignore[no-any-return]


def read_edges(out: Path) -> list[dict[str, Any]]:
    if (out / "edges.jsonl").exists():
        return [json.loads(line) for line in (out / "edges.jsonl").read_text(encoding="utf-8").splitlines()]
    return pq.read_table(out / "edges.parquet").to_pylist()  # type: ignore[no-any-return]
