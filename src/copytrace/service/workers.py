"""The worker processes of ``copytrace serve --workers N``: forked from a supervisor that imported them.

uvicorn starts each worker with multiprocessing's *spawn*: a fresh interpreter that imports the command
line, FastAPI, SQLAlchemy, NumPy and Numba again (about 1.1 s of CPU a worker), the workers side by side on
the machine's cores, after the supervisor's own imports: most of a start from the snapshot
(``docs/benchmarks.md``).  ``run_workers`` imports the service once in the supervisor (with Numba's array
support, ``numba_start.load_kernel_support``), then runs uvicorn's supervisor with its workers *forked* from
it: each starts with those modules loaded (their pages shared with the supervisor until written) and only
builds its app, maps the snapshot and loads the compiled kernels that only its mapped index runs.

The supervisor also loads, once, the compiled kernels that a worker's start runs on an index in memory
(``load_kernels``: matching a text, adding, linking and removing items, on a scratch index of its own), so a
forked worker finds them loaded instead of loading them from Numba's cache itself (about 0.2 s of CPU a
worker, the workers side by side on the cores).  ``serve`` starts that load first, in a thread, and imports
FastAPI and the service and opens the store meanwhile (``start_preparing``): the load is mostly LLVM's work,
which releases the interpreter's lock, the imports Python's.  The thread has ended before the workers are
forked, and the kernels themselves start none: copytrace's kernels are not parallel.

What the supervisor holds when it forks (the modules, the loaded kernels: 250,000-420,000 objects) is
moved to the collector's permanent generation first (``gc.freeze``; the collector paused while they are
made, as a short command's start pauses it).  A forked worker's full collections traversed all of it:
87-211 ms each at 1,000,000 items, every request of the worker waiting, and the first came as the worker
began serving; the worker that built the index from the store ran 18 of them (4.1 s).  Frozen, a worker's
collections traverse only what the worker made, and leave the supervisor's pages shared.

Nothing that must not cross a fork is open in the supervisor when it forks: no thread, no database
connection (the store it migrated is closed).  A forked worker first puts back the signal handlers a fresh
interpreter has (the supervisor's queue signals in its own memory), until its server installs its own; a
worker that dies is forked again, as uvicorn starts one again.  Where the system cannot fork, or uvicorn no
longer starts its workers through ``uvicorn._subprocess.spawn``, the workers are spawned as before.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import multiprocessing
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from socket import socket
from typing import TYPE_CHECKING, Any

import uvicorn
import uvicorn._subprocess
from uvicorn.supervisors import Multiprocess

from ..fingerprints.keys import PUBLIC_KEY
from ..numba_start import load_kernel_support

if TYPE_CHECKING:
    from ..fingerprints.fingerprint import Fingerprint
    from ..index import Index

log = logging.getLogger("copytrace.service")

SERVICE_MODULE = "copytrace.service.app"  # what every worker imports: imported once, before the fork


def can_fork() -> bool:
    """Whether ``run_workers`` forks its workers: where the system can fork, and uvicorn starts them
    through ``uvicorn._subprocess.spawn``."""
    return "fork" in multiprocessing.get_all_start_methods() and hasattr(uvicorn._subprocess, "spawn")


def run_workers(config: uvicorn.Config, sockets: list[socket], preparing: Preparation | None = None) -> None:
    """Run uvicorn's supervisor of ``config.workers`` workers on ``sockets``, forked after importing the
    service (spawned where that cannot be done), until it is told to stop.  ``preparing``: the
    supervisor's preparation, begun by the caller (``start_preparing``); else it is done here."""
    if can_fork():
        (preparing or start_preparing()).finish()
        uvicorn._subprocess.spawn = _Forking()  # type: ignore[assignment]
    else:
        if preparing is not None:
            preparing.wait()
        log.info("starting the workers as fresh interpreters: this system cannot fork them")
    Multiprocess(config, sockets=sockets).run()


def prepare_supervisor() -> None:
    """What the supervisor does before it forks its workers: import the service, load the kernels, and
    freeze what that made (``gc.freeze``), so that the workers' collections never traverse it
    (``start_preparing``, then ``Preparation.finish``)."""
    start_preparing().finish()


KERNEL_MODULES = ("copytrace.fingerprints.fingerprint", "copytrace.index", "copytrace.banks.linking")
"""What ``load_kernels`` runs: imported before it starts, so that its thread imports none of copytrace's
modules while the supervisor's main thread imports the service."""


