"""``scan``: every document of a corpus matched against banks, resumable, one row per match.

The step (``ScanStep``, one per worker) opens the job's index once (``shared_index``), then for each block
reads its documents (``readers``) and matches them 512 at a time with ``Index.match_many`` (one compiled
call per batch), making the block's match rows a Parquet part, with its statistics.  The same step runs on
either executor: worker processes forked on this machine (``processes``: each records its own blocks), or
Ray actors (``engine``: the driver records what they return).  The driver (``run_scan``) plans the blocks,
pins the index in the output folder, skips blocks finished by an earlier run, follows each block as it is
done (``markers``) and at the end gathers ``matches.parquet`` (or ``.jsonl``) and ``summary.json``.

A row is what ``copytrace match --jsonl`` prints for the document (``query`` is its id) plus ``source``:
``{"file", "row"}``, the line of a JSON Lines file or the 1-based row of a Parquet file (null for a ``.txt``
file, which is one document).  Ids are not required to be unique: documents that share an id are all
scanned, their rows told apart by ``source``, and counted in ``summary.json`` (``duplicate_ids``) with a
warning naming the first 20.

Memory: a worker holds one record at a time while reading (at most ``--max-size`` bytes of it, however long
the line: ``readers``) and the documents of one batch, at most ``CHUNK`` of them or ``PENDING_BYTES`` of
text, whichever comes first; the driver holds 8 bytes per document while it looks for duplicate ids.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CopytraceError
from . import cluster_arrow as arrow
from .inputs import Block, expand, plan
from .markers import JobDir, lost_blocks, write_atomic
from .readers import DUPLICATES_SHOWN, duplicate_ids, warn_duplicates
from .scan_step import CHUNK, IDS_METADATA, ScanSettings, ScanStep, match_schema, peak_rss, scan_block

__all__ = [
    "CHUNK",
    "ScanResult",
    "ScanSettings",
    "ScanStep",
    "match_schema",
    "peak_rss",
    "run_scan",
    "scan_block",
]

if TYPE_CHECKING:
    import pyarrow as pa

    from ..fingerprints.keys import Key

log = logging.getLogger("copytrace.batch")


@dataclass
class ScanResult:
    """What ``run_scan`` did, as written to ``summary.json``."""

    summary: dict[str, Any]
    bad: list[dict[str, Any]]


def run_scan(
    inputs: list[str],
    out: Path,
    *,
    store: Any,
    settings: ScanSettings,
    key: Key | None,
    output_format: str = "parquet",
    resume: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
    on_start: Callable[[int, int, int], None] | None = None,
    on_block: Callable[[dict[str, Any]], None] | None = None,
    executor: str = "auto",
) -> ScanResult:
    """Scan ``inputs`` against ``settings.banks`` of ``store`` into the folder ``out``.

    ``on_start(blocks to do, their bytes, blocks already done)`` and ``on_block(stats)`` follow the work (the
    CLI's progress bar).  The index is built once and pinned in ``out``: a resumed scan searches the banks as
    they were when it started.  ``executor`` (``use_ray``): ``processes`` (worker processes forked on this
    machine), ``ray`` (the cluster at ``ray_address``, else a private Ray), or ``auto``: Ray when a cluster
    is named or this program runs one already, else processes.
    """
    from ..fingerprints.keys import PUBLIC_KEY
    from ..index.match import MatchParams

    started = time.perf_counter()
    files = expand(inputs)
    blocks = plan(files, settings.columns)
    job = {
        "command": "scan",
        "inputs": [_absolute(i) for i in inputs],
        "banks": list(settings.banks),
        "store": store.url,
        "key_id": (key or PUBLIC_KEY).key_id,
        "limit": settings.limit,
        "min_score": settings.min_score,
        "per_family": settings.per_family,
        "columns": asdict(settings.columns),
        "max_bytes": settings.max_bytes,
    }
    folder = JobDir(out)
    resumed = folder.open(job, resume=resume)
    changed = folder.changed_inputs({f.url: f.identity for f in files})
    if resumed and changed:
        log.warning(
            "resuming with input files that differ from the earlier run: their blocks are scanned again, "
            f"the other blocks kept: {'; '.join(changed[:DUPLICATES_SHOWN])}"
            + (f"; and {len(changed) - DUPLICATES_SHOWN} more" if len(changed) > DUPLICATES_SHOWN else "")
        )
    if not (resumed and folder.index_file.exists()):
        index = store.build_index(
            list(settings.banks), key=key, match_params=MatchParams(min_score=settings.min_score)
        )
        index.save(folder.index_file)
        del index
    from ..index import Index

    n_items = len(Index.load(folder.index_file, key=key))

    keys = [b.key for b in blocks]
    done = folder.finished(keys)
    todo = [b for b in blocks if b.key not in done]
    if on_start is not None:
        on_start(len(todo), sum(b.size for b in todo), len(done))
    scanned: dict[str, dict[str, Any]] = {}
    failed: list[dict[str, Any]] = []
    runner = _on_ray if use_ray(executor, ray_address) else _on_processes
    started_engine = time.perf_counter()
    cluster: dict[str, Any] = {}
    start_seconds, scan_started = 0.0, started_engine
    if todo:
        with runner(
            folder,
            todo,
            store_url=store.url,
            settings=settings,
            key=key,
            address=ray_address,
            workers=workers,
        ) as (cluster, results):
            scan_started = time.perf_counter()
            start_seconds = scan_started - started_engine
            for row in results:
                stats = json.loads(row["stats"])
                if "error" in stats:
                    failed.append(stats)
                    continue
                if not row.get("recorded"):
                    folder.complete(row["key"], row["part"], stats)
                scanned[row["key"]] = stats
                if on_block is not None:
                    on_block(stats)
            log_file = out / "ray.log" if cluster.get("executor") == "ray" else None
            failed.extend(lost_blocks(todo, scanned, failed, log_file))
    scan_seconds = time.perf_counter() - scan_started
    finish_started = time.perf_counter()
    every = {**done, **scanned}
    if failed:
        first = failed[0]
        raise CopytraceError(
            f"{len(failed)} block(s) could not be read (first: {first['file']}: {first['error']}); the "
            "others are recorded: fix the input and run the same command with --resume"
        )
    missing = [b for b in blocks if b.key not in every]
    if missing:
        raise CopytraceError(f"{len(missing)} block(s) were not scanned; run the same command with --resume")
    output = _gather(folder, blocks, every, output_format)
    bad = _bad_records(blocks, every)
    duplicates = duplicate_ids(block_ids(folder, blocks))
    finished = time.perf_counter()
    wall, finish_seconds = finished - started, finished - finish_started
    docs_now = sum(s["documents"] for s in scanned.values())
    summary = {
        "command": "scan",
        "documents": sum(s["documents"] for s in every.values()),
        "bytes": sum(s["bytes"] for s in every.values()),
        "matched_documents": sum(s["matched_documents"] for s in every.values()),
        "matches": sum(s["matches"] for s in every.values()),
        "bad_records": sum(s["bad_records"] for s in every.values()),
        "bad": bad[:1000],
        "duplicate_ids": duplicates,
        "blocks": len(blocks),
        "blocks_resumed": len(done),
        "banks": list(settings.banks),
        "bank_items": n_items,
        "output": str(output),
        "wall_seconds": round(wall, 3),
        "executor": cluster.get("executor"),
        "prepare_seconds": round(started_engine - started, 3),
        "start_seconds": round(start_seconds, 3),
        "ray_start_seconds": round(start_seconds, 3) if cluster.get("executor") == "ray" else None,
        "scan_seconds": round(scan_seconds, 3),
        "finish_seconds": round(finish_seconds, 3),
        "documents_this_run": docs_now,
        "documents_per_second": round(docs_now / scan_seconds, 1) if docs_now and scan_seconds > 0 else None,
        "ray": cluster if cluster.get("executor") == "ray" else None,
        "engine": cluster or None,
        "worker_peak_rss": max((int(st.get("worker_peak_rss", 0)) for st in scanned.values()), default=None),
    }
    unreachable = sorted({st["store_unreachable"] for st in every.values() if "store_unreachable" in st})
    if unreachable:
        summary["item_offsets"] = f"null in some rows: a worker could not open the store ({unreachable[0]})"
    write_atomic(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    warn_duplicates(duplicates, "scanned")
    return ScanResult(summary, bad)


def block_ids(folder: JobDir, blocks: list[Block]) -> Iterator[list[str]]:
    """The ids of each block's documents, in order, from its part."""
    import pyarrow.parquet as pq

    for b in blocks:
        meta = pq.read_schema(folder.part(b.key)).metadata or {}
        yield json.loads(meta.get(IDS_METADATA, b"[]"))


def _absolute(url: str) -> str:
    return url if "://" in url else os.path.abspath(url)


def _line_offsets(blocks: list[Block], stats: dict[str, dict[str, Any]]) -> dict[str, int]:
    """For each JSON Lines range, the lines of its file's earlier ranges (ranges are planned in order)."""
    offsets: dict[str, int] = {}
    seen: dict[str, int] = {}
    for b in blocks:
        if b.kind != "jsonl":
            continue
        offsets[b.key] = seen.get(b.path, 0)
        seen[b.path] = offsets[b.key] + int(stats[b.key]["lines"])
    return offsets


def _rows_of(folder: JobDir, blocks: list[Block], stats: dict[str, dict[str, Any]]) -> Iterator[pa.Table]:
    """Each block's part as a table of ``match_schema``, its rows' line numbers made the file's.  Read and
    mended through Arrow's buffers (``ParquetFile``, no compute function): ``pq.read_table`` and
    ``pyarrow.compute`` import pandas and the dataset module, a third of a second of every scan's end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = match_schema()
    offsets = _line_offsets(blocks, stats)
    for b in blocks:
        table = pq.ParquetFile(folder.part(b.key)).read()
        if table.schema.names != schema.names:  # a part of an earlier version: a column it did not have
            table = pa.Table.from_arrays(
                [
                    table.column(f.name) if f.name in table.schema.names else pa.nulls(table.num_rows, f.type)
                    for f in schema
                ],
                schema=schema,
            )
        shift = offsets.get(b.key, 0)
        if shift and table.num_rows:
            source = table.column("source").combine_chunks()
            rows = [None if r is None else r + shift for r in source.field("row").to_pylist()]
            fixed = pa.StructArray.from_arrays(
                [source.field("file"), arrow.optional_ints(rows)], fields=list(schema.field("source").type)
            )
            table = table.set_column(schema.get_field_index("source"), "source", fixed)
        yield table


def _gather(folder: JobDir, blocks: list[Block], stats: dict[str, dict[str, Any]], fmt: str) -> Path:
    """Write the job's matches from the parts of ``blocks``, in the order of the blocks."""
    import pyarrow.parquet as pq

    if fmt == "parquet":
        path = folder.root / "matches.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        with pq.ParquetWriter(tmp, match_schema()) as writer:
            for table in _rows_of(folder, blocks, stats):
                writer.write_table(table)
        os.replace(tmp, path)
        return path
    path = folder.root / "matches.jsonl"
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for table in _rows_of(folder, blocks, stats):
            for row in table.to_pylist():
                if row["quote"] is None:  # as Match.to_dict: the key only on a quote
                    del row["quote"]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def _bad_records(blocks: list[Block], stats: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    offsets = _line_offsets(blocks, stats)
    out = []
    for b in blocks:
        shift = offsets.get(b.key, 0)
        for rec in stats[b.key]["bad"]:
            row = rec["row"] + shift if rec["row"] is not None else None
            out.append({"file": rec["file"], "row": row, "reason": rec["reason"]})
    return out


EXECUTORS = ("auto", "processes", "ray")


def use_ray(executor: str, address: str | None) -> bool:
    """Whether a scan runs on Ray: asked for, or (``auto``) a cluster named by ``address`` or
    ``$RAY_ADDRESS``, or a Ray this program started itself (``ray.init`` before the job)."""
    import sys

    if executor not in EXECUTORS:
        raise CopytraceError(f"unknown executor {executor!r}: one of {', '.join(EXECUTORS)}")
    if executor == "processes":
        if address:
            raise CopytraceError(
                f"--executor processes runs on this machine only, and --ray-address names {address}: "
                "leave out one of the two"
            )
        return False
    if executor == "ray" or address or os.environ.get("RAY_ADDRESS"):
        return True
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


Runner = Iterator[tuple[dict[str, Any], Iterator[dict[str, Any]]]]


@contextlib.contextmanager
def _on_processes(
    folder: JobDir,
    todo: list[Block],
    *,
    store_url: str,
    settings: ScanSettings,
    key: Key | None,
    address: str | None,
    workers: int | None,
) -> Runner:
    """The local executor (``processes``): the step made ready here, once, then forked; each worker
    records its own blocks in ``folder``."""
    from . import engine, processes
    from .shared_index import SharedIndex

    started = time.perf_counter()
    path = folder.index_file.resolve()
    shared = SharedIndex(str(path), "", path.stat().st_size, "")
    step = ScanStep(shared, settings, key, store_url, out=str(folder.root))
    step.warm()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    n = min(workers or cpus, len(todo))
    cluster = {
        "executor": "processes",
        "address": "local",
        "private": False,
        "nodes": 1,
        "cpus": cpus,
        "workers": n,
        "start_seconds": round(time.perf_counter() - started, 3),
    }
    engine.ready(cluster)
    yield cluster, processes.run(step.scan, todo, workers=n, max_tries=engine.MAX_TRIES)


@contextlib.contextmanager
def _on_ray(
    folder: JobDir,
    todo: list[Block],
    *,
    store_url: str,
    settings: ScanSettings,
    key: Key | None,
    address: str | None,
    workers: int | None,
) -> Runner:
    """Ray: the cluster named, or a private one; the driver records each block as its row comes back."""
    from . import engine
    from .shared_index import SharedIndex

    with engine.native_log(folder.root / "ray.log"), engine.session(address) as cluster:
        shared = SharedIndex.publish(folder.index_file)
        actors = min(workers or cluster["cpus"], len(todo))
        cluster["actors"] = actors
        results = engine.run(
            ScanStep,
            todo,
            constructor_kwargs={"shared": shared, "settings": settings, "key": key, "store_url": store_url},
            actors=actors,
        )
        yield cluster, results
