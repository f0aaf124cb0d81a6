"""``cluster``: the copy families of a whole corpus, on Ray, resumable, with the evidence of every link.

Three passes over the blocks (``engine.run``), each block's result a part with a completion marker
(``markers``), so a killed job resumes where it stopped; between them the driver builds what the next pass
reads.  The rule is ``clustering``'s, the same as ``copytrace.cluster`` in one process:

1. ``fingerprint``: each block's documents fingerprinted (``fingerprint_many``); the part holds their ids,
   sources, fingerprints and texts.  The driver numbers the documents in the order of the blocks, writes
   every text to one file (``TextFile``: a document's text by its number) and builds the *versions index*
   of the corpus from the parts (``SnapshotBuilder``: the fingerprints are never all in memory).
2. ``versions``: each document's versions in that index (every fingerprint weighing 1); the driver builds
   the *corpus index* again with those links as its families.
3. ``edges``: each document matched against the corpus index (the boilerplate rule counting families), an
   edge for each other document found, with spans in both texts (the worker reads them from the text file).

Then the driver keeps one row per linked pair, the edges ``--link`` keeps, computes the components
(``components``: union-find in memory, or large/small-star rounds on Ray) and writes ``clusters``,
``edges``, ``summary.json`` and ``report.html``.  Workers get the indexes and the text file once per node
(``shared_index``); they read the inputs themselves, as ``scan`` does.

Documents that share an id are all clustered (each is a row of ``clusters``) and counted in
``summary.json`` (``duplicate_ids``) with a warning naming the first 20.  An input file changed since the
job started is refused on ``--resume`` (the documents are numbered across the whole corpus, so one file's
blocks cannot be redone alone).
"""

from __future__ import annotations

import dataclasses
import io
import json
import mmap
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CopytraceError, InputError
from ..textio import DEFAULT_MAX_BYTES
from .clustering import (
    CLUSTER_MATCH_PARAMS,
    CORPUS,
    UNWEIGHTED,
    check_link,
    edges_of,
    pair_order,
    version_links,
)
from .inputs import Block, TableColumns, expand, plan
from .markers import JobDir, ResumeError, lost_blocks, write_atomic
from .readers import Bad, BlockReading, Doc, duplicate_ids, read_block, warn_duplicates

if TYPE_CHECKING:
    import pyarrow as pa

    from ..index import Index
    from ..keys import Key
    from .shared_index import SharedFile, SharedIndex

CHUNK = 512  # documents fingerprinted or matched in one compiled call
PENDING_BYTES = 64 * 1024 * 1024  # ... or fewer, when their texts reach this many characters
BAD_KEPT = 100
COMPONENTS = ("auto", "memory", "distributed")
MEMORY_EDGES = 50_000_000  # ``auto`` gathers up to this many edges on the driver (16 bytes each)
STAGES = ("fingerprint", "versions", "edges")


@dataclass(frozen=True)
class ClusterSettings:
    """What a cluster job links and how."""

    link: str = "partial"
    min_score: float = CLUSTER_MATCH_PARAMS.min_score
    columns: TableColumns = field(default_factory=TableColumns)
    max_bytes: int = DEFAULT_MAX_BYTES


# -------------------------------------------------------------------------------------------- schemas
def fingerprint_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("file", pa.string()),
            ("row", pa.int64()),
            ("n_tokens", pa.int64()),
            ("hashes", pa.list_(pa.uint64())),
            ("positions", pa.list_(pa.int64())),
            ("text", pa.large_string()),
        ]
    )


def _span_type() -> pa.DataType:
    import pyarrow as pa

    return pa.struct(
        [("a_start", pa.int64()), ("a_end", pa.int64()), ("b_start", pa.int64()), ("b_end", pa.int64())]
    )


def edge_part_schema() -> pa.Schema:
    """An edges part: documents by number, and whether the edge was found from ``a``'s side."""
    import pyarrow as pa

    return pa.schema(
        [
            ("a", pa.int64()),
            ("b", pa.int64()),
            ("score", pa.float64()),
            ("a_containment", pa.float64()),
            ("b_containment", pa.float64()),
            ("spans", pa.list_(_span_type())),
            ("from_a", pa.bool_()),
        ]
    )