def start_preparing() -> Preparation:
    """Begin what the supervisor does before it forks: import the kernels' modules and Numba's array support,
    then load the kernels (``load_kernels``) in a thread of their own, while the caller goes on (``serve``:
    it imports FastAPI and the service, and opens the store once).  ``Preparation.finish`` ends it."""
    return Preparation()


class Preparation:
    """The supervisor's preparation under way: the kernels loading in a thread, the collector paused.

    Loading a cached kernel is mostly LLVM's work (parsing the kernel's bitcode, loading its machine code),
    in calls that release the interpreter's lock, so it runs beside the imports of FastAPI, Pydantic and
    the service, which are Python's work: on two cores about 0.3 s of a start from the snapshot.  Only
    Numba's own modules are imported in the thread (the parts of its runtime a kernel links to); the
    modules of copytrace it runs are imported before it starts (``KERNEL_MODULES``)."""

    def __init__(self) -> None:
        self._collector = gc.isenabled()
        gc.disable()  # the collections of a start that only grows would each traverse all it made so far
        self._failure: BaseException | None = None
        self._ended = False
        self._quiet = _quiet_llvm_lock()
        self._thread = threading.Thread(target=self._load, name="copytrace-kernel-load", daemon=True)
        try:
            for name in KERNEL_MODULES:
                importlib.import_module(name)
            load_kernel_support()  # Numba's array support, imported: its typing tables
            with contextlib.ExitStack() as entered:
                entered.enter_context(self._quiet)
                self._thread.start()
                entered.pop_all()  # left by ``_end``
        except BaseException:
            if self._collector:
                gc.enable()
            raise

    def _load(self) -> None:
        try:
            load_kernels()
        except BaseException as exc:  # raised again by ``finish``, in the supervisor's main thread
            self._failure = exc

    def wait(self) -> None:
        """Wait for the kernels' thread and put the collector back as it was, freezing nothing: what a start
        that stops before its workers are forked does, so that no thread is left loading.  A failure of
        the kernels' load is not raised here (the start has failed already)."""
        self._end()

    def finish(self) -> None:
        """Import the service (if it is not yet), wait for the kernels, then collect once and freeze.

        The collection comes first (about 0.1 s of CPU with the kernels cached): the garbage in reference
        cycles would otherwise be frozen for good in every worker - about 1,900 objects with the kernels
        cached, and when they are compiled (the first start after an install) about two million, some
        200 MiB, with the scratch indexes of ``load_kernels`` and their mapped snapshot among them."""
        try:
            importlib.import_module(SERVICE_MODULE)
        finally:
            self._end(freeze=True)
        if self._failure is not None:
            raise self._failure

    def _end(self, freeze: bool = False) -> None:
        if self._ended:
            return
        self._ended = True
        self._thread.join()
        self._quiet.__exit__(None, None, None)
        if freeze:
            gc.collect()
            gc.freeze()
        if self._collector:
            gc.enable()


WARM_UP_TEXT = "copytrace loads its compiled matching code once, before it forks its workers"


def load_kernels() -> None:
    """Load the compiled kernels a worker runs on its live index and in the requests that change it.

    Numba loads a kernel once per process for each type of its arguments, so forked workers share what is
    loaded here; the values (parameters, key, texts) do not matter, the types do.  A worker's index is a
    mapped snapshot: its arrays are read-only, and once items are added or removed they are a mix of
    mapped and in-memory ones.  So the kernels are loaded on a scratch index saved and mapped the same way,
    as it is, with an item added, with one of the snapshot's removed and with another added after that:
    linking a new item (a small index of its call, and the versions in the mapped one), adding it as the
    change feed does, matching one text (with its quote pass) and a batch, removing; then compacted into
    memory.  The scratch indexes in memory cover a worker's start (``LiveIndex``'s warm-up): adding one
    item and two (which link), finding an item's versions, adding with links, counting and removing.
    Without this, the first item added through each worker loaded seven kernels (about 0.4 s at 1,000,000
    items) and the matches after it two more.
    """
    from ..fingerprints.fingerprint import Fingerprint, FingerprintParams, fingerprint
    from ..index import Index

    params = FingerprintParams(key_id=PUBLIC_KEY.key_id)
    fp = Fingerprint.parse(str(fingerprint(WARM_UP_TEXT, key=PUBLIC_KEY, k=params.k, window=params.window)))
    scratch = Index.for_params(params)
    for n in (1, 2):  # one item, as most adds; two, which link to each other
        scratch = Index.for_params(params)
        scratch.add_many([(f"i{i}", fp) for i in range(n)], bank="warm-up")
        scratch.versions_of(fp, bank="warm-up")
    _ = ("warm-up", "absent") in scratch
    scratch.match(WARM_UP_TEXT)
    scratch.add("c", fp, bank="warm-up", links=["i0"])
    _ = scratch.n_fingerprints
    scratch.remove("c", bank="warm-up")
    _load_mapped_kernels(scratch, fp)


