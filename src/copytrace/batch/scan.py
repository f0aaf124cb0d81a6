"""``scan``: every document of a corpus matched against banks, on Ray, resumable, one row per match.

The step (``ScanStep``, one per Ray actor) opens the job's index once (``shared_index``), then for each
block reads its documents (``readers``) and matches them 512 at a time with ``Index.match_many`` (one
compiled call per batch), returning the block's match rows as a Parquet part and its statistics.  The driver
(``run_scan``) plans the blocks, pins the index in the output folder, skips blocks finished by an earlier
run, records each block as it arrives (``markers``) and at the end gathers ``matches.parquet`` (or
``.jsonl``) and ``summary.json``.

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

import io
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CopytraceError
from ..text.textio import DEFAULT_MAX_BYTES
from .inputs import Block, TableColumns, expand, plan
from .markers import JobDir, lost_blocks, write_atomic
from .readers import DUPLICATES_SHOWN, Bad, BlockReading, Doc, duplicate_ids, read_block, warn_duplicates

if TYPE_CHECKING:
    import pyarrow as pa

    from ..fingerprints.keys import Key
    from ..index import Index
    from .shared_index import SharedIndex

CHUNK = 512  # documents matched in one compiled call
PENDING_BYTES = 64 * 1024 * 1024  # ... or fewer, when their texts reach this many characters
BAD_KEPT = 100  # bad records named in a block's marker (all are counted)
IDS_METADATA = b"copytrace.ids"  # a part's Parquet metadata: the ids of all its block's documents, in order

log = logging.getLogger("copytrace.batch")


def match_schema() -> pa.Schema:
    """The columns of a match row (``Match.to_dict()`` plus ``source``)."""
    import pyarrow as pa

    span = pa.struct(
        [
            ("query_start", pa.int64()),
            ("query_end", pa.int64()),
            ("item_start", pa.int64()),
            ("item_end", pa.int64()),
        ]
    )
    return pa.schema(
        [
            ("query", pa.string()),
            ("bank", pa.string()),
            ("item_id", pa.string()),
            ("score", pa.float64()),
            ("query_containment", pa.float64()),
            ("item_containment", pa.float64()),
            ("spans", pa.list_(span)),
            ("family", pa.string()),
            ("family_size", pa.int64()),
            ("kind", pa.string()),
            ("source", pa.struct([("file", pa.string()), ("row", pa.int64())])),
        ]
    )


@dataclass(frozen=True)
class ScanSettings:
    """What a scan matches and how: the same options as ``copytrace match``."""

    banks: tuple[str, ...]
    limit: int | None = None
    min_score: float = 0.0
    per_family: bool = True
    columns: TableColumns = field(default_factory=TableColumns)
    max_bytes: int = DEFAULT_MAX_BYTES


def peak_rss() -> int:
    """The most memory this process has held so far, in bytes (Linux reports kilobytes, macOS bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def scan_block(index: Index, block: Block, settings: ScanSettings) -> tuple[bytes, dict[str, Any]]:
    """Match every document of ``block``; its rows as Parquet bytes, and its statistics."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    counts = BlockReading()
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    n_bad = docs = matched = pending_chars = 0
    pending: list[Doc] = []
    ids: list[str] = []

    def flush() -> None:
        nonlocal matched, pending_chars
        answers = index.match_many(
            [d.text for d in pending],
            banks=settings.banks,
            limit=settings.limit,
            queries=[d.id for d in pending],
            per_family=settings.per_family,
        )
        for doc, matches in zip(pending, answers, strict=True):
            matched += bool(matches)
            for m in matches:
                row = m.to_dict()
                row["source"] = {"file": doc.file, "row": doc.row}
                rows.append(row)
        pending.clear()
        pending_chars = 0

    for rec in read_block(block, settings.columns, counts, max_bytes=settings.max_bytes):
        if isinstance(rec, Bad):
            n_bad += 1
            if len(bad) < BAD_KEPT:
                bad.append({"file": rec.file, "row": rec.row, "reason": rec.reason})
            continue
        docs += 1
        ids.append(rec.id)
        pending.append(rec)
        pending_chars += len(rec.text)
        if len(pending) >= CHUNK or pending_chars >= PENDING_BYTES:
            flush()
    if pending:
        flush()
    sink = io.BytesIO()
    table = pa.Table.from_pylist(rows, schema=match_schema())
    pq.write_table(table.replace_schema_metadata({IDS_METADATA: json.dumps(ids).encode()}), sink)
    stats = {
        "key": block.key,
        "file": block.path,
        "kind": block.kind,
        "start": block.start,
        "documents": docs,
        "bytes": counts.nbytes,
        "lines": counts.lines,
        "matched_documents": matched,
        "matches": len(rows),
        "bad_records": n_bad,
        "bad": bad,
        "seconds": round(time.perf_counter() - started, 6),
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "worker_peak_rss": peak_rss(),
    }
    return sink.getvalue(), stats


class ScanStep:
    """A Ray actor's work: the index, opened once, and a block at a time matched against it."""

    def __init__(self, shared: SharedIndex, settings: ScanSettings, key: Key | None, store_url: str) -> None:
        from ..index.match import MatchParams

        self.settings = settings
        self._store_url = store_url
        self._store: Any = None
        self.store_problem: str | None = None
        self.index = shared.open(
            key=key, match_params=MatchParams(min_score=settings.min_score), text_lookup=self._text
        )

    def _text(self, bank: str, item_id: str) -> str | None:
        """An item's stored text for its spans, from the store (opened on the first match).  A worker that
        cannot reach the store (an SQLite file on another machine) reports item offsets as null, as for an
        item stored as a fingerprint only, and says so in its block's statistics."""
        if self._store is None:
            from ..store import Store

            try:
                self._store = Store(self._store_url)
            except CopytraceError as exc:
                self._store = False
                self.store_problem = str(exc)
        if self._store is False:
            return None
        text: str | None = self._store.text(bank, item_id)
        return text

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa
        import ray

        node = ray.get_runtime_context().get_node_id()
        keys, parts, stats = [], [], []
        for raw in batch.column("block").to_pylist():
            block = Block.from_row(json.loads(raw))
            try:
                part, st = scan_block(self.index, block, self.settings)
            except (
                CopytraceError,
                OSError,
                EOFError,
                ValueError,
            ) as exc:  # unreadable: the block fails, not the job
                part, st = (
                    b"",
                    {"key": block.key, "file": block.path, "error": f"{type(exc).__name__}: {exc}"},
                )
            st["node"] = node
            if self.store_problem:
                st["store_unreachable"] = self.store_problem
            keys.append(block.key)
            parts.append(part)
            stats.append(json.dumps(st))
        return pa.table({"key": keys, "part": pa.array(parts, pa.binary()), "stats": stats})


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
) -> ScanResult:
    """Scan ``inputs`` against ``settings.banks`` of ``store`` into the folder ``out``.

    ``on_start(blocks to do, their bytes, blocks already done)`` and ``on_block(stats)`` follow the work (the
    CLI's progress bar).  The index is built once and pinned in ``out``: a resumed scan searches the banks as
    they were when it started.
    """
    from ..fingerprints.keys import PUBLIC_KEY
    from ..index.match import MatchParams
    from . import engine
    from .shared_index import SharedIndex

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
    cluster: dict[str, Any] = {}
    scanned: dict[str, dict[str, Any]] = {}
    failed: list[dict[str, Any]] = []
    ray_seconds = 0.0
    scan_started = time.perf_counter()
    if todo:
        with engine.native_log(out / "ray.log"), engine.session(ray_address) as cluster:
            shared = SharedIndex.publish(folder.index_file)
            ray_seconds = time.perf_counter() - scan_started
            scan_started = time.perf_counter()
            actors = workers or cluster["cpus"]
            results = engine.run(
                ScanStep,
                todo,
                constructor_kwargs={
                    "shared": shared,
                    "settings": settings,
                    "key": key,
                    "store_url": store.url,
                },
                actors=actors,
            )
            for row in results:
                stats = json.loads(row["stats"])
                if "error" in stats:
                    failed.append(stats)
                    continue
                folder.complete(row["key"], row["part"], stats)
                scanned[row["key"]] = stats
                if on_block is not None:
                    on_block(stats)
            cluster["actors"] = min(actors, len(todo))
            failed.extend(lost_blocks(todo, scanned, failed, out / "ray.log"))
    scan_seconds = time.perf_counter() - scan_started
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
    wall = time.perf_counter() - started
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
        "ray_start_seconds": round(ray_seconds, 3),
        "scan_seconds": round(scan_seconds, 3),
        "documents_this_run": docs_now,
        "documents_per_second": round(docs_now / scan_seconds, 1) if docs_now and scan_seconds > 0 else None,
        "ray": cluster or None,
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
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    offsets = _line_offsets(blocks, stats)
    for b in blocks:
        table = pq.read_table(folder.part(b.key), schema=match_schema())
        shift = offsets.get(b.key, 0)
        if shift and table.num_rows:
            source = table.column("source").combine_chunks()
            rows = pc.add(source.field("row"), shift)
            fixed = pa.StructArray.from_arrays([source.field("file"), rows], names=["file", "row"])
            table = table.set_column(table.schema.get_field_index("source"), "source", fixed)
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
