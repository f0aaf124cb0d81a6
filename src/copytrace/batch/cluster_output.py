"""The end of a ``cluster`` job: which edges it keeps, the components' inputs, and the files it writes.

Each block's edges part holds the edges its documents found, from both sides of a pair; ``kept_edges`` keeps
one row per linked pair (the one found from ``a``'s side, whose spans were measured on ``a``'s text) and,
under ``--link near-duplicate``, only versions.  ``component_edges`` is what the components join: those
edges and the version links.  ``write_outputs`` writes ``clusters`` and ``edges`` (Parquet or JSON Lines),
documents named by id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import cluster_arrow as arrow
from .cluster_files import cluster_schema, edge_schema
from .clustering import pair_order
from .inputs import Block

if TYPE_CHECKING:
    import pyarrow as pa

    from .cluster_job import ClusterJob


def kept_edges(job: ClusterJob, link: str) -> dict[str, np.ndarray]:
    """For each block's edges part, which rows are kept: one per linked pair (that found from ``a``'s side
    where there is one), and only versions under ``near-duplicate``."""
    from ..index.families import VERSION_CONTAINMENT

    a_all, b_all, side_all, ok_all, sizes = [], [], [], [], []
    for blk in job.blocks:
        t = job.part("edges", blk, ["a", "b", "from_a", "a_containment", "b_containment"])
        a_all.append(arrow.numbers(t.column("a"), np.int64))
        b_all.append(arrow.numbers(t.column("b"), np.int64))
        side_all.append(arrow.numbers(t.column("from_a"), bool))
        both = np.minimum(
            arrow.numbers(t.column("a_containment"), np.float64),
            arrow.numbers(t.column("b_containment"), np.float64),
        )
        ok_all.append(both >= VERSION_CONTAINMENT if link == "near-duplicate" else np.ones(len(both), bool))
        sizes.append(t.num_rows)
    if not sizes:
        return {}
    a, b, side, ok = (np.concatenate(x) for x in (a_all, b_all, side_all, ok_all))
    keep = np.zeros(len(a), dtype=bool)
    if len(a):
        keep[pair_order(a, b, side)] = True
    keep &= ok
    bounds = np.cumsum([0, *sizes])
    return {blk.key: keep[bounds[i] : bounds[i + 1]] for i, blk in enumerate(job.blocks)}


def component_edges(job: ClusterJob, keep: dict[str, np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """What the components join: each block's kept edges, then its version links."""
    for b in job.blocks:
        t = job.part("edges", b, ["a", "b"])
        k = keep[b.key]
        yield arrow.numbers(t.column("a"), np.int64)[k], arrow.numbers(t.column("b"), np.int64)[k]
        t = job.part("versions", b)
        yield arrow.numbers(t.column("a"), np.int64), arrow.numbers(t.column("b"), np.int64)


def ids_of(job: ClusterJob) -> list[str]:
    ids: list[str] = []
    for b in job.blocks:
        ids.extend(job.part("fingerprint", b, ["id"]).column("id").to_pylist())
    return ids


def edge_reader(job: ClusterJob, keep: dict[str, np.ndarray]) -> Callable[[], Iterator[pa.Table]]:
    """The kept edges (documents by number), part by part."""

    def read() -> Iterator[pa.Table]:
        for b in job.blocks:
            t = job.part("edges", b)
            yield t.filter(arrow.bools(keep[b.key])) if t.num_rows else t

    return read


def write_outputs(
    job: ClusterJob,
    fmt: str,
    ids: list[str],
    labels: np.ndarray,
    sizes: np.ndarray,
    keep: dict[str, np.ndarray],
) -> dict[str, Path]:
    import pyarrow as pa

    id_array = arrow.strings(ids)
    clusters = arrow.table(
        [id_array, id_array.take(arrow.numeric(labels)), arrow.numeric(sizes)], cluster_schema()
    )

    def edge_tables() -> Iterator[pa.Table]:
        for t in edge_reader(job, keep)():
            yield pa.Table.from_arrays(
                [
                    id_array.take(t.column("a")),
                    id_array.take(t.column("b")),
                    t.column("score"),
                    t.column("a_containment"),
                    t.column("b_containment"),
                    t.column("spans"),
                ],
                schema=edge_schema(),
            )

    root = job.folder.root
    return {
        "clusters": _write(root / f"clusters.{fmt}", fmt, cluster_schema(), iter([clusters])),
        "edges": _write(root / f"edges.{fmt}", fmt, edge_schema(), edge_tables()),
    }


def _write(path: Path, fmt: str, schema: pa.Schema, tables: Iterator[pa.Table]) -> Path:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "parquet":
        with pq.ParquetWriter(tmp, schema) as writer:
            for t in tables:
                writer.write_table(t)
    else:
        with open(tmp, "w", encoding="utf-8") as fh:
            for t in tables:
                for row in t.to_pylist():
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def bad_records(blocks: list[Block], stats: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Bad records with the file's own line numbers (a JSON Lines range counts from its start)."""
    out = []
    seen: dict[str, int] = {}
    for b in blocks:
        shift = seen.get(b.path, 0) if b.kind == "jsonl" else 0
        if b.kind == "jsonl":
            seen[b.path] = shift + int(stats[b.key]["lines"])
        for rec in stats[b.key]["bad"]:
            row = rec["row"] + shift if rec["row"] is not None else None
            out.append({"file": rec["file"], "row": row, "reason": rec["reason"]})
    return out
