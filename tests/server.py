"""A real ``copytrace serve`` process for the tests, on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx2

from .postgres import free_port


def start(
    db: str, tmp: Path, *, workers: int = 1, port: int | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
    env = {**os.environ, "COPYTRACE_SNAPSHOT_DIR": str(tmp / "snapshots"), "COPYTRACE_POLL_SECONDS": "0.2"}
    with open(tmp / f"serve-{port}.log", "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "copytrace.cli.main",
                "serve",
                "--db",
                db,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx2.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            kill(proc)
            raise RuntimeError(
                f"copytrace serve did not start: {(tmp / f'serve-{port}.log').read_text()[-2000:]}"
            )
        time.sleep(0.1)


def kill(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the server and its workers (its whole process group) and wait for it."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


@contextmanager
def serving(db: str, tmp: Path, *, workers: int = 1) -> Iterator[str]:
    proc, url = start(db, tmp, workers=workers)
    try:
        yield url
    finally:
        kill(proc, signal.SIGTERM)