def edge_schema() -> pa.Schema:
    """A row of ``edges.parquet``: the two documents by id."""
    import pyarrow as pa

    return pa.schema(
        [
            ("a", pa.string()),
            ("b", pa.string()),
            ("score", pa.float64()),
            ("a_containment", pa.float64()),
            ("b_containment", pa.float64()),
            ("spans", pa.list_(_span_type())),
        ]
    )


def cluster_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("cluster", pa.string()), ("cluster_size", pa.int64())])


# ------------------------------------------------------------------------------------------ the texts
class TextFile:
    """Every document's text by number, in one file a worker maps: ``n`` (8 bytes), ``n + 1`` offsets, then
    the texts in UTF-8."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - kept open with the map
        self._map = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ) if path.stat().st_size else b""
        n = int(np.frombuffer(self._map, dtype=np.int64, count=1)[0])
        self._offsets = np.frombuffer(self._map, dtype=np.int64, count=n + 1, offset=8)
        self._base = 8 * (n + 2)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> None:
        self._offsets = self._offsets[:1].copy()
        if isinstance(self._map, mmap.mmap):
            self._map.close()
        self._fh.close()

    def text(self, number: int) -> str:
        a, b = int(self._offsets[number]), int(self._offsets[number + 1])
        return bytes(self._map[self._base + a : self._base + b]).decode("utf-8")

    @staticmethod
    def write(path: Path, parts: Iterator[list[str]]) -> int:
        """Write the texts of ``parts`` (lists of texts, in order) to ``path``; returns how many."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        lengths: list[np.ndarray] = []
        with open(tmp.with_suffix(".data"), "wb") as data:
            for texts in parts:
                encoded = [t.encode("utf-8") for t in texts]
                lengths.append(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))
                data.write(b"".join(encoded))
        sizes = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        with open(tmp, "wb") as out, open(tmp.with_suffix(".data"), "rb") as data:
            out.write(np.array([len(sizes)], dtype=np.int64).tobytes())
            out.write(offsets.tobytes())
            while chunk := data.read(1 << 24):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        tmp.with_suffix(".data").unlink()
        os.replace(tmp, path)
        return len(sizes)


# -------------------------------------------------------------------------------------- block steps
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

    from ..fingerprint_batch import fingerprint_many

    stats: dict[str, Any] = {"key": block.key, "file": block.path, "kind": block.kind, "start": block.start}
    tables = []
    for docs in _read(block, settings, stats):
        batch, _ = fingerprint_many([d.text for d in docs], key=key)
        offsets = pa.array(batch.offsets.astype(np.int32))
        tables.append(
            pa.table(
                {
                    "id": [d.id for d in docs],
                    "file": [d.file for d in docs],
                    "row": pa.array([d.row for d in docs], pa.int64()),
                    "n_tokens": pa.array(batch.n_tokens, pa.int64()),
                    "hashes": pa.ListArray.from_arrays(offsets, pa.array(batch.hashes, pa.uint64())),
                    "positions": pa.ListArray.from_arrays(offsets, pa.array(batch.positions, pa.int64())),
                    "text": pa.array([d.text for d in docs], pa.large_string()),
                },
                schema=fingerprint_schema(),
            )
        )
    table = pa.concat_tables(tables) if tables else fingerprint_schema().empty_table()
    return _parquet(table), stats


def versions_block(
    index: Index, block: Block, first: int, settings: ClusterSettings, key: Key | None
) -> tuple[bytes, dict[str, Any]]:
    """Pass 2 on ``block`` (its documents numbered from ``first``): each document's version links."""
    import pyarrow as pa

    from ..fingerprint_batch import fingerprint_many

    stats: dict[str, Any] = {"key": block.key, "file": block.path}
    a: list[int] = []
    b: list[int] = []
    number = first
    for docs in _read(block, settings, stats):
        batch, _ = fingerprint_many([d.text for d in docs], key=key)
        numbers = list(range(number, number + len(docs)))
        for n, linked in zip(numbers, version_links(index, batch, numbers), strict=True):
            a.extend([n] * len(linked))
            b.extend(linked)
        number += len(docs)
    stats["links"] = len(a)
    return _parquet(pa.table({"a": pa.array(a, pa.int64()), "b": pa.array(b, pa.int64())})), stats


