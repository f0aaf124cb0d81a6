"""The three passes of a ``cluster`` job (``copytrace.batch.cluster``), one block at a time, as a worker
runs them.

A pass is a step class: constructed once per worker (the index mapped, the text file opened), then called
block after block.  ``fingerprint`` reads a block and fingerprints its documents in compiled calls of
``CHUNK`` documents (``fingerprint_many``); ``versions`` and ``edges`` read it again and match it against the
job's indexes.  Each returns its block's part (Parquet bytes) and statistics; a block that cannot be read
fails alone, not the job.  The same step object runs in a Ray actor (``__call__`` on a batch of blocks) or
in the driver's own process (``row``), where a small job runs without Ray (``cluster_job``).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..errors import CopytraceError
from ..text.textio import DEFAULT_MAX_BYTES
from . import cluster_arrow as arrow
from .cluster_files import TextFile, edge_part_schema, fingerprint_batch, fingerprint_schema, read_part
from .clustering import CLUSTER_MATCH_PARAMS, UNWEIGHTED, Edge, edges_of, version_links
from .inputs import Block, TableColumns
from .readers import Bad, BlockReading, Doc, read_block

if TYPE_CHECKING:
    import pyarrow as pa

    from ..fingerprints.batch import FingerprintBatch
    from ..fingerprints.keys import Key
    from ..index import Index, TextLookup
    from ..index.match import MatchParams

CHUNK = 512  # documents fingerprinted or matched in one compiled call
PENDING_BYTES = 64 * 1024 * 1024  # ... or fewer, when their texts reach this many characters
BAD_KEPT = 100
# fingerprinted and matched once before workers are forked, so that they inherit the compiled kernels loaded
WARM_TEXT = " ".join(f"word{i}" for i in range(64))


@dataclass(frozen=True)
class ClusterSettings:
    """What a cluster job links and how."""

    link: str = "partial"
    min_score: float = CLUSTER_MATCH_PARAMS.min_score
    columns: TableColumns = field(default_factory=TableColumns)
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class MemoryIndex:
    """The corpus index built in the driver's memory from the fingerprints of the first pass (``batches``:
    document numbers and their fingerprints, block by block) with ``links`` as its families: a job run in
    process needs no snapshot file."""

    batches: list[tuple[range, FingerprintBatch]]
    links: dict[int, list[int]] | None = None

    def open(self, *, key: Key | None, match_params: MatchParams, text_lookup: TextLookup | None) -> Index:
        from .clustering import corpus_index

        return corpus_index(
            self.batches, key=key, match_params=match_params, links=self.links, text_lookup=text_lookup
        )


class IndexSource(Protocol):
    """Where a worker opens a job's index: ``shared_index.SharedIndex`` on Ray, ``LocalIndex`` in process."""

    def open(
        self, *, key: Key | None, match_params: MatchParams, text_lookup: TextLookup | None
    ) -> Index: ...


class FileSource(Protocol):
    """Where a worker finds a job's file: ``shared_index.SharedFile`` on Ray, ``LocalIndex`` in process."""

    def local_path(self) -> Path: ...


@dataclass(frozen=True)
class LocalIndex:
    """A file of the driver's, read by the driver itself (the job runs in its process): no Ray, no digest."""

    path: str

    def local_path(self) -> Path:
        return Path(self.path)

    def open(self, *, key: Key | None, match_params: MatchParams, text_lookup: TextLookup | None) -> Index:
        from ..index import Index

        return Index.load(self.local_path(), key=key, match_params=match_params, text_lookup=text_lookup)


def _read(block: Block, settings: ClusterSettings, stats: dict[str, Any]) -> Iterator[list[Doc]]:
    """The documents of ``block`` in chunks; bad records are counted into ``stats``."""
    counts = BlockReading()
    bad: list[dict[str, Any]] = []
    n_bad = docs = chars = 0
    pending: list[Doc] = []
    for rec in read_block(block, settings.columns, counts, max_bytes=settings.max_bytes):
        if isinstance(rec, Bad):
            n_bad += 1
            if len(bad) < BAD_KEPT:
                bad.append({"file": rec.file, "row": rec.row, "reason": rec.reason})
            continue
        docs += 1
        pending.append(rec)
        chars += len(rec.text)
        if len(pending) >= CHUNK or chars >= PENDING_BYTES:
            yield pending
            pending, chars = [], 0
    if pending:
        yield pending
    stats.update(documents=docs, bytes=counts.nbytes, lines=counts.lines, bad_records=n_bad, bad=bad)


