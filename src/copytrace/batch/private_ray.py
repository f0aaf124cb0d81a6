"""A Ray of the job's own on this machine: what ``scan`` and ``cluster`` run on when no cluster is named.

``ray.init()`` with no address joins the cluster whose address Ray recorded in ``$RAY_TMPDIR`` or
``/tmp/ray`` (a folder any local user can write), and a Ray it starts is a child of the driver, in the
driver's process group: Ctrl-C reaches its processes too, and a kill -9 of the driver leaves some of them
running.  So a job never calls it that way.  ``PrivateRay.start`` runs a keeper process
(``_ray_supervisor``) in a session of its own, which starts a Ray head with a fresh private folder of its own
(mode 0700, short enough for the Unix sockets Ray makes in it) and a random token that only the job's
processes hold (in their environment, never on disk); the driver then joins that Ray by its address.  The
keeper holds the read end of a pipe whose write end only the driver holds: when the driver closes it,
exits or dies (whatever the signal), the keeper kills every process of its session and exits, and a child
it leaves behind removes the folder once the keeper can no longer write in it.

>>> PrivateRay.folder_base("/var/tmp")
'/var/tmp'
>>> PrivateRay.folder_base("/a/very/long/temporary/folder/that/leaves/no/room")
'/tmp'
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import CopytraceError

# Ray's longest socket is FOLDER/r/session_<date>_<time>_<micro>_<pid>/sockets/plasma_store: 66 bytes past
# FOLDER, and a Unix socket path holds 107.
MAX_FOLDER = 107 - 66
FOLDER_PREFIX = "ctray-"
STOP_WAIT = 10.0  # seconds a normal stop waits for the keeper
TOKEN = secrets.token_hex(32)  # one per driver process: Ray reads it once per process


class PrivateRayError(CopytraceError):
    """The private Ray could not be started."""


class PrivateRay:
    """A running private Ray: its address, its folder, and the keeper that stops it."""

    def __init__(self, keeper: subprocess.Popen[str], folder: str, address: str, seconds: float) -> None:
        self.keeper, self.folder, self.address, self.seconds = keeper, folder, address, seconds
        self._after: list[Callable[[], object]] = []

    def on_stop(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` once this Ray is stopped (the driver's settings for it are put back)."""
        self._after.append(callback)

    @staticmethod
    def folder_base(base: str | None = None) -> str:
        """Where the private folder goes: the temporary folder, or ``/tmp`` when that is too long a path
        for Ray's sockets."""
        base = base or tempfile.gettempdir()
        return base if len(base) + 1 + len(FOLDER_PREFIX) + 8 <= MAX_FOLDER else "/tmp"

    @staticmethod
    def environment() -> dict[str, str]:
        """What the job's Ray processes and its driver need in their environment: token authentication
        with this process's token (a stranger on the network cannot join), and no address to follow."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN, "RAY_USAGE_STATS_ENABLED": "0"}

    @classmethod
    def start(cls, *, num_cpus: int | None = None, log: Path | None = None) -> PrivateRay:
        """Start the keeper and its Ray; ``PrivateRayError`` (with the reason) when Ray does not start.
        What Ray prints goes to ``log`` (else nowhere)."""
        started = time.perf_counter()
        folder = tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=cls.folder_base())
        _UNKEPT.append(folder)  # removed by ``release_all`` if Ctrl-C comes before its keeper is running
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env.update(cls.environment())
        env["PYTHONWARNINGS"] = "ignore"
        script = str(Path(__file__).with_name("_ray_supervisor.py"))
        sink: IO[bytes] | int = subprocess.DEVNULL
        if log is not None:
            sink = open(log, "ab")  # noqa: SIM115 - handed to the child, closed just after
        try:
            keeper = subprocess.Popen(
                [sys.executable, script, folder, str(num_cpus or 0)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                env=env,
                cwd="/",  # what a worker is given is a full path, never one relative to the driver's folder
                text=True,
                start_new_session=True,
            )
        except OSError as exc:
            os.rmdir(folder)
            _UNKEPT.remove(folder)
            raise PrivateRayError(f"cannot start a private Ray on this machine: {exc}") from exc
        finally:
            if not isinstance(sink, int):
                sink.close()
        _RUNNING.append((keeper, folder))
        _UNKEPT.remove(folder)
        assert keeper.stdout is not None
        line = keeper.stdout.readline().strip()
        word, _, rest = line.partition(" ")
        if word != "ready":
            cls._stop(keeper, folder)
            reason = rest if word == "failed" else f"its keeper exited with status {keeper.poll()}"
            where = f" (Ray's messages are in {log})" if log is not None else ""
            raise PrivateRayError(f"cannot start a private Ray on this machine: {reason}{where}")
        return cls(keeper, folder, rest, time.perf_counter() - started)

    def stop(self) -> None:
        """Stop every process of this Ray and remove its folder (the keeper does it; this waits for it)."""
        self._stop(self.keeper, self.folder)
        while self._after:
            self._after.pop()()

    @staticmethod
    def _stop(keeper: subprocess.Popen[str], folder: str, wait: float = STOP_WAIT) -> None:
        with contextlib.suppress(OSError, ValueError):
            if keeper.stdin is not None:
                keeper.stdin.close()
        deadline = time.monotonic() + wait
        try:
            keeper.wait(timeout=wait)
            # the folder is removed by the keeper's child once the keeper is gone; it holds the keeper's
            # standard output until then
            gone = keeper.stdout is None or _read_to_end(keeper.stdout, deadline)
            if gone:  # the child has closed its files; it may take a moment more to end
                from ._ray_supervisor import session_members

                while session_members(keeper.pid) and time.monotonic() < deadline:
                    time.sleep(0.01)
        except subprocess.TimeoutExpired:  # the keeper is stuck or out of time
            with contextlib.suppress(OSError):
                os.kill(keeper.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                keeper.wait(timeout=1)
            gone = False
        if not gone:  # its whole session, now; then the folder, once nothing of the session can write in it
            from ._ray_supervisor import kill_session, session_members

            for _ in range(20):
                kill_session(keeper.pid)
                if not session_members(keeper.pid):
                    break
                time.sleep(0.05)
            shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(ValueError):
            _RUNNING.remove((keeper, folder))
        if keeper.stdout is not None:
            keeper.stdout.close()


def _read_to_end(stream: IO[str], deadline: float) -> bool:
    """Read ``stream`` (a pipe) until end-of-file or ``deadline``; whether its end was reached."""
    fd = stream.fileno()
    while (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0] and not os.read(fd, 4096):
            return True
    return False


_RUNNING: list[tuple[subprocess.Popen[Any], str]] = []
_UNKEPT: list[str] = []


def release_all() -> None:
    """Tell the keeper of every private Ray this process started to stop it, and do not wait (on Ctrl-C:
    the keepers stop Ray whether this process is still there or not)."""
    for keeper, _ in list(_RUNNING):
        with contextlib.suppress(OSError, ValueError):
            if keeper.stdin is not None:
                keeper.stdin.close()
    for folder in list(_UNKEPT):
        shutil.rmtree(folder, ignore_errors=True)