def edges_block(
    index: Index, block: Block, first: int, settings: ClusterSettings
) -> tuple[bytes, dict[str, Any]]:
    """Pass 3 on ``block`` (its documents numbered from ``first``): the edges its documents find."""
    import pyarrow as pa

    stats: dict[str, Any] = {"key": block.key, "file": block.path}
    rows: list[dict[str, Any]] = []
    number = first
    for docs in _read(block, settings, stats):
        numbers = list(range(number, number + len(docs)))
        edges, from_a = edges_of(index, [d.text for d in docs], numbers)
        for e, side in zip(edges, from_a, strict=True):
            rows.append(
                {
                    "a": e.a,
                    "b": e.b,
                    "score": round(e.score, 6),
                    "a_containment": round(e.a_containment, 6),
                    "b_containment": round(e.b_containment, 6),
                    "spans": [
                        {
                            "a_start": s.query_start,
                            "a_end": s.query_end,
                            "b_start": s.item_start,
                            "b_end": s.item_end,
                        }
                        for s in e.spans
                    ],
                    "from_a": side,
                }
            )
        number += len(docs)
    stats["edges"] = len(rows)
    return _parquet(pa.Table.from_pylist(rows, schema=edge_part_schema())), stats


class _Step:
    """A Ray actor's work: one pass over blocks; a block that cannot be read fails, not the job."""

    def work(self, block: Block) -> tuple[bytes, dict[str, Any]]:
        raise NotImplementedError

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa
        import ray

        node = ray.get_runtime_context().get_node_id()
        keys, parts, stats = [], [], []
        for raw in batch.column("block").to_pylist():
            block = Block.from_row(json.loads(raw))
            started = time.perf_counter()
            try:
                part, st = self.work(block)
            except (CopytraceError, OSError, EOFError, ValueError) as exc:
                part, st = (
                    b"",
                    {"key": block.key, "file": block.path, "error": f"{type(exc).__name__}: {exc}"},
                )
            st.update(
                node=node,
                seconds=round(time.perf_counter() - started, 6),
                worker=f"{socket.gethostname()}:{os.getpid()}",
            )
            keys.append(block.key)
            parts.append(part)
            stats.append(json.dumps(st))
        return pa.table({"key": keys, "part": pa.array(parts, pa.binary()), "stats": stats})


class FingerprintStep(_Step):
    def __init__(self, settings: ClusterSettings, key: Key | None) -> None:
        self.settings, self.key = settings, key

    def work(self, block: Block) -> tuple[bytes, dict[str, Any]]:
        return fingerprint_block(block, self.settings, self.key)


class VersionsStep(_Step):
    def __init__(
        self, shared: SharedIndex, settings: ClusterSettings, key: Key | None, first: dict[str, int]
    ) -> None:
        self.settings, self.key, self.first = settings, key, first
        self.index = shared.open(key=key, match_params=UNWEIGHTED, text_lookup=None)

    def work(self, block: Block) -> tuple[bytes, dict[str, Any]]:
        return versions_block(self.index, block, self.first[block.key], self.settings, self.key)