def _parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def fingerprint_block(
    block: Block, settings: ClusterSettings, key: Key | None
) -> tuple[bytes, dict[str, Any]]:
    """Pass 1 on ``block``: its documents' ids, sources, fingerprints and texts as a Parquet part."""
    import pyarrow as pa

    from ..fingerprints.batch import fingerprint_many

    stats: dict[str, Any] = {"key": block.key, "file": block.path, "kind": block.kind, "start": block.start}
    tables = []
    for docs in _read(block, settings, stats):
        batch, _ = fingerprint_many([d.text for d in docs], key=key)
        offsets = arrow.numeric(batch.offsets, np.int32)
        tables.append(
            arrow.table(
                [
                    arrow.strings([d.id for d in docs]),
                    arrow.strings([d.file for d in docs]),
                    arrow.optional_ints([d.row for d in docs]),
                    arrow.numeric(batch.n_tokens),
                    pa.ListArray.from_arrays(offsets, arrow.numeric(batch.hashes, np.uint64)),
                    pa.ListArray.from_arrays(offsets, arrow.numeric(batch.positions)),
                    arrow.strings([d.text for d in docs], large=True),
                ],
                fingerprint_schema(),
            )
        )
    table = pa.concat_tables(tables) if tables else arrow.empty(fingerprint_schema())
    return _parquet(table), stats


