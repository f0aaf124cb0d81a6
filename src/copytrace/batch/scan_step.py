"""The scan's step: what one worker does with one block, whichever executor runs it.

``ScanStep`` maps the job's index once (``shared_index``), then for each block reads its documents
(``readers``), matches them ``CHUNK`` at a time with ``Index.match_many`` (one compiled call per batch) and
makes the block's rows a Parquet part (``match_schema``), with the block's statistics.  Worker processes on
one machine (``processes``) and Ray actors (``engine``) run this same object; only who records the part
differs (``ScanStep.out``).
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CopytraceError
from ..text.textio import DEFAULT_MAX_BYTES
from .inputs import Block, TableColumns
from .markers import JobDir
from .readers import Bad, BlockReading, Doc, read_block
from .scan_arrow import match_table
from .store_texts import StoreTexts

if TYPE_CHECKING:
    import pyarrow as pa

    from ..fingerprints.keys import Key
    from ..index import Index
    from .shared_index import SharedIndex

CHUNK = 512  # documents matched in one compiled call
PENDING_BYTES = 64 * 1024 * 1024  # ... or fewer, when their texts reach this many characters
BAD_KEPT = 100  # bad records named in a block's marker (all are counted)
IDS_METADATA = b"copytrace.ids"  # a part's Parquet metadata: the ids of all its block's documents, in order


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
            ("quote", pa.struct([("tokens", pa.int64()), ("bits", pa.float64())])),  # null unless a quote
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
    table = match_table(rows, match_schema())
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


WARM_TEXT = "a few words to load the compiled loops with, " * 8


class ScanStep:
    """A worker's work, on either executor: the index, opened once, and a block at a time matched against it.

    With ``out`` (the job's folder, which the worker can write: the local executor), the worker records each
    block itself (part, then marker) and sends the driver its statistics only; without it (Ray, where the
    folder may be on the driver's machine alone) the part travels back to the driver in the row."""

    def __init__(
        self,
        shared: SharedIndex,
        settings: ScanSettings,
        key: Key | None,
        store_url: str,
        out: str | None = None,
    ) -> None:
        from ..index.match import MatchParams

        self.settings = settings
        self.texts = StoreTexts(store_url)
        self.out = JobDir(Path(out)) if out is not None else None
        self.index = shared.open(
            key=key, match_params=MatchParams(min_score=settings.min_score), text_lookup=self.texts
        )

    def warm(self) -> None:
        """Do once what a first block would: load the compiled loops, import what encoding a part
        imports (pyarrow's Parquet writer; not pandas: ``scan_arrow``) and the quote pass's background
        model, so that forked workers start with it done."""
        import pyarrow.parquet as pq

        from ..index import quotes

        if self.index.match_params.quotes is not None:
            quotes.model(self.index.match_params.quotes)

        self.index.match_many([WARM_TEXT], banks=self.settings.banks, limit=self.settings.limit)
        pq.write_table(match_table([], match_schema()), io.BytesIO())

    def scan(self, block: Block, node: str | None = None) -> dict[str, Any]:
        """One block's row: ``key``, ``part`` (Parquet bytes; empty once recorded here), ``stats`` (JSON
        text, with ``error`` when the block could not be read) and ``recorded``."""
        try:
            part, st = scan_block(self.index, block, self.settings)
        except (CopytraceError, OSError, EOFError, ValueError) as exc:  # unreadable: the block fails alone
            part, st = b"", {"key": block.key, "file": block.path, "error": f"{type(exc).__name__}: {exc}"}
        st["node"] = node or socket.gethostname()
        if self.texts.problem:
            st["store_unreachable"] = self.texts.problem
        recorded = False
        if self.out is not None and "error" not in st:
            self.out.complete(block.key, part, st)
            part, recorded = b"", True
        return {"key": block.key, "part": part, "stats": json.dumps(st), "recorded": recorded}

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa
        import ray

        node = ray.get_runtime_context().get_node_id()
        rows = [self.scan(Block.from_row(json.loads(raw)), node) for raw in batch.column("block").to_pylist()]
        return pa.table(
            {
                "key": [r["key"] for r in rows],
                "part": pa.array([r["part"] for r in rows], pa.binary()),
                "stats": [r["stats"] for r in rows],
                "recorded": [r["recorded"] for r in rows],
            }
        )