class EdgesStep(_Step):
    def __init__(
        self,
        shared: SharedIndex,
        texts: SharedFile,
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


# ------------------------------------------------------------------------------------------- driver
@dataclass
class ClusterResult:
    """What ``run_cluster`` did, as written to ``summary.json``."""

    summary: dict[str, Any]
    bad: list[dict[str, Any]]


def _stage_key(stage: str, block: Block) -> str:
    return f"{stage}-{block.key}"


class _Job:
    """The driver's side of one run: the folder, the blocks, the Ray session and the callbacks."""

    def __init__(
        self,
        folder: JobDir,
        blocks: list[Block],
        workers: int | None,
        ray_address: str | None,
        on_start: Callable[[str, int, int, int], None] | None,
        on_block: Callable[[str, dict[str, Any]], None] | None,
    ) -> None:
        self.folder, self.blocks, self.workers, self.ray_address = folder, blocks, workers, ray_address
        self.on_start, self.on_block = on_start, on_block
        self.cluster: dict[str, Any] = {}
        self.resumed = 0
        self.seconds: dict[str, float] = {}
        self._session: Any = None

    def ray(self) -> dict[str, Any]:
        from . import engine

        if self._session is None:
            self._log = engine.native_log(self.folder.root / "ray.log")
            self._log.__enter__()
            self._session = engine.session(self.ray_address)
            self.cluster = self._session.__enter__()
        return self.cluster

    def close(self) -> None:
        if self._session is not None:
            self._session.__exit__(None, None, None)
            self._log.__exit__(None, None, None)
            self._session = None

    def stage(
        self, stage: str, step: type, kwargs: Callable[[], dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Run ``step`` over the blocks not done in ``stage``; every block's statistics, once all are done."""
        from . import engine

        started = time.perf_counter()
        keys = [_stage_key(stage, b) for b in self.blocks]
        done = self.folder.finished(keys)
        todo = [b for b in self.blocks if _stage_key(stage, b) not in done]
        self.resumed += len(done)
        if self.on_start is not None:
            self.on_start(stage, len(todo), sum(b.size for b in todo), len(done))
        failed: list[dict[str, Any]] = []
        if todo:
            cluster = self.ray()
            actors = self.workers or cluster["cpus"]
            for row in engine.run(step, todo, constructor_kwargs=kwargs(), actors=actors):
                stats = json.loads(row["stats"])
                if "error" in stats:
                    failed.append(stats)
                    continue
                key = f"{stage}-{row['key']}"
                self.folder.complete(key, row["part"], stats)
                done[key] = stats
                if self.on_block is not None:
                    self.on_block(stage, stats)
            cluster["actors"] = max(cluster.get("actors", 0), min(actors, len(todo)))
            finished = {k.removeprefix(f"{stage}-"): v for k, v in done.items()}
            failed.extend(lost_blocks(todo, finished, failed, self.folder.root / "ray.log"))
        if failed:
            first = failed[0]
            raise CopytraceError(
                f"{len(failed)} block(s) could not be read (first: {first['file']}: {first['error']}); the "
                "others are recorded: fix the input and run the same command with --resume"
            )
        missing = [k for k in keys if k not in done]
        if missing:
            raise CopytraceError(f"{len(missing)} block(s) were not done; run the same command with --resume")
        self.seconds[stage] = round(time.perf_counter() - started, 3)
        return {b.key: done[_stage_key(stage, b)] for b in self.blocks}

    def part(self, stage: str, block: Block, columns: list[str] | None = None) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(self.folder.part(_stage_key(stage, block)), columns=columns)


def _build_index(job: _Job, path: Path, params: Any, links: dict[int, list[int]] | None) -> None:
    """The corpus index from the fingerprint parts, block by block (``SnapshotBuilder``)."""
    from ..fingerprint_batch import FingerprintBatch
    from ..index_build import SnapshotBuilder

    number = 0
    with SnapshotBuilder(path, params) as builder:
        for block in job.blocks:
            t = job.part("fingerprint", block, ["n_tokens", "hashes", "positions"])
            n = t.num_rows
            hashes = t.column("hashes").combine_chunks()
            positions = t.column("positions").combine_chunks()
            batch = FingerprintBatch(
                params,
                np.asarray(hashes.values, dtype=np.uint64) if n else np.zeros(0, np.uint64),
                np.asarray(positions.values, dtype=np.int64) if n else np.zeros(0, np.int64),
                np.asarray(hashes.offsets, dtype=np.int64) if n else np.zeros(1, np.int64),
                np.asarray(t.column("n_tokens"), dtype=np.int64),
            )
            numbers = range(number, number + n)
            linked = None
            if links is not None:
                linked = [[str(o) for o in links.get(i, ())] for i in numbers]
            builder.add(CORPUS, [str(i) for i in numbers], batch, linked)
            number += n


def run_cluster(
    inputs: list[str],
    out: Path,
    *,
    settings: ClusterSettings,
    key: Key | None,
    output_format: str = "parquet",
    components: str = "auto",
    resume: bool = False,
    ray_address: str | None = None,
    workers: int | None = None,
    report: bool = True,
    on_start: Callable[[str, int, int, int], None] | None = None,
    on_block: Callable[[str, dict[str, Any]], None] | None = None,
) -> ClusterResult:
    """Cluster the documents of ``inputs`` into the folder ``out``.

    ``on_start(pass, blocks to do, their bytes, blocks already done)`` and ``on_block(pass, stats)`` follow
    the work (the CLI's progress bar)."""
    from ..fingerprint import FingerprintParams
    from ..keys import PUBLIC_KEY
    from .shared_index import SharedFile, SharedIndex

    check_link(settings.link)
    if components not in COMPONENTS:
        raise InputError(f"--components {components!r}: choose auto, memory or distributed")
    started = time.perf_counter()
    files = expand(inputs)
    blocks = plan(files, settings.columns)
    job_spec = {
        "command": "cluster",
        "inputs": [_absolute(i) for i in inputs],
        "key_id": (key or PUBLIC_KEY).key_id,
        "link": settings.link,
        "min_score": settings.min_score,
        "columns": asdict(settings.columns),
        "max_bytes": settings.max_bytes,
    }
    folder = JobDir(out)
    resumed = folder.open(job_spec, resume=resume)
    changed = folder.changed_inputs({f.url: f.identity for f in files}, record=not resumed)
    if resumed and changed:
        raise ResumeError(
            f"{out}: --resume refused: {changed[0]}"
            + (f" (and {len(changed) - 1} more input file(s))" if len(changed) > 1 else "")
            + ": a cluster job numbers the documents of the whole corpus, so it cannot take in a changed "
            "input; restore the file as it was (its size and modification time), or run the job again into "
            "another --out folder"
        )
    job = _Job(folder, blocks, workers, ray_address, on_start, on_block)
    params = FingerprintParams(key_id=(key or PUBLIC_KEY).key_id)
    versions_path, index_path, texts_path = (
        out / "versions.ctidx",
        out / "corpus.ctidx",
        out / "texts.bin",
    )
    try:
        stats = job.stage("fingerprint", FingerprintStep, lambda: {"settings": settings, "key": key})
        first: dict[str, int] = {}
        n = 0
        for b in blocks:
            first[b.key] = n
            n += int(stats[b.key]["documents"])
        if not texts_path.exists():
            TextFile.write(
                texts_path, (job.part("fingerprint", b, ["text"]).column("text").to_pylist() for b in blocks)
            )
        if not versions_path.exists():
            _build_index(job, versions_path, params, None)
        job.stage(
            "versions",
            VersionsStep,
            lambda: {
                "shared": SharedIndex.publish(versions_path),
                "settings": settings,
                "key": key,
                "first": first,
            },
        )
        if not index_path.exists():
            links: dict[int, list[int]] = {}
            for b in blocks:
                t = job.part("versions", b)
                for a, other in zip(t.column("a").to_pylist(), t.column("b").to_pylist(), strict=True):
                    links.setdefault(a, []).append(other)
            _build_index(job, index_path, params, links)
            del links
        job.stage(
            "edges",
            EdgesStep,
            lambda: {
                "shared": SharedIndex.publish(index_path),
                "texts": SharedFile.publish(texts_path),
                "settings": settings,
                "key": key,
                "first": first,
            },
        )
        gathered = time.perf_counter()
        keep = _kept_edges(job, settings.link)
        n_edges = sum(int(k.sum()) for k in keep.values())
        mode = (
            components if components != "auto" else ("memory" if n_edges <= MEMORY_EDGES else "distributed")
        )
        pairs = ((job.part("edges", b, ["a", "b"]), keep[b.key]) for b in blocks)
        edge_arrays = ((np.asarray(t.column("a"))[k], np.asarray(t.column("b"))[k]) for t, k in pairs)
        if mode == "memory":
            from .components import union_find

            labels = union_find(n, edge_arrays)
        else:
            from .components import star_components

            job.ray()
            labels = star_components(n, edge_arrays)
        sizes = np.bincount(labels, minlength=n)[labels] if n else np.zeros(0, dtype=np.int64)
        ids = _ids(job)
        duplicates = duplicate_ids([ids])
        outputs = _write_outputs(job, output_format, ids, labels, sizes, keep)
        components_seconds = round(time.perf_counter() - gathered, 3)
    finally:
        job.close()
    every = stats
    bad = _bad_records(blocks, every)
    multi = np.flatnonzero(sizes >= 2)
    n_families = len(np.unique(labels[multi])) if len(multi) else 0
    summary = {
        "command": "cluster",
        "documents": n,
        "bytes": sum(s["bytes"] for s in every.values()),
        "bad_records": sum(s["bad_records"] for s in every.values()),
        "bad": bad[:1000],
        "duplicate_ids": duplicates,
        "blocks": len(blocks),
        "blocks_resumed": job.resumed,
        "link": settings.link,
        "edges": n_edges,
        "families": n_families,
        "documents_in_families": len(multi),
        "largest_family": int(sizes.max()) if n else 0,
        "components": mode,
        "output": {k: str(v) for k, v in outputs.items()},
        "wall_seconds": round(time.perf_counter() - started, 3),
        "pass_seconds": {**job.seconds, "components_and_output": components_seconds},
        "ray": job.cluster or None,
    }
    if report:
        from .report import write_report

        texts = TextFile(texts_path)
        try:
            page = write_report(
                out / "report.html", summary, ids, labels, sizes, texts, _edge_reader(job, keep)
            )
        finally:
            texts.close()
        summary["output"]["report"] = str(page)
    write_atomic(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    warn_duplicates(duplicates, "clustered")
    return ClusterResult(summary, bad)


def _absolute(url: str) -> str:
    return url if "://" in url else os.path.abspath(url)


def _kept_edges(job: _Job, link: str) -> dict[str, np.ndarray]:
    """For each block's edges part, which rows are kept: one per linked pair (that found from ``a``'s side
    where there is one), and only versions under ``near-duplicate``."""
    from ..families import VERSION_CONTAINMENT

    a_all, b_all, side_all, ok_all, sizes = [], [], [], [], []
    for blk in job.blocks:
        t = job.part("edges", blk, ["a", "b", "from_a", "a_containment", "b_containment"])
        a_all.append(np.asarray(t.column("a"), dtype=np.int64))
        b_all.append(np.asarray(t.column("b"), dtype=np.int64))
        side_all.append(np.asarray(t.column("from_a"), dtype=bool))
        both = np.minimum(np.asarray(t.column("a_containment")), np.asarray(t.column("b_containment")))
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


def _component_edges(job: _Job, keep: dict[str, np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """What the components join: each block's kept edges, then its version links."""
    for b in job.blocks:
        t = job.part("edges", b, ["a", "b"])
        k = keep[b.key]
        yield np.asarray(t.column("a"), dtype=np.int64)[k], np.asarray(t.column("b"), dtype=np.int64)[k]
        t = job.part("versions", b)
        yield np.asarray(t.column("a"), dtype=np.int64), np.asarray(t.column("b"), dtype=np.int64)


def _ids(job: _Job) -> list[str]:
    ids: list[str] = []
    for b in job.blocks:
        ids.extend(job.part("fingerprint", b, ["id"]).column("id").to_pylist())
    return ids


def _edge_reader(job: _Job, keep: dict[str, np.ndarray]) -> Callable[[], Iterator[pa.Table]]:
    """The kept edges (documents by number), part by part."""

    def read() -> Iterator[pa.Table]:
        for b in job.blocks:
            t = job.part("edges", b)
            yield t.filter(keep[b.key]) if t.num_rows else t

    return read


def _write_outputs(
    job: _Job,
    fmt: str,
    ids: list[str],
    labels: np.ndarray,
    sizes: np.ndarray,
    keep: dict[str, np.ndarray],
) -> dict[str, Path]:
    import pyarrow as pa

    id_array = pa.array(ids, pa.string())
    clusters = pa.table(
        {
            "id": id_array,
            "cluster": id_array.take(pa.array(labels)),
            "cluster_size": pa.array(sizes, pa.int64()),
        },
        schema=cluster_schema(),
    )

    def edge_tables() -> Iterator[pa.Table]:
        for t in _edge_reader(job, keep)():
            yield pa.table(
                {
                    "a": id_array.take(t.column("a")),
                    "b": id_array.take(t.column("b")),
                    "score": t.column("score"),
                    "a_containment": t.column("a_containment"),
                    "b_containment": t.column("b_containment"),
                    "spans": t.column("spans"),
                },
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


def _bad_records(blocks: list[Block], stats: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
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
