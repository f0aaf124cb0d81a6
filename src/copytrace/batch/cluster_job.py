"""The driver's side of a ``cluster`` job: which executor runs its passes, each pass over the blocks not done
yet, and the corpus indexes it builds between them.

Two executors run the same step objects (``cluster_steps``) and record the same parts and markers, so the
outputs, ``--resume`` and the exit codes are the same whichever ran:

- **in process** (``executor == "process"``): the driver constructs each step once and, on a machine of one
  CPU or for a pass of one block, calls it block after block; else it makes the step ready (``warm``: the
  compiled kernels loaded, the index built) and forks a worker per CPU that inherits it, as ``scan``'s
  local executor does (``processes``), the driver writing their parts and markers.  Chosen for a job of at
  most ``LOCAL_BYTES`` of input when no Ray is named (``--ray-address``, ``$RAY_ADDRESS``), none is running
  in this process already and ``--workers`` is not given: starting a Ray, and an actor per worker in each
  of the three passes (imports, compiled kernels, the index mapped), takes seconds, more than such a job's
  work (``docs/cluster.md#speed``).
- **Ray** (``executor == "ray"``): ``engine.run``, a pool of actors per pass, on a private Ray on this machine
  or on the cluster named.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import CopytraceError
from .cluster_files import fingerprint_batch, read_part
from .clustering import CORPUS
from .inputs import Block
from .markers import JobDir, lost_blocks

if TYPE_CHECKING:
    import pyarrow as pa

# Input up to this size is clustered in the driver's process unless Ray is asked for: on a 2-core machine
# Ray's start and its actors' cost more than the second core gives back below about this much text.
LOCAL_BYTES = 32 * 1024 * 1024
EXECUTORS = ("process", "ray")


def choose_executor(ray_address: str | None, workers: int | None, nbytes: int) -> str:
    """``"process"`` for a small job that names no Ray and no ``--workers``; else ``"ray"``."""
    if ray_address or os.environ.get("RAY_ADDRESS") or workers is not None:
        return "ray"
    ray = sys.modules.get("ray")
    if ray is not None and getattr(ray, "is_initialized", lambda: False)():
        return "ray"  # the calling program started a Ray for its jobs
    return "process" if nbytes <= LOCAL_BYTES else "ray"


def local_cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def stage_key(stage: str, block: Block) -> str:
    return f"{stage}-{block.key}"


class ClusterJob:
    """The driver's side of one run: the folder, the blocks, the executor and the callbacks."""

    def __init__(
        self,
        folder: JobDir,
        blocks: list[Block],
        *,
        executor: str,
        workers: int | None,
        ray_address: str | None,
        on_start: Callable[[str, int, int, int], None] | None,
        on_block: Callable[[str, dict[str, Any]], None] | None,
        local_workers: int | None = None,
    ) -> None:
        if executor not in EXECUTORS:
            raise ValueError(f"executor {executor!r}: choose one of {EXECUTORS}")
        self.folder, self.blocks, self.workers, self.ray_address = folder, blocks, workers, ray_address
        self.executor = executor
        self.local_workers = max(1, local_workers or local_cpus())
        self.on_start, self.on_block = on_start, on_block
        self.cluster: dict[str, Any] = {}
        self.resumed = 0
        self.seconds: dict[str, float] = {}
        self._session: Any = None

    def ray(self) -> dict[str, Any]:
        """The job's Ray, started (or joined) on first use."""
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
        """Run ``step`` over the blocks not done in ``stage``; every block's statistics, once all are done.
        ``kwargs()`` gives the step's constructor arguments (called only when a block is left to do)."""
        started = time.perf_counter()
        keys = [stage_key(stage, b) for b in self.blocks]
        done = self.folder.finished(keys)
        todo = [b for b in self.blocks if stage_key(stage, b) not in done]
        self.resumed += len(done)
        if self.on_start is not None:
            self.on_start(stage, len(todo), sum(b.size for b in todo), len(done))
        failed: list[dict[str, Any]] = []
        if todo:
            for row in self._rows(step, todo, kwargs):
                stats = json.loads(row["stats"])
                if "error" in stats:
                    failed.append(stats)
                    continue
                key = f"{stage}-{row['key']}"
                self.folder.complete(key, row["part"], stats)
                done[key] = stats
                if self.on_block is not None:
                    self.on_block(stage, stats)
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
        return {b.key: done[stage_key(stage, b)] for b in self.blocks}

    def _rows(self, step: type, todo: list[Block], kwargs: Callable[[], dict[str, Any]]) -> Any:
        """Each block's row, from the executor."""
        if self.executor == "process":
            worker = step(**kwargs())
            forks = min(self.local_workers, len(todo))
            if forks > 1:
                return self._forked(worker, todo, forks)
            return self._in_process(worker, todo)
        from . import engine

        cluster = self.ray()
        actors = self.workers or cluster["cpus"]
        cluster["actors"] = max(cluster.get("actors", 0), min(actors, len(todo)))
        return engine.run(step, todo, constructor_kwargs=kwargs(), actors=actors)

    @staticmethod
    def _in_process(worker: Any, todo: list[Block]) -> Iterator[dict[str, Any]]:
        try:
            for block in todo:
                yield worker.row(block, "local")
        finally:
            worker.close()

    @staticmethod
    def _forked(worker: Any, todo: list[Block], forks: int) -> Iterator[dict[str, Any]]:
        """The step made ready here (``warm``: kernels loaded, index built), then run by ``forks`` processes
        forked from this one (``processes``), which inherit it."""
        from . import engine, processes

        try:
            worker.warm()
            yield from processes.run(
                lambda block: worker.row(block, "local"), todo, workers=forks, max_tries=engine.MAX_TRIES
            )
        finally:
            worker.close()

    def part(self, stage: str, block: Block, columns: list[str] | None = None) -> pa.Table:
        return read_part(self.folder.part(stage_key(stage, block)), columns)

    def batches(self, params: Any) -> list[tuple[range, Any]]:
        """Each block's document numbers and fingerprints, from the fingerprint parts."""
        out: list[tuple[range, Any]] = []
        number = 0
        for block in self.blocks:
            batch = fingerprint_batch(
                self.part("fingerprint", block, ["n_tokens", "hashes", "positions"]), params
            )
            out.append((range(number, number + len(batch)), batch))
            number += len(batch)
        return out

    def build_index(self, path: Path, params: Any, links: tuple[np.ndarray, np.ndarray] | None) -> None:
        """The corpus index of the fingerprint parts, block by block (``SnapshotBuilder``), with ``links``
        (version links as two arrays of document numbers, sorted by the first) as its families."""
        from ..index.snapshot_build import SnapshotBuilder

        number = 0
        with SnapshotBuilder(path, params) as builder:
            for block in self.blocks:
                t = self.part("fingerprint", block, ["n_tokens", "hashes", "positions"])
                n = t.num_rows
                batch = fingerprint_batch(t, params)
                linked = None if links is None else _linked(links, number, number + n)
                builder.add(CORPUS, [str(i) for i in range(number, number + n)], batch, linked)
                number += n


def _linked(links: tuple[np.ndarray, np.ndarray], start: int, end: int) -> list[list[str]]:
    """The links of documents ``start .. end - 1`` as the index builder takes them (names of numbers)."""
    a, b = links
    lo, hi = np.searchsorted(a, [start, end])
    out: list[list[str]] = [[] for _ in range(end - start)]
    for x, y in zip(a[lo:hi].tolist(), b[lo:hi].tolist(), strict=True):
        out[x - start].append(str(y))
    return out
