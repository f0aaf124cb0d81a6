"""Ray: started here, on this machine or a cluster, and a step run over blocks by a pool of actors.

``start`` connects to the cluster named by ``--ray-address`` or ``RAY_ADDRESS`` and otherwise starts a Ray
on this machine with no set-up; nothing else differs between the two.  ``run`` feeds the blocks to a Ray
Data ``map_batches`` whose actors each construct the step once (opening the index once per actor, mapped
once per node) and then work block after block; the driver receives each block's result as it is done, in
whatever order, to record it and move the progress bar.  A worker that dies is restarted by Ray and its
block done again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import CopytraceError
from .inputs import Block


class EngineError(CopytraceError):
    """Ray is missing, or could not start or connect."""


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise EngineError("scan and cluster run on Ray: pip install 'copytrace[ray]'") from exc
    return ray


def start(address: str | None = None, *, num_cpus: int | None = None) -> dict[str, Any]:
    """Start or join Ray; returns ``{"address", "nodes", "cpus"}`` of the cluster the job runs on."""
    ray = _ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=True,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray"
            raise EngineError(f"cannot start {where}: {exc}") from exc
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {
        "address": address or "local",
        "nodes": len(nodes),
        "cpus": int(ray.cluster_resources().get("CPU", 1)),
    }


@contextlib.contextmanager
def native_log(path: Path) -> Iterator[None]:
    """Send what Ray's C++ core writes to this process's standard error (notes about its own operators,
    printed whatever the log level) to ``path``; Python's ``sys.stderr`` keeps the terminal."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real standard error (an embedding program): nothing to keep clean
        yield
        return
    terminal = sys.stderr
    try:
        python_on_fd2 = terminal.fileno() == 2
    except (OSError, ValueError, AttributeError):  # replaced by a capture (pytest) or a wrapper
        python_on_fd2 = False
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        if python_on_fd2:
            sys.stderr = os.fdopen(
                os.dup(saved), "w", buffering=1, encoding=terminal.encoding, errors="backslashreplace"
            )
        try:
            yield
        finally:
            if python_on_fd2:
                sys.stderr.flush()
                sys.stderr.close()
                sys.stderr = terminal
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def session(address: str | None = None) -> Iterator[dict[str, Any]]:
    """``start`` for the length of a job; a Ray started here is shut down after it (one started or joined
    before, by the caller, is left running)."""
    ray = _ray()
    ours = not ray.is_initialized()
    cluster = start(address)
    try:
        yield cluster
    finally:
        if ours:
            ray.shutdown()


def run(
    step: type,
    blocks: list[Block],
    *,
    constructor_kwargs: dict[str, Any],
    actors: int,
) -> Iterator[dict[str, Any]]:
    """Run ``step`` over ``blocks``; yield each block's row as it is done.

    ``step`` is a class, constructed once per actor with ``constructor_kwargs`` and called with a batch
    ``{"block": [json]}`` (an Arrow table), returning one row per block."""
    ray = _ray()
    if not blocks:
        return
    ds = ray.data.from_items(
        [{"block": json.dumps(b.to_row())} for b in blocks], override_num_blocks=len(blocks)
    )
    ds = ds.map_batches(
        step,
        batch_size=1,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=max(1, min(actors, len(blocks)))),
        fn_constructor_kwargs=constructor_kwargs,
        num_cpus=1,
        zero_copy_batch=True,
    )
    yield from ds.iter_rows()