def versions_block(
    index: Index,
    block: Block,
    first: int,
    settings: ClusterSettings,
    key: Key | None,
    part: tuple[str, dict[str, Any]] | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """Pass 2 on ``block`` (its documents numbered from ``first``): each document's version links.  With
    ``part`` (the block's fingerprint part on this machine, and what the first pass counted in it) the
    fingerprints are read from there; else the block is read and fingerprinted again."""
    import pyarrow as pa

    from ..fingerprints.batch import fingerprint_many

    stats: dict[str, Any] = {"key": block.key, "file": block.path}
    a: list[int] = []
    b: list[int] = []

    def link(batch: FingerprintBatch, number: int) -> None:
        numbers = list(range(number, number + len(batch)))
        for n, linked in zip(numbers, version_links(index, batch, numbers), strict=True):
            a.extend([n] * len(linked))
            b.extend(linked)

    if part is not None:
        path, counted = part
        link(fingerprint_batch(read_part(path, ["n_tokens", "hashes", "positions"]), index.params), first)
        stats.update(counted)
    else:
        number = first
        for docs in _read(block, settings, stats):
            batch, _ = fingerprint_many([d.text for d in docs], key=key)
            link(batch, number)
            number += len(docs)
    stats["links"] = len(a)
    schema = pa.schema([("a", pa.int64()), ("b", pa.int64())])
    return _parquet(arrow.table([arrow.numeric(a), arrow.numeric(b)], schema)), stats


def edges_block(
    index: Index, block: Block, first: int, settings: ClusterSettings
) -> tuple[bytes, dict[str, Any]]:
    """Pass 3 on ``block`` (its documents numbered from ``first``): the edges its documents find."""
    stats: dict[str, Any] = {"key": block.key, "file": block.path}
    found: list[Edge] = []
    sides: list[bool] = []
    number = first
    for docs in _read(block, settings, stats):
        numbers = list(range(number, number + len(docs)))
        edges, from_a = edges_of(index, [d.text for d in docs], numbers)
        found.extend(edges)
        sides.extend(from_a)
        number += len(docs)
    stats["edges"] = len(found)
    return _parquet(edge_table(found, sides)), stats


def edge_table(edges: list[Edge], from_a: list[bool]) -> pa.Table:
    """An edges part (``edge_part_schema``) of ``edges`` and the side each was found from."""
    import pyarrow as pa

    schema = edge_part_schema()
    spans = [s for e in edges for s in e.spans]
    bounds = np.zeros(len(edges) + 1, dtype=np.int32)
    np.cumsum([len(e.spans) for e in edges], out=bounds[1:])
    span_type = schema.field("spans").type.value_type
    passages = pa.StructArray.from_arrays(
        [
            arrow.optional_ints([s.query_start for s in spans]),
            arrow.optional_ints([s.query_end for s in spans]),
            arrow.optional_ints([s.item_start for s in spans]),
            arrow.optional_ints([s.item_end for s in spans]),
        ],
        fields=list(span_type),
    )
    return arrow.table(
        [
            arrow.numeric([e.a for e in edges]),
            arrow.numeric([e.b for e in edges]),
            arrow.numeric([round(e.score, 6) for e in edges], np.float64),
            arrow.numeric([round(e.a_containment, 6) for e in edges], np.float64),
            arrow.numeric([round(e.b_containment, 6) for e in edges], np.float64),
            pa.ListArray.from_arrays(arrow.numeric(bounds, np.int32), passages),
            arrow.bools(from_a),
        ],
        schema,
    )


class _Step:
    """A worker's work: one pass over blocks; a block that cannot be read fails, not the job."""

    def work(self, block: Block) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the step opened (in process: the pass is over; a Ray actor's ends with it)."""

    def warm(self) -> None:
        """Load what the step's first block would (modules, compiled kernels) before processes are forked
        from this one to run it: each inherits them instead of loading its own."""
        import pyarrow.parquet  # noqa: F401 - the parts' writer and reader

    def row(self, block: Block, node: str) -> dict[str, Any]:
        """``block``'s part and statistics (JSON), or its error in the statistics."""
        started = time.perf_counter()
        try:
            part, st = self.work(block)
        except (CopytraceError, OSError, EOFError, ValueError) as exc:
            part, st = b"", {"key": block.key, "file": block.path, "error": f"{type(exc).__name__}: {exc}"}
        st.update(
            node=node,
            seconds=round(time.perf_counter() - started, 6),
            worker=f"{socket.gethostname()}:{os.getpid()}",
        )
        return {"key": block.key, "part": part, "stats": json.dumps(st)}

    def __call__(self, batch: pa.Table) -> pa.Table:
        """A Ray actor's call: the rows of a batch of blocks (``engine.run``)."""
        import pyarrow as pa
        import ray

        node = ray.get_runtime_context().get_node_id()
        rows = [self.row(Block.from_row(json.loads(raw)), node) for raw in batch.column("block").to_pylist()]
        return pa.table(
            {
                "key": [r["key"] for r in rows],
                "part": pa.array([r["part"] for r in rows], pa.binary()),
                "stats": [r["stats"] for r in rows],
            }
        )


class FingerprintStep(_Step):
    def __init__(self, settings: ClusterSettings, key: Key | None) -> None:
        self.settings, self.key = settings, key

    def work(self, block: Block) -> tuple[bytes, dict[str, Any]]:
        return fingerprint_block(block, self.settings, self.key)

    def warm(self) -> None:
        from ..fingerprints.batch import fingerprint_many

        super().warm()
        fingerprint_many([WARM_TEXT], key=self.key)


class VersionsStep(_Step):
    """``parts``: block key -> its fingerprint part and counts, where the worker reads them (in process)."""

    def __init__(
        self,
        shared: IndexSource,
        settings: ClusterSettings,
        key: Key | None,
        first: dict[str, int],
        parts: dict[str, tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.settings, self.key, self.first, self.parts = settings, key, first, parts or {}
        self.index = shared.open(key=key, match_params=UNWEIGHTED, text_lookup=None)

    def work(self, block: Block) -> tuple[bytes, dict[str, Any]]:
        return versions_block(
            self.index, block, self.first[block.key], self.settings, self.key, self.parts.get(block.key)
        )

    def warm(self) -> None:
        from ..fingerprints.batch import fingerprint_many

        super().warm()
        batch, _ = fingerprint_many([WARM_TEXT], key=self.key)
        version_links(self.index, batch, [-1])


class EdgesStep(_Step):
    def __init__(
        self,
        shared: IndexSource,
        texts: FileSource,
        settings: ClusterSettings,
        key: Key | None,
        first: dict[str, int],
    ) -> None:
        self.settings, self.first = settings, first
        self.texts = TextFile(texts.local_path())
        self.index = shared.open(
            key=key,
            match_params=dataclasses.replace(CLUSTER_MATCH_PARAMS, min_score=settings.min_score),
            text_lookup=lambda bank, item: self.texts.text(int(item)),
        )

    def work(self, block: Block) -> tuple[bytes, dict[str, Any]]:
        return edges_block(self.index, block, self.first[block.key], self.settings)

    def warm(self) -> None:
        super().warm()
        edges_of(self.index, [WARM_TEXT], [-1])

    def close(self) -> None:
        self.texts.close()
