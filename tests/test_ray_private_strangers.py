"""A job's private Ray when the job is killed, or when someone else's Ray runs: kill -9 of the driver, and
of its keeper as it stops Ray, leaves no process of its Ray and no folder; with a stranger's
``ray start --head`` recorded as the last cluster, a scan runs on a Ray of its own, and on the stranger's
when named.  (The start, progress and Ctrl-C: ``test_ray_private``.)"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import private_ray_scans as scans
from .ray_processes import JobProcesses, marked

pytest.importorskip("ray")
pytestmark = [
    pytest.mark.slow,  # each test starts a Ray; one kills its driver with SIGKILL
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="processes are read from /proc"),
]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a path short enough for the sockets of a Ray started in it (pytest's are too long)."""
    path = Path(tempfile.mkdtemp(prefix="ctt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """Made once for the module, read by every scan (each writes to its own --out folder)."""
    return scans.make_job(tmp_path_factory.mktemp("job"))


def test_a_driver_killed_with_sigkill_and_then_its_keeper_leave_no_process_of_its_ray_and_no_folder(
    job: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    """kill -9 of the driver: its keeper starts stopping Ray; then kill -9 of the keeper too, part way (as
    when Ray's own code in it, or the kernel short of memory, ends it): what the keeper left to remove its
    folder stops the rest of its Ray and removes the folder."""
    env, corpus = job
    env, marker = marked(env)
    processes = JobProcesses(marker)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        scans.command(
            "scan", corpus, "--out", out, "--executor", "ray", "--workers", "1", "--progress", "none"
        ),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not processes.workers(b"ScanStep") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the scan ended before it could be killed"
        seen = processes.alive()
        assert len(seen) >= 4 and processes.folders(), processes.describe(seen)
        keepers = [pid for pid in processes.keepers if _session_of(pid) == pid]  # its session's leader
        assert len(keepers) == 1, processes.keepers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(0.05)  # the keeper has seen the driver go, and is stopping Ray's processes
        with contextlib.suppress(ProcessLookupError):
            os.kill(keepers[0], signal.SIGKILL)
        left = processes.wait_gone(60)
        assert left == [], f"left running after kill -9 of the driver: {processes.describe(left)}"
        assert not any(f.exists() for f in processes.folders())
    finally:
        scans.kill_all(proc, processes)


@pytest.mark.slow
def test_with_a_strangers_ray_running_a_scan_runs_on_its_own_with_relative_paths(
    job: tuple[dict[str, str], Path], tmp_path: Path, short_dir: Path
) -> None:
    """Someone's ``ray start --head`` is the last cluster recorded: a scan with relative paths runs on a Ray
    of its own (the stranger's workers, in another folder, could not open them), and with --ray-address
    it runs there and says so in summary.json."""
    from copytrace.batch._ray_supervisor import stop_session

    env, corpus = job
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "stranger-" + os.urandom(16).hex()}
    ray_env = {**env, **auth, "RAY_TMPDIR": str(short_dir)}
    record = short_dir / "ray" / "ray_current_cluster"
    stranger = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("ray")),
            *("start", "--head", "--block", "--num-cpus", "1", "--include-dashboard", "false"),
            *(
                "--disable-usage-stats",
                "--temp-dir",
                str(short_dir / "ray"),
                "--port",
                str(scans.free_port()),
            ),
            *("--dashboard-agent-listen-port", str(scans.free_port())),
        ],
        env=ray_env,
        cwd=short_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not record.exists() and stranger.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert record.exists(), "the stranger's Ray did not start"
        time.sleep(1)  # the record is written before the head is ready to take drivers
        address = record.read_text().strip()
        (tmp_path / "work").mkdir()
        shutil.copytree(corpus, tmp_path / "work" / "posts")
        own = scans.copytrace(
            "scan", "posts", "--out", "scan-rel", "--executor", "ray", env=ray_env, cwd=tmp_path / "work"
        )
        assert own.returncode == 0, own.stderr
        summary = scans.summary(tmp_path / "work" / "scan-rel")
        assert summary["ray"]["private"] and summary["ray"]["gcs_address"] != address
        assert summary["matched_documents"] == scans.N_FILES
        named = scans.copytrace(
            "scan",
            "posts",
            "--out",
            "scan-named",
            "--ray-address",
            address,
            env=ray_env,
            cwd=tmp_path / "work",
        )
        assert named.returncode == 0, named.stderr
        there = scans.summary(tmp_path / "work" / "scan-named")["ray"]
        assert there["address"] == address and there["gcs_address"] == address and not there["private"]
        assert scans.rows(tmp_path / "work" / "scan-named") == scans.rows(tmp_path / "work" / "scan-rel")
    finally:
        stop_session(stranger.pid)
        stranger.wait(timeout=30)
