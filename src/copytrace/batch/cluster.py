"""``cluster``: the copy families of a whole corpus, on Ray or in process, resumable, with the evidence of
every link.

Three passes over the blocks (``cluster_steps``), each block's result a part with a completion marker
(``markers``), so a killed job resumes where it stopped; between them the driver builds what the next pass
reads.  The rule is ``clustering``'s, the same as ``copytrace.cluster`` in one process:

1. ``fingerprint``: each block's documents fingerprinted (``fingerprint_many``); the part holds their ids,
   sources, fingerprints and texts.  The driver numbers the documents in the order of the blocks, writes
   every text to one file (``TextFile``: a document's text by its number) and builds the *versions index*
   of the corpus from the parts (on Ray a snapshot file, ``SnapshotBuilder``: the fingerprints are never
   all in memory; in process an index in memory, ``MemoryIndex``).
2. ``versions``: each document's versions in that index (every fingerprint weighing 1; the fingerprints
   read from the first pass's part where the worker shares the driver's disk); the driver builds the
   *corpus index* again with those links as its families.
3. ``edges``: each document matched against the corpus index (the boilerplate rule counting families), an
   edge for each other document found, with spans in both texts (the worker reads them from the text file).

Then the driver keeps one row per linked pair, the edges ``--link`` keeps, computes the components of them
and the version links (``components``: union-find in memory, or large/small-star rounds on Ray) and writes
``clusters``, ``edges``, ``summary.json`` and ``report.html`` (``cluster_output``).  On Ray, workers get the
indexes and the text file once per node (``shared_index``) and read the inputs themselves, as ``scan``
does; a small job that names no Ray runs its passes on this machine without it (``cluster_job``: in the
driver's process, or by workers forked from it once a pass is ready), its JSON Lines files cut into blocks
of about ``SMALL_BLOCK_BYTES`` so that every CPU has work (``cut``), with the same parts, markers and
outputs.

Documents that share an id are all clustered (each is a row of ``clusters``) and counted in
``summary.json`` (``duplicate_ids``) with a warning naming the first 20.  An input file changed since the
job started is refused on ``--resume`` (the documents are numbered across the whole corpus, so one file's
blocks cannot be redone alone).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from . import cluster_arrow as arrow
from .cluster_files import TextFile
from .cluster_job import LOCAL_BYTES, ClusterJob, choose_executor, stage_key
from .cluster_output import bad_records, component_edges, edge_reader, ids_of, kept_edges, write_outputs
from .cluster_steps import ClusterSettings, EdgesStep, FingerprintStep, LocalIndex, MemoryIndex, VersionsStep
from .clustering import check_link
from .inputs import Block, expand, plan
from .markers import JobDir, ResumeError, write_atomic
from .readers import duplicate_ids, warn_duplicates

if TYPE_CHECKING:
    from ..fingerprints.keys import Key

__all__ = ["COMPONENTS", "ClusterResult", "ClusterSettings", "run_cluster"]

COMPONENTS = ("auto", "memory", "distributed")
# A small job's JSON Lines files are cut into blocks of about this size, so that its passes keep the
# machine's CPUs busy (``cluster_job``: one forked worker per CPU) down to a few thousand documents.
SMALL_BLOCK_BYTES = 1024 * 1024
MEMORY_EDGES = 50_000_000  # ``auto`` gathers up to this many edges on the driver (16 bytes each)
STAGES = ("fingerprint", "versions", "edges")


@dataclass
class ClusterResult:
    """What ``run_cluster`` did, as written to ``summary.json``."""

    summary: dict[str, Any]
    bad: list[dict[str, Any]]


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
    executor: str | None = None,
    on_start: Callable[[str, int, int, int], None] | None = None,
    on_block: Callable[[str, dict[str, Any]], None] | None = None,
    on_executor: Callable[[str, int], None] | None = None,
    local_workers: int | None = None,
) -> ClusterResult:
    """Cluster the documents of ``inputs`` into the folder ``out``.

    ``executor``: ``"process"`` or ``"ray"``; by default ``cluster_job.choose_executor`` picks by the size of
    the input.  ``on_executor(executor, input bytes)`` is told which runs the job before the first pass;
    ``on_start(pass, blocks to do, their bytes, blocks already done)`` and ``on_block(pass, stats)`` follow
    the work (the CLI's progress bar).  ``local_workers``: in process, how many processes forked from this
    one run a pass of more than one block (by default one per CPU; 1 runs every pass in this process)."""
    from ..fingerprints.fingerprint import FingerprintParams
    from ..fingerprints.keys import PUBLIC_KEY

    check_link(settings.link)
    if components not in COMPONENTS:
        raise InputError(f"--components {components!r}: choose auto, memory or distributed")
    started = time.perf_counter()
    files = expand(inputs)
    blocks = cut(plan(files, settings.columns))
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
    nbytes = sum(b.size for b in blocks)
    chosen = executor or choose_executor(ray_address, workers, nbytes)
    if on_executor is not None:
        on_executor(chosen, nbytes)
    job = ClusterJob(
        folder,
        blocks,
        executor=chosen,
        workers=workers,
        ray_address=ray_address,
        on_start=on_start,
        on_block=on_block,
        local_workers=local_workers,
    )
    shared_index, shared_file = _sources(chosen)
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
            TextFile.write(texts_path, (job.part("fingerprint", b, ["text"]).column("text") for b in blocks))
        # in process the indexes are built in memory (cheaper than a snapshot file, and nothing to resume)
        in_memory = job.batches(params) if chosen == "process" else None
        if in_memory is None and not versions_path.exists():
            job.build_index(versions_path, params, None)
        job.stage(
            "versions",
            VersionsStep,
            lambda: {
                "shared": MemoryIndex(in_memory) if in_memory is not None else shared_index(versions_path),
                "settings": settings,
                "key": key,
                "first": first,
                # the driver's files are the workers' in process and on the job's private Ray (this machine)
                "parts": _local_parts(job, stats)
                if chosen == "process" or job.cluster.get("private")
                else None,
            },
        )
        if in_memory is None and not index_path.exists():
            job.build_index(index_path, params, _version_links(job))
        job.stage(
            "edges",
            EdgesStep,
            lambda: {
                "shared": (
                    MemoryIndex(in_memory, _links_by_document(_version_links(job)))
                    if in_memory is not None
                    else shared_index(index_path)
                ),
                "texts": shared_file(texts_path),
                "settings": settings,
                "key": key,
                "first": first,
            },
        )
        gathered = time.perf_counter()
        keep = kept_edges(job, settings.link)
        n_edges = sum(int(k.sum()) for k in keep.values())
        mode = (
            components if components != "auto" else ("memory" if n_edges <= MEMORY_EDGES else "distributed")
        )
        edge_arrays = component_edges(job, keep)
        if mode == "memory":
            from .components import union_find

            labels = union_find(n, edge_arrays)
        else:
            from .components import star_components

            job.ray()
            labels = star_components(n, edge_arrays)
        sizes = np.bincount(labels, minlength=n)[labels] if n else np.zeros(0, dtype=np.int64)
        ids = ids_of(job)
        duplicates = duplicate_ids([ids])
        outputs = write_outputs(job, output_format, ids, labels, sizes, keep)
        components_seconds = round(time.perf_counter() - gathered, 3)
    finally:
        job.close()
    every = stats
    bad = bad_records(blocks, every)
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
        "executor": chosen,
        "local_workers": job.local_workers if chosen == "process" else None,
        "ray": job.cluster or None,
    }
    if report:
        from .report import write_report

        texts = TextFile(texts_path)
        try:
            page = write_report(
                out / "report.html", summary, ids, labels, sizes, texts, edge_reader(job, keep)
            )
        finally:
            texts.close()
        summary["output"]["report"] = str(page)
    write_atomic(out / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    warn_duplicates(duplicates, "clustered")
    return ClusterResult(summary, bad)


def cut(blocks: list[Block]) -> list[Block]:
    """``blocks`` with each uncompressed JSON Lines file of a small job (``LOCAL_BYTES`` of input at most) cut
    into byte ranges of about ``SMALL_BLOCK_BYTES``, in order: the same documents, numbered the same; the
    same inputs are cut the same on every run (``--resume``)."""
    if sum(b.size for b in blocks) > LOCAL_BYTES:
        return blocks
    out: list[Block] = []
    for b in blocks:
        # a whole file (stop -1) or a range of one (a file past ``inputs.BLOCK_BYTES``); compressed: whole
        plain = b.kind == "jsonl" and not b.path.lower().endswith((".gz", ".zst"))
        if not plain or b.size <= SMALL_BLOCK_BYTES:
            out.append(b)
            continue
        n = -(-b.size // SMALL_BLOCK_BYTES)
        bounds = [b.start + b.size * i // n for i in range(n + 1)]
        out.extend(
            Block("jsonl", b.path, lo, hi, 1, hi - lo, identity=b.identity)
            for lo, hi in itertools.pairwise(bounds)
        )
    return out


def _absolute(url: str) -> str:
    return url if "://" in url else os.path.abspath(url)


def _sources(executor: str) -> tuple[Callable[[Path], Any], Callable[[Path], Any]]:
    """How the workers of ``executor`` find the job's indexes and text file: the driver's own files in
    process, published once per node on Ray (``shared_index``)."""
    if executor == "process":
        return lambda p: LocalIndex(str(p)), lambda p: LocalIndex(str(p))
    from .shared_index import SharedFile, SharedIndex

    return SharedIndex.publish, SharedFile.publish


def _version_links(job: ClusterJob) -> tuple[np.ndarray, np.ndarray]:
    """Every version link of the versions parts, as two arrays of document numbers sorted by the first (in
    the parts' order for one document: the best first)."""
    a_all, b_all = [], []
    for block in job.blocks:
        t = job.part("versions", block)
        a_all.append(arrow.numbers(t.column("a"), np.int64))
        b_all.append(arrow.numbers(t.column("b"), np.int64))
    a = np.concatenate(a_all) if a_all else np.zeros(0, dtype=np.int64)
    b = np.concatenate(b_all) if b_all else np.zeros(0, dtype=np.int64)
    order = np.argsort(a, kind="stable")
    return a[order], b[order]


def _local_parts(job: ClusterJob, stats: dict[str, dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each block's fingerprint part and what the first pass counted in it: an in-process versions pass reads
    the fingerprints there instead of reading and fingerprinting the block again."""
    counts = ("documents", "bytes", "lines", "bad_records", "bad")
    return {
        b.key: (str(job.folder.part(stage_key("fingerprint", b))), {k: stats[b.key][k] for k in counts})
        for b in job.blocks
    }


def _links_by_document(links: tuple[np.ndarray, np.ndarray]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for a, b in zip(links[0].tolist(), links[1].tolist(), strict=True):
        out.setdefault(a, []).append(b)
    return out
