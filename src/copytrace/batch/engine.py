"""Ray: the job's own on this machine, or the cluster named, and a step run over blocks by a pool of actors.

``session`` joins the cluster named by ``--ray-address`` or ``RAY_ADDRESS``; with neither it starts a Ray of
the job's own on this machine (``private_ray``: its own folder and token, in a session of its own, stopped
when the job ends however it ends) and never the cluster Ray recorded in its shared folder.  A Ray the
calling program started itself (``ray.init`` before the job) is used as it is.  ``run`` feeds the blocks to a
Ray Data ``map_batches`` whose actors each construct the step once (opening the index once per actor, mapped
once per node) and then work block after block; the driver receives each block's result as it is done, in
whatever order, to record it and move the progress bar.  A worker that dies is restarted by Ray and its
block done again.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import CopytraceError
from . import interrupts
from .inputs import Block
from .private_ray import PrivateRay


class EngineError(CopytraceError):
    """Ray is missing, or could not start or connect."""


_READY: list[Callable[[dict[str, Any]], object]] = []  # told when a session's Ray is up (``when_ready``)
_LOGS: list[Path] = []  # the files ``native_log`` sends Ray's messages to, innermost last


@contextlib.contextmanager
def when_ready(callback: Callable[[dict[str, Any]], object]) -> Iterator[None]:
    """Within this block, ``callback(cluster)`` is called when a job's Ray is up: its start-up is over
    (``cluster["start_seconds"]`` long) and the work begins (the progress counts its rate from there)."""
    _READY.append(callback)
    try:
        yield
    finally:
        _READY.remove(callback)


def ready(cluster: dict[str, Any]) -> None:
    """Tell the ``when_ready`` callbacks that a job's engine is up (Ray, or the local executor's workers)."""
    for callback in list(_READY):
        callback(cluster)


# What the ``ray`` extra installs that a batch job imports: checked before any input is read, so a job
# without the extra stops with one line naming it, not with an import error from deep inside.
EXTRA_MODULES = ("ray", "pyarrow", "fsspec", "zstandard")


def require_extra() -> None:
    """Raise ``EngineError`` naming ``copytrace[ray]`` when a package of that extra is missing."""
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise EngineError(
            f"scan and cluster need {', '.join(missing)}, which come with the ray extra: "
            "pip install 'copytrace[ray]'"
        )


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise EngineError("scan and cluster run on Ray: pip install 'copytrace[ray]'") from exc
    return ray


def _quiet() -> None:
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _connect(
    address: str | None, *, num_cpus: int | None, log: Path | None
) -> tuple[dict[str, Any], PrivateRay | None]:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a private Ray; the description of
    the cluster (``address``: as named, or ``local`` for a private one; ``gcs_address``; ``private``;
    ``nodes``, ``cpus``; ``start_seconds``) and the private Ray to stop after, if one was started."""
    ray = _ray()
    address = address or os.environ.get("RAY_ADDRESS") or None
    _quiet()
    started = time.perf_counter()
    private: PrivateRay | None = None
    if ray.is_initialized():  # the calling program's own Ray
        named = address or "existing"
    else:
        target = address
        if address is None:
            private = PrivateRay.start(num_cpus=num_cpus, log=log)
            target = private.address
            before = _set_environment(PrivateRay.environment())
            private.on_stop(lambda: _set_environment(before))
        try:
            ray.init(
                address=target,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=True,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if private is not None:
                private.stop()
                raise EngineError(f"cannot join the private Ray started for this job: {exc}") from exc
            raise EngineError(f"cannot join the Ray cluster at {address}: {exc}") from exc
        finally:
            interrupts.rearm()  # ray.init installs a SIGTERM handler of its own
        named = address or "local"
    _quiet()
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.verbose_stats_logs = False
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cluster = {
        "executor": "ray",
        "address": named,
        "gcs_address": ray.get_runtime_context().gcs_address,
        "private": private is not None,
        "nodes": len(nodes),
        "cpus": int(ray.cluster_resources().get("CPU", 1)),
        "start_seconds": round(time.perf_counter() - started, 3),
    }
    return cluster, private


def _set_environment(values: Mapping[str, str | None]) -> dict[str, str | None]:
    """Set (or, for None, remove) environment variables of this process and refresh what Ray read from
    there once per process (its authentication mode, its token); returns what they were."""
    before = {name: os.environ.get(name) for name in values}
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    raylet = importlib.import_module("ray._raylet")
    config = getattr(raylet, "Config", None)
    if config is not None:  # a Ray with token authentication
        config.initialize("")
    loader = getattr(raylet, "AuthenticationTokenLoader", None)
    if loader is not None:  # the token a Ray started earlier in this process left cached
        loader.instance().reset_cache()
    return before


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
        _LOGS.append(path)
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
            _LOGS.pop()


@contextlib.contextmanager
def session(
    address: str | None = None, *, num_cpus: int | None = None, log: Path | None = None
) -> Iterator[dict[str, Any]]:
    """Ray for the length of a job (``_connect``).  A Ray joined or started here is left (``ray.shutdown``)
    after it, and a private one stopped, on every way out; one the caller started is left running.  With
    ``log``, what Ray's C++ core prints to standard error goes to that file instead (``native_log``)."""
    ray = _ray()
    ours = not ray.is_initialized()
    with contextlib.ExitStack() as stack:
        if log is not None:
            stack.enter_context(native_log(log))
        cluster, private = _connect(address, num_cpus=num_cpus, log=_LOGS[-1] if _LOGS else None)
        if private is not None:
            stack.callback(private.stop)
        if ours:
            stack.callback(ray.shutdown)
        ready(cluster)
        yield cluster


MAX_TRIES = 2  # times a block is given to a worker that then dies, before it counts as failed


def run(
    step: type,
    blocks: list[Block],
    *,
    constructor_kwargs: dict[str, Any],
    actors: int,
) -> Iterator[dict[str, Any]]:
    """Run ``step`` over ``blocks``; yield each block's row as it is done.

    ``step`` is a class, constructed once per actor with ``constructor_kwargs`` and called with a batch
    ``{"block": [json]}`` (an Arrow table), returning one row per block.  A block whose worker dies (killed,
    out of memory, crashed) is tried once more on a new worker; when that dies too, the block yields no row
    and the others go on: the caller reports it as failed (``MAX_TRIES``), rather than Ray retrying it
    forever."""
    ray = _ray()
    if not blocks:
        return
    context = ray.data.DataContext.get_current()
    saved = context.max_errored_blocks
    context.max_errored_blocks = -1  # a block that failed MAX_TRIES times is left out, the others go on
    ds = ray.data.from_items(
        [{"block": json.dumps(b.to_row())} for b in blocks], override_num_blocks=len(blocks)
    )
    with warnings.catch_warnings():
        # Ray Data names no parameter for an actor's task retries (its default is forever) and warns that
        # the remote arguments it still takes will go
        warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
        ds = ds.map_batches(
            step,
            batch_size=1,
            batch_format="pyarrow",
            # one block at a time per actor: a worker that dies takes only its own block's try with it
            compute=ray.data.ActorPoolStrategy(
                size=max(1, min(actors, len(blocks))), max_tasks_in_flight_per_actor=1
            ),
            fn_constructor_kwargs=constructor_kwargs,
            num_cpus=1,
            zero_copy_batch=True,
            max_task_retries=MAX_TRIES - 1,
        )
    try:
        yield from ds.iter_rows()
    finally:
        context.max_errored_blocks = saved
