"""Shared fixtures: the real data in ../shared/data (or $COPYTRACE_DATA), read as users' files are read.

The suite runs in parallel (``pytest -n auto``, pytest-xdist): each worker process starts its own PostgreSQL
server, has its own pytest temporary folders, and its own temporary folder for Ray and child processes
(``_private_temp_folder``), so no two workers share a server, a port they chose, a file or a Ray cluster.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from copytrace.cli.main import main
from copytrace.text.textio import read_text_file

from .postgres import create_database, running_server, server_binaries

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("COPYTRACE_DATA", ROOT.parent / "shared" / "data"))
CANONICAL_000 = DATA / "canonical" / "000_ea7438489bd31fbe.txt"
CANONICAL_001 = DATA / "canonical" / "001_5e32e1b4a13a1b7e.txt"
FOOTER = (
    "All Content by Mehr News Agency is licensed under a Creative Commons Attribution 4.0 International "
    "License."
)


WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session", autouse=True)
def _private_temp_folder() -> Iterator[Path]:
    """$TMPDIR and $RAY_TMPDIR of this test process, and of the processes it starts, in a folder of its own.

    Ray keeps its sessions, sockets and the address of the last cluster started on the machine (which a later
    ``ray.init()`` joins) under $RAY_TMPDIR, else $TMPDIR, else /tmp/ray: shared, a two-node cluster one
    worker starts would be joined by another worker's scan. Python's ``tempfile`` keeps the folder it chose
    before, so pytest's own folders stay where pytest keeps them. The path is short: the sockets Ray makes
    under it must fit in 107 bytes.
    """
    tempfile.gettempdir()  # settled before $TMPDIR changes
    path = Path(tempfile.mkdtemp(prefix=f"ct-{WORKER}-", dir="/tmp" if Path("/tmp").is_dir() else None))
    before = {name: os.environ.get(name) for name in ("TMPDIR", "RAY_TMPDIR")}
    os.environ["TMPDIR"] = os.environ["RAY_TMPDIR"] = str(path)
    try:
        yield path
    finally:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():  # a Ray a test left running lives in the folder
            ray.shutdown()
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes cached by the store go to a temporary folder, never the user's cache."""
    monkeypatch.setenv("COPYTRACE_CACHE", str(tmp_path_factory.getbasetemp() / "index-cache"))


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A real PostgreSQL server for the session; in CI its absence is a failure, elsewhere a skip."""
    bindir = server_binaries()
    if bindir is None:
        message = "PostgreSQL server binaries not found: apt-get install postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with running_server(bindir) as server:
        yield server.url


_DATABASES = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store database on each backend: an SQLite file, or a database on the real server."""
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    admin = request.getfixturevalue("postgres_admin_url")
    return create_database(admin, f"test_{WORKER}_{os.getpid()}_{next(_DATABASES)}")


def pytest_configure(config: pytest.Config) -> None:
    if not CANONICAL_000.exists():
        raise pytest.UsageError(
            f"test data not found at {DATA}: set COPYTRACE_DATA to the shared data folder"
        )