def _load_mapped_kernels(scratch: Index, fp: Fingerprint) -> None:
    """``load_kernels`` on ``scratch`` saved as a snapshot and mapped, as a worker's live index is."""
    from ..banks.linking import link_new_items
    from ..fingerprints.fingerprint import fingerprint
    from ..index import Index

    # an item that quotes 12 words of the query inside 600 of its own: the query's quote pass verifies it
    words = [f"w{n}" for n in range(150)]
    query = " ".join(words)
    quoting = " ".join([*(f"q{n}" for n in range(300)), *words[60:72], *(f"q{n}" for n in range(300, 600))])
    texts = {("warm-up", "i0"): WARM_UP_TEXT, ("warm-up", "i1"): WARM_UP_TEXT, ("warm-up", "q"): quoting}
    scratch.add("q", fingerprint(quoting, key=PUBLIC_KEY), bank="warm-up")
    with tempfile.TemporaryDirectory(prefix="copytrace-kernels-") as folder:
        path = Path(folder) / "warm-up.ctidx"
        scratch.save(path)
        mapped = Index.load(path, key=PUBLIC_KEY, text_lookup=lambda bank, item: texts.get((bank, item)))
        for state in ("mapped", "added", "removed", "added again"):  # items added to and removed from it
            link_new_items(  # the service's linking: the versions in the live index, and in the call
                "warm-up",
                scratch.params,
                [("new", fp)],
                lambda bank, f: mapped.versions_of(f, bank=bank),
                lambda: None,
            )
            mapped.match(query)
            mapped.match(query, per_family=False)
            mapped.match_many([query, WARM_UP_TEXT])
            if state == "mapped":  # as the change feed adds an item: then merged, so that queries only read
                mapped.add("new", fp, bank="warm-up", links=["i0"])
                texts["warm-up", "new"] = WARM_UP_TEXT
            elif state == "added":  # and removes one of the snapshot's
                mapped.remove("i1", bank="warm-up")
            elif state == "removed":
                mapped.add("again", fp, bank="warm-up")
            _ = mapped.n_fingerprints
        mapped.remove("new", bank="warm-up")
        mapped.remove("again", bank="warm-up")
        mapped.compact()  # held in memory, as a live index whose snapshot's items were mostly replaced
        mapped.match(query)
        mapped.match_many([query, WARM_UP_TEXT])
        _ = mapped.n_fingerprints  # the mapping goes with this frame, before the workers are forked


@contextmanager
def _quiet_llvm_lock() -> Iterator[None]:
    """Numba's callbacks on llvmlite's lock taken away meanwhile, then put back.

    Loading a cached kernel calls into LLVM through llvmlite thousands of times (naming every symbol of its
    module), and Numba has llvmlite call two Python functions at each call, to announce a lock event that
    only its compile timers listen to: 0.08 of the 0.49 s of CPU ``load_kernels`` took.  The lock itself
    stays (the supervisor's main thread, importing the service meanwhile, calls no LLVM); a kernel
    compiled meanwhile (no cache yet) only misses the lock's time in its timers.  Where llvmlite keeps the
    callbacks elsewhere, nothing is taken away.
    """
    from llvmlite.binding import ffi  # type: ignore[import-untyped]

    lock = getattr(ffi.lib, "_lock", None)
    callbacks = list(getattr(lock, "_cblist", ()))
    for acquired, released in callbacks:
        ffi.unregister_lock_callback(acquired, released)
    try:
        yield
    finally:
        for acquired, released in callbacks:
            ffi.register_lock_callback(acquired, released)


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
