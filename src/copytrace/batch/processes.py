"""The local executor: a job's step run over blocks by worker processes forked from the driver, without Ray.

On one machine Ray costs more than it gives a scan: seconds to start its servers, a second or more per
actor to import and load the compiled kernels, and a scheduler and object store between the driver and
work that takes milliseconds per block.  Here the driver prepares the step once (the index mapped, the
kernels loaded, the imports done: ``warm``) and then forks the workers, which inherit all of it: a worker
is ready in milliseconds, and the index's pages stay shared between them (a mapped file, and copy-on-write
memory).  The step is the same object a Ray actor runs (``engine.run``); only the executor differs.

Each worker takes one block at a time through a pipe and sends back the step's row for it.  A worker that
dies (killed, out of memory, crashed) is replaced and its block given to the new one, once more
(``max_tries`` in all): when that dies too, the block yields no row and the others go on, as on Ray.

The workers never outlive the driver: they ignore SIGINT (a Ctrl-C at a terminal reaches the whole process
group: the driver alone decides, see ``interrupts``, which kills them before it exits), and on Linux the
kernel kills each one when the driver dies, whatever the signal (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from . import interrupts

STOP_WAIT = 5.0  # seconds the workers get to leave after the last block before they are killed
_PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Ask the kernel to kill this process when its parent dies (Linux); exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _serve(conn: Connection, step: Callable[[Any], Any], parent: int) -> None:
    """A worker: blocks in, rows out, until the driver sends None or goes away."""
    _die_with(parent)
    signal.set_wakeup_fd(-1)  # the driver's signal pipe is not this process's to write to
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            block = conn.recv()
        except (EOFError, OSError):
            break
        if block is None:
            break
        conn.send(step(block))
    conn.close()


@dataclass
class _Worker:
    process: Any  # multiprocessing's fork Process
    conn: Connection
    block: Any = None


def run(
    step: Callable[[Any], Any],
    blocks: list[Any],
    *,
    workers: int,
    max_tries: int = 2,
) -> Iterator[Any]:
    """Run ``step(block)`` over ``blocks`` in ``workers`` forked processes; yield each row as it comes, in
    whatever order.  ``step`` must be ready before this is called (the workers inherit it as it is)."""
    if not blocks:
        return
    context = multiprocessing.get_context("fork")
    queue: deque[Any] = deque(blocks)
    tries: dict[int, int] = {}
    me = os.getpid()
    pool: list[_Worker] = []

    def spawn() -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve, args=(theirs, step, me), daemon=True, name="copytrace-worker"
        )
        with warnings.catch_warnings():
            # Python 3.12 warns of fork() in a process with threads: the driver's (signals, progress) take
            # a lock only while they print a line, and a worker runs only the step
            warnings.filterwarnings("ignore", message=".*fork", category=DeprecationWarning)
            process.start()
        theirs.close()
        assert process.pid is not None  # started
        interrupts.CHILDREN.add(process.pid)
        worker = _Worker(process, ours)
        pool.append(worker)
        return worker

    def retire(worker: _Worker) -> None:
        pool.remove(worker)
        interrupts.CHILDREN.discard(worker.process.pid)
        worker.conn.close()
        worker.process.join(timeout=1)

    def dispatch() -> None:
        for worker in list(pool):
            if worker.block is None and queue:
                block = queue.popleft()
                try:
                    worker.conn.send(block)
                except (OSError, ValueError):  # it died between two blocks: no try of this block was spent
                    queue.appendleft(block)
                    retire(worker)
                    spawn()
                    continue
                worker.block = block

    gc.freeze()  # what the workers inherit is never scanned by their collector: its pages stay shared
    try:
        for _ in range(max(1, min(workers, len(blocks)))):
            spawn()
        while True:
            dispatch()
            busy = [w for w in pool if w.block is not None]
            if not busy:
                return
            ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
            rows = []
            for worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    try:
                        got = worker.conn.recv() if worker.conn.poll() else None
                    except (EOFError, OSError):
                        got = None
                    if got is not None:
                        worker.block = None
                        rows.append(got)
                        continue
                    if worker.process.is_alive():
                        continue
                    block = worker.block
                    retire(worker)
                    tries[id(block)] = tries.get(id(block), 0) + 1
                    if tries[id(block)] < max_tries:
                        queue.appendleft(block)
                    if queue:
                        spawn()
            dispatch()  # the next blocks go out before the rows are handled
            yield from rows
    finally:
        _stop(pool)
        gc.unfreeze()


def _stop(pool: list[_Worker]) -> None:
    for worker in pool:
        with contextlib.suppress(OSError, ValueError):
            worker.conn.send(None)
    deadline = time.monotonic() + STOP_WAIT
    for worker in pool:
        worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        if worker.process.is_alive():
            with contextlib.suppress(OSError):
                os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join(timeout=1)
        interrupts.CHILDREN.discard(worker.process.pid)
        with contextlib.suppress(OSError):
            worker.conn.close()
    pool.clear()
