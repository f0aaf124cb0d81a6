"""The processes of a ``scan`` or ``cluster`` job run as a child process, found from /proc.

A job is started in a session of its own (``start_new_session``) with a marker in its environment; its
private Ray runs in the session of the Ray keeper, a child of the driver.  ``JobProcesses.alive`` lists the
live processes (zombies are dead) that carry the marker or belong to a session where one of them was seen:
the driver's, and the keeper's (Ray's workers rename themselves ``ray::...``, which can overwrite their
environment as /proc shows it, but not their session).  Sessions are remembered between calls, so a Ray
left behind by a driver and keeper that are gone is still found.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

MARKER = "COPYTRACE_TEST_JOB"


def marked(env: dict[str, str]) -> tuple[dict[str, str], str]:
    """``env`` with a marker of its own; and the marker."""
    token = uuid.uuid4().hex
    return {**env, MARKER: token}, token


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _table() -> dict[int, tuple[bytes, int]]:
    """Every process: its state letter and its session."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _read(f"/proc/{name}/stat")
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3:
            out[int(name)] = (fields[0], int(fields[3]))
    return out


def cmdline(pid: int) -> bytes:
    return _read(f"/proc/{pid}/cmdline")


class JobProcesses:
    """The processes of the job whose environment holds ``marker``."""

    def __init__(self, marker: str) -> None:
        self.needle = f"{MARKER}={marker}".encode()
        self.sessions: set[int] = set()
        self.keepers: dict[int, str] = {}  # pid -> its private Ray folder

    def alive(self) -> list[int]:
        table = self._table_with_sessions()
        return sorted(pid for pid, (state, sid) in table.items() if state != b"Z" and sid in self.sessions)

    def _table_with_sessions(self) -> dict[int, tuple[bytes, int]]:
        table = _table()
        for pid, (state, sid) in table.items():
            if state != b"Z" and self.needle in _read(f"/proc/{pid}/environ").split(b"\0"):
                self.sessions.add(sid)
                args = cmdline(pid).split(b"\0")
                for i, arg in enumerate(args[:-1]):
                    if arg.endswith(b"_ray_supervisor.py"):
                        self.keepers[pid] = args[i + 1].decode()
        return table

    def workers(self, name: bytes) -> list[int]:
        """Live processes of the job whose command line holds ``name`` (a Ray actor's ``ray::ScanStep``)."""
        return [pid for pid in self.alive() if name in cmdline(pid)]

    def folders(self) -> list[Path]:
        """The private Ray folders of the keepers seen so far."""
        return [Path(f) for f in self.keepers.values()]

    def wait_gone(self, timeout: float) -> list[int]:
        """Poll until no process of the job is alive, at most ``timeout`` seconds; what is left."""
        deadline = time.monotonic() + timeout
        left = self.alive()
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = self.alive()
        return left

    def describe(self, pids: list[int]) -> str:
        return "; ".join(f"{pid}: {cmdline(pid)[:120]!r}" for pid in pids)
