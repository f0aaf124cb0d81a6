"""Ctrl-C and SIGTERM during a batch job: one line, the job's private Ray stopped, and the process gone.

Raised as ``KeyboardInterrupt`` inside Ray's driver code, a Ctrl-C printed pages of Ray's tracebacks and
sometimes left the driver hanging in Ray's shutdown.  While ``exit_on_signal`` is active, SIGINT and SIGTERM
raise nothing: Python's C-level handler writes the signal's number to a pipe (``signal.set_wakeup_fd``),
and a thread reading it - which runs even while the main thread waits in Ray's C++ code - prints one line,
kills the job's local workers (``processes``), tells the keeper of every private Ray of this process to stop
it (``private_ray.release_all``: the keeper kills Ray's processes within about a second, whether this process
is still there or not) and ends the
process at once with ``os._exit(128 + signal)``: 130 for Ctrl-C, 143 for SIGTERM.  It does not wait for Ray
to go: Ray's driver code ends the process itself, with status 1, when it sees its Ray die under it.  Nothing
half-done is lost: a job records each finished block atomically, and ``--resume`` goes on from there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

from . import private_ray

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXITING = threading.Event()  # set once a signal was taken: others stop printing (the line is the last word)
CHILDREN: set[int] = set()  # the job's local worker processes (``processes``): killed before the exit

_armed: list[bool] = []


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A Python-level handler, so that the C-level one writes to the wakeup pipe; the thread acts."""


def rearm() -> None:
    """Take SIGINT and SIGTERM back after a library replaced their handlers (``ray.init`` sets SIGTERM's)."""
    if _armed and threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, _ignore)


def _write_line(text: str) -> None:
    data = (text + "\n").encode("utf-8", "backslashreplace")
    try:
        os.write(sys.stderr.fileno(), data)  # no lock: the main thread may hold the stream's
    except (OSError, ValueError, AttributeError):
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(text + "\n")
            sys.stderr.flush()


def _take(signum: int, detail: str) -> None:
    if EXITING.is_set():
        return
    EXITING.set()
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    _write_line(f"copytrace: {word}; {detail}")
    for pid in list(CHILDREN):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    private_ray.release_all()
    os._exit(128 + signum)


def _watch(read_end: int, detail: str) -> None:
    try:
        while data := os.read(read_end, 64):
            for signum in data:
                if signum in SIGNALS:
                    _take(signum, detail)
    finally:
        os.close(read_end)


@contextlib.contextmanager
def exit_on_signal(detail: str) -> Iterator[None]:
    """While active, SIGINT and SIGTERM print ``copytrace: interrupted; DETAIL`` (or ``terminated``), stop
    the private Ray and exit at once.  Outside the main thread (where signals cannot be taken) a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    _armed.append(True)
    rearm()
    threading.Thread(target=_watch, args=(read_end, detail), name="copytrace-signals", daemon=True).start()
    try:
        yield
    finally:
        _armed.pop()
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(previous_fd)
        os.close(write_end)  # the thread reads the end of the pipe and stops