# Files that start HMA's server (a minute) though they start no Ray
_LONG_FILES = ("test_hma.py",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The files that take longest first: those with ``slow`` tests (Ray, killed processes; most slow tests
    first) and ``_LONG_FILES``, then the rest by their number of tests.

    ``pytest -n`` with ``--dist loadfile`` hands out whole files in the order collected
    (``--no-loadscope-reorder``): a long file handed out last would keep one worker busy while the others have
    nothing left to take; short files last fill the time until every worker is done.
    """
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
        if any(name in _JOINERS for name in getattr(item, "fixturenames", ())):
            _USES_WORKER_RAY.add(item.nodeid.split("::")[0])

    def longest_first(path: str) -> tuple[int, int]:
        slow = sum(1 for item in files[path] if item.get_closest_marker("slow"))
        if slow or path.rsplit("/", 1)[-1] in _LONG_FILES:
            return (0, -slow)
        return (1, -len(files[path]))

    items[:] = [item for path in sorted(files, key=longest_first) for item in files[path]]


@contextlib.contextmanager
def lighter_ray() -> Iterator[dict[str, object]]:
    """Ray nodes started in the block start as a job's private Ray does (``copytrace.batch._ray_supervisor``):
    without a log monitor, an autoscaler monitor or metrics; yields the ``_system_config`` to pass."""
    from ray._private import parameter

    from copytrace.batch._ray_supervisor import SYSTEM_CONFIG, without_monitors

    init = parameter.RayParams.__init__
    without_monitors()
    try:
        yield dict(SYSTEM_CONFIG)
    finally:
        parameter.RayParams.__init__ = init  # type: ignore[method-assign]


class _WorkerRay:
    """The Ray of this test process that the tests whose point is not a job's own Ray join (a job joins a
    running Ray and leaves it running): started on first use, by the first module that asks for it, and
    stopped when the process moves on to a module that does not (the slow files come first: the Ray
    modules of a worker are done before the rest) or at the session's end.

    Its nodes are started apart from this process's driver (``ray.cluster_utils.Cluster``), so that joining
    and leaving (``ray.shutdown``) leave it running: a module joins it for its tests, and a test that needs
    no Ray running (a small job that then runs in the driver's process) leaves it first.  Its folder is its
    own, inside ``_private_temp_folder``: a ``ray.init()`` here with no address never finds it.
    """

    def __init__(self) -> None:
        self.cluster: Any = None

    def address(self, folder: Path) -> str:
        if self.cluster is None:
            from ray.cluster_utils import Cluster

            # its sessions, and the address Ray records of the last cluster started, in a folder of its own
            (folder / "wr" / "ray").mkdir(parents=True, exist_ok=True)
            settings = {"RAY_TMPDIR": str(folder / "wr"), "RAY_USAGE_STATS_ENABLED": "0"}
            before = {name: os.environ.get(name) for name in settings}
            os.environ.update(settings)
            try:
                cluster = Cluster(shutdown_at_exit=False)
                try:
                    with lighter_ray() as config:
                        cluster.add_node(num_cpus=2, include_dashboard=False, _system_config=config)
                except BaseException:
                    cluster.shutdown()  # what had started of it
                    raise
                self.cluster = cluster
            finally:
                for name, value in before.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
        return str(self.cluster.address)

    def stop(self) -> None:
        if self.cluster is not None:
            import ray

            if ray.is_initialized():  # a module's driver still joined: it leaves first
                ray.shutdown()
            cluster, self.cluster = self.cluster, None
            cluster.shutdown()


_WORKER_RAY = _WorkerRay()
_USES_WORKER_RAY: set[str] = set()  # the files with a test that joins it
_JOINERS = ("shared_ray", "shared_ray_now")


@contextlib.contextmanager
def joined_worker_ray(folder: Path) -> Iterator[str]:
    """This process's Ray, started if need be, joined by this driver within the block; its address."""
    import ray

    address = _WORKER_RAY.address(folder)
    # with usage statistics on, each job's Ray Data starts an actor to collect them (1 CPU-s)
    before = os.environ.get("RAY_USAGE_STATS_ENABLED")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    try:
        yield address
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop("RAY_USAGE_STATS_ENABLED", None)
        else:
            os.environ["RAY_USAGE_STATS_ENABLED"] = before


@pytest.fixture(scope="module")
def shared_ray(_private_temp_folder: Path) -> Iterator[str]:
    """This process's Ray (``_WorkerRay``), joined for the module's tests; its address."""
    with joined_worker_ray(_private_temp_folder) as address:
        yield address


@pytest.fixture
def shared_ray_now(_private_temp_folder: Path) -> Iterator[str]:
    """This process's Ray, joined for one test only (the module's other tests run with no Ray)."""
    with joined_worker_ray(_private_temp_folder) as address:
        yield address


@pytest.fixture(scope="session", autouse=True)
def _stop_worker_ray(_private_temp_folder: Path) -> Iterator[None]:
    """This process's Ray is stopped before its folder is removed."""
    yield
    _WORKER_RAY.stop()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A module that does not join this process's Ray does not keep it running (idle, a Ray still costs
    CPU time: about 0.02 CPU-s a second)."""
    if item.nodeid.split("::")[0] not in _USES_WORKER_RAY:
        _WORKER_RAY.stop()


@pytest.fixture(scope="session")
def text_000() -> str:
    return read_text_file(CANONICAL_000).text


@pytest.fixture(scope="session")
def text_001() -> str:
    return read_text_file(CANONICAL_001).text


@pytest.fixture(scope="session")
def state_union() -> dict[str, str]:
    return {p.stem: read_text_file(p).text for p in sorted((DATA / "corpora" / "state_union").glob("*.txt"))}


@pytest.fixture(scope="session")
def inaugural() -> dict[str, str]:
    return {p.stem: read_text_file(p).text for p in sorted((DATA / "corpora" / "inaugural").glob("*.txt"))}


@pytest.fixture(scope="session")
def udhr() -> dict[str, str]:
    return {p.stem: read_text_file(p).text for p in sorted((DATA / "corpora" / "udhr").glob("*.txt"))}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COPYTRACE_DB", str(tmp_path / "cli.db"))
    monkeypatch.setenv("COPYTRACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COPYTRACE_KEY_FILE", raising=False)

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            import io

            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8"))))
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
