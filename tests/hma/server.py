"""A real HMA for the tests, run as its Dockerfile runs it: gunicorn serving ``OpenMediaMatch.app``
from a copy of HMA's ``src/`` (the image's ``/app``), after HMA's own migrations, against a PostgreSQL
database; configured by the ``omm_config.py`` of ``docs/threatexchange.md``, with the indexer and the
matcher's index cache on one-second intervals (``OMM_*`` variables, which HMA reads over its config).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx2

from ..postgres import free_port
from ..third_party import HMA, ROOT
from . import make_venv

DOCS = ROOT / "docs" / "threatexchange.md"
CONFIG = re.compile(r"<!-- omm_config -->\s*```python\n(.*?)```", re.S)
ERRORS = re.compile(r"\bERROR\b|\bCRITICAL\b|Traceback|Exception")


def documented_config() -> str:
    """The ``omm_config.py`` that ``docs/threatexchange.md`` gives."""
    found = CONFIG.search(DOCS.read_text(encoding="utf-8"))
    if found is None:
        raise AssertionError(f"{DOCS} has no <!-- omm_config --> python block")
    return found.group(1)


class Hma:
    """A running HMA: its URL and its log."""

    def __init__(self, url: str, log: Path) -> None:
        self.url, self.log = url, log

    def errors(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if ERRORS.search(line)]


def _run(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
    with open(log, "ab") as out:
        done = subprocess.run(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{log.read_text()[-3000:]}")


@contextmanager
def running(venv: Path, database_url: str, tmp: Path) -> Iterator[Hma]:
    """HMA on a free loopback port, on the empty database ``database_url`` (``postgresql+psycopg2://``)."""
    app = tmp / "app"
    shutil.copytree(HMA / "src", app, ignore=shutil.ignore_patterns("__pycache__", "tests"))
    config = tmp / "omm_config.py"
    config.write_text(documented_config(), encoding="utf-8")
    log, port = tmp / "hma.log", free_port()
    env = {
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "HOME": str(tmp),
        "OMM_CONFIG": str(config),
        "OMM_DATABASE_URI": database_url,
        "OMM_TASK_INDEXER_INTERVAL_SECONDS": "1",
        "OMM_TASK_INDEX_CACHE_INTERVAL_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    make_venv.warm(venv)  # the image's build step (docs/threatexchange.md); recompiles what changed
    # HMA's scripts/db-migrate.sh
    _run(
        ["flask", "--app", "OpenMediaMatch.app", "db", "upgrade", "--directory", "OpenMediaMatch/migrations"],
        {**env, "MIGRATION_COMMAND": "1"},
        app,
        log,
    )
    # the image's CMD, on loopback, with a request line long enough for a long text's fingerprint
    command = [
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--limit-request-line",
        "0",
        "OpenMediaMatch.app:create_app()",
    ]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command, env=env, cwd=app, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(httpx2.TransportError):
                if httpx2.get(f"{url}/status/live", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"HMA did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Hma(url, log)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)  # gunicorn's quick shutdown
        try:
            proc.wait(timeout=5)  # its scheduler threads can hold the worker past a quick shutdown
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
