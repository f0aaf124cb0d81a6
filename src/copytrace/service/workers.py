"""The worker processes of ``copytrace serve --workers N``: forked from a supervisor that imported them.

uvicorn starts each worker with multiprocessing's *spawn*: a fresh interpreter that imports the command
line, FastAPI, SQLAlchemy, NumPy and Numba again (about 1.1 s of CPU a worker), the workers side by side on
the machine's cores, after the supervisor's own imports: most of a start from the snapshot
(``docs/benchmarks.md``).  ``run_workers`` imports the service once in the supervisor (with Numba's array
support, ``numba_start.load_kernel_support``), then runs uvicorn's supervisor with its workers *forked* from
it: each starts with those modules loaded (their pages shared with the supervisor until written) and only
builds its app, maps the snapshot and loads the compiled kernels.

Nothing that must not cross a fork is open in the supervisor when it forks: no thread, no database
connection (the store it migrated is closed), no compiled code loaded (Numba's target starts in each worker,
``LiveIndex``).  A forked worker first puts back the signal handlers a fresh interpreter has (the supervisor's
queue signals in its own memory), until its server installs its own; a worker that dies is forked again, as
uvicorn starts one again.  Where the system cannot fork, or uvicorn no longer starts its workers through
``uvicorn._subprocess.spawn``, the workers are spawned as before.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from socket import socket
from typing import Any

import uvicorn
import uvicorn._subprocess
from uvicorn.supervisors import Multiprocess

from ..numba_start import load_kernel_support

log = logging.getLogger("copytrace.service")

SERVICE_MODULE = "copytrace.service.app"  # what every worker imports: imported once, before the fork


def run_workers(config: uvicorn.Config, sockets: list[socket]) -> None:
    """Run uvicorn's supervisor of ``config.workers`` workers on ``sockets``, forked after importing the
    service (spawned where that cannot be done), until it is told to stop."""
    if "fork" in multiprocessing.get_all_start_methods() and hasattr(uvicorn._subprocess, "spawn"):
        importlib.import_module(SERVICE_MODULE)
        load_kernel_support()  # Numba's array support, imported: its typing tables, no compiled code
        uvicorn._subprocess.spawn = _Forking()  # type: ignore[assignment]
    else:
        log.info("starting the workers as fresh interpreters: this system cannot fork them")
    Multiprocess(config, sockets=sockets).run()


class _Forking:
    """What uvicorn asks of its ``spawn`` context (``Process(target=..., kwargs=...)``), made with fork."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("fork")

    def Process(self, target: Callable[..., None], kwargs: dict[str, Any]) -> BaseProcess:  # noqa: N802
        return self._context.Process(target=_forked, args=(target,), kwargs=kwargs)


def _forked(started: Callable[..., None], **kwargs: Any) -> None:
    """In a forked worker: a fresh interpreter's signal handlers, then uvicorn's worker."""
    for number in {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1}:
        signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    for number in {signal.SIGUSR2, signal.SIGTTIN, signal.SIGTTOU, signal.SIGWINCH}:
        signal.signal(number, signal.SIG_DFL)
    started(**kwargs)
