"""A job's Ray is its own: never the cluster Ray recorded in its shared folder, stopped when the job ends or
at Ctrl-C at any moment, and progress on stderr when there is no terminal.  (Kill -9 of the driver, and a
stranger's running Ray: ``test_ray_private_strangers``.)"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from . import private_ray_scans as scans
from .conftest import lighter_ray
from .ray_processes import JobProcesses, marked

ray = pytest.importorskip("ray")
pytestmark = [
    pytest.mark.slow,  # each test starts a Ray; some kill it with SIGKILL or Ctrl-C
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="processes are read from /proc"),
]

PLANTED = "192.0.2.2:6399"  # TEST-NET-2: nothing answers there
# Ctrl-C moments, one drawn in each of as many equal parts of a scan's length: the first part lands in Ray's
# start, the last in the scanning; COPYTRACE_TEST_INTERRUPTS=20 draws them finer
INTERRUPTS = int(os.environ.get("COPYTRACE_TEST_INTERRUPTS", "2"))
INTERRUPT_SEED = 20261206
EXIT_WITHIN = 5.0  # seconds from Ctrl-C to the driver's exit


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a path short enough for the sockets of a Ray started in it (pytest's are too long)."""
    path = Path(tempfile.mkdtemp(prefix="ctt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _plant(folder: Path) -> Path:
    """The record Ray's ``ray.init()`` follows, pointing where nothing answers."""
    record = folder / "ray" / "ray_current_cluster"
    record.parent.mkdir(parents=True)
    record.write_text(PLANTED)
    return record


def _listing(folders: list[Path], most: int = 12) -> str:
    """What is in ``folders``: the first paths, each with its age in seconds (what wrote there, and when)."""
    now = time.time()
    lines = []
    for folder in folders:
        for path in sorted(folder.rglob("*"))[:most]:
            with contextlib.suppress(OSError):
                lines.append(f"{path} ({now - path.lstat().st_mtime:.1f} s old)")
    return f"{folders}: " + "; ".join(lines)


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    """Made once for the module, read by every scan (each writes to its own --out folder)."""
    return scans.make_job(tmp_path_factory.mktemp("job"))


# --------------------------------------------------------------------------------------- the library
def test_a_session_runs_on_a_private_ray_in_its_own_folder_never_the_recorded_one(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also after another Ray in the same process: a program (or a test module) that ran its own
    ``ray.init()`` before has Ray's authentication for that Ray cached in the process, and the private Ray's
    token must replace it."""
    from copytrace.batch import engine, private_ray
    from copytrace.batch._ray_supervisor import session_members

    if ray.is_initialized():
        ray.shutdown()
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    earlier = short_dir / "earlier"  # the other Ray records itself there, not beside the planted record
    earlier.mkdir()
    monkeypatch.setenv("RAY_TMPDIR", str(earlier))
    with lighter_ray() as config:  # started as the private Ray is: its start is not the point here
        ray.init(
            address="local",
            num_cpus=1,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=40,
            _system_config=config,
        )
    ray.shutdown()
    record = _plant(short_dir)
    monkeypatch.setenv("RAY_TMPDIR", str(short_dir))

    namespace: dict[str, Any] = {"__name__": "__main__"}  # sent by value: the workers cannot import tests
    exec("import os\ndef where():\n    return os.getcwd(), os.getsid(0)\n", namespace)
    where = ray.remote(namespace["where"])

    with engine.session(num_cpus=1) as cluster:
        keeper, folder = private_ray._RUNNING[-1]
        assert cluster["private"] and cluster["address"] == "local"
        assert cluster["gcs_address"] != PLANTED and cluster["nodes"] == 1
        assert ray.cluster_resources().get("CPU") == 1
        assert ray.get(where.remote()) == ("/", keeper.pid)  # in the keeper's session, not in our folder
        assert Path(folder).stat().st_mode & 0o777 == 0o700
        assert len(session_members(keeper.pid)) >= 3
        # a lighter start: neither a log monitor (no driver asks for the workers' output) nor an
        # autoscaler monitor (a Ray of one machine has no node to add)
        commands = []
        for pid in session_members(keeper.pid):
            with contextlib.suppress(OSError):
                commands.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        assert any(b"raylet" in c for c in commands), commands
        assert not [c for c in commands if b"log_monitor.py" in c or b"_private/monitor.py" in c]
    assert not ray.is_initialized()
    assert not Path(folder).exists()
    assert session_members(keeper.pid) == []
    assert record.read_text() == PLANTED and os.listdir(record.parent) == ["ray_current_cluster"]
    assert "RAY_AUTH_TOKEN" not in os.environ  # the driver's settings for the private Ray are put back


# ------------------------------------------------------------------------------------------ the CLI
def test_a_scan_ignores_the_recorded_ray_and_prints_progress_lines_without_a_terminal(
    job: tuple[dict[str, str], Path], tmp_path: Path, short_dir: Path
) -> None:
    env, corpus = job
    _plant(short_dir)
    out = tmp_path / "out"
    proc = scans.copytrace(
        *("scan", corpus, "--out", out, "--executor", "ray", "--progress-interval", "0.5"),
        env={**env, "RAY_TMPDIR": str(short_dir)},
    )
    assert proc.returncode == 0, proc.stderr
    ray_info = scans.summary(out)["ray"]
    assert ray_info["private"] and ray_info["address"] == "local" and ray_info["gcs_address"] != PLANTED
    lines = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr
    started = [line for line in lines if "started a private Ray on this machine in" in line]
    assert len(started) == 1, proc.stderr
    progress = re.compile(
        r"copytrace: scan: ([\d,]+) documents, [\d,.]+ [kMG]?B of [\d,.]+ [kMG]?B \(\d+%\), "
        r"([\d,]+|-) docs/s, (.+ left|time left unknown)$"
    )
    found = [m for m in map(progress.match, lines) if m]
    after_start = [m for m in found if lines.index(m.string) > lines.index(started[0])]
    assert after_start, proc.stderr
    assert any(m.group(2) != "-" and m.group(3).endswith(" left") for m in after_start), proc.stderr


class Scanned(NamedTuple):
    proc: subprocess.CompletedProcess[str]
    out: Path
    seconds: float  # its wall time, seen from here


@pytest.fixture(scope="module")
def json_scan(job: tuple[dict[str, str], Path], tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    """The module's corpus scanned once on a private Ray with progress as JSON lines: checked by
    ``test_progress_as_json_lines_reports_ray_start_up_apart``, and the uninterrupted scan that
    ``test_ctrl_c_at_random_moments_exits_at_once_with_one_line_and_leaves_nothing[ray]`` compares with."""
    env, corpus = job
    out = tmp_path_factory.mktemp("json-scan") / "out"
    started = time.monotonic()
    proc = scans.copytrace(
        *("scan", corpus, "--out", out, "--executor", "ray"),
        *("--progress", "json", "--progress-interval", "0.5"),
        env=env,
    )
    return Scanned(proc, out, time.monotonic() - started)


def test_progress_as_json_lines_reports_ray_start_up_apart(json_scan: Scanned) -> None:
    proc, out, _ = json_scan
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    notes = lines[len(records) :]  # after the records: the closing notes, and nothing between them
    assert lines[: len(records)] == [line for line in lines if line.startswith("{")], proc.stderr
    assert notes[0].startswith("copytrace: note: scanned"), proc.stderr
    # a private Ray's start can take longer than scanning these few documents: then a note says so
    assert all(
        n.startswith("copytrace: note: start-up took most of this scan: starting Ray") for n in notes[1:]
    )
    assert len(notes) <= 2, proc.stderr
    events = [r["event"] for r in records]
    assert events[0] == "stage" and events[-1] == "done" and events.count("ray") == 1
    assert events.index("ray") < len(events) - 1 - events[::-1].index("progress")
    ray_record = records[events.index("ray")]
    summary = scans.summary(out)
    assert ray_record["private"] is True and ray_record["start_seconds"] > 0
    assert ray_record["gcs_address"] == summary["ray"]["gcs_address"]
    done = records[-1]
    assert done["documents"] == summary["documents"] == 1500 * scans.N_FILES
    assert done["bytes"] == done["total_bytes"] == summary["bytes"]
    assert all(
        {"documents", "bytes", "total_bytes", "docs_per_second", "eta_seconds"} <= set(r)
        for r in records
        if r["event"] == "progress"
    )


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["ray", "processes"])
def test_ctrl_c_at_random_moments_exits_at_once_with_one_line_and_leaves_nothing(
    job: tuple[dict[str, str], Path], tmp_path: Path, executor: str, request: pytest.FixtureRequest
) -> None:
    """Ctrl-C (SIGINT to the driver's process group, as a terminal sends it) at ``INTERRUPTS`` moments drawn
    over a scan's length, one in each of as many equal parts of it: exit status 130 within ``EXIT_WITHIN`` s,
    one line, no traceback, no process left (of a private Ray, or the local workers); the interrupted scan
    then finishes with --resume to the uninterrupted scan's answers (on Ray: the module's ``json_scan``)."""
    env, corpus = job
    if executor == "ray":
        reference: Scanned = request.getfixturevalue("json_scan")
    else:
        started = time.monotonic()
        proc = scans.copytrace(
            "scan", corpus, "--out", tmp_path / "ref", "--executor", executor, "--progress", "none", env=env
        )
        reference = Scanned(proc, tmp_path / "ref", time.monotonic() - started)
    assert reference.proc.returncode == 0, reference.proc.stderr
    length = reference.seconds
    rng = random.Random(INTERRUPT_SEED)
    interrupted: list[Path] = []
    for round_ in range(INTERRUPTS):
        run_env, marker = marked(env)
        processes = JobProcesses(marker)
        out = tmp_path / f"out-{round_}"
        proc = subprocess.Popen(
            scans.command("scan", corpus, "--out", out, "--executor", executor, "--progress", "none"),
            env=run_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            at = time.monotonic() + rng.uniform(round_, round_ + 1) * length / INTERRUPTS
            while time.monotonic() < at and proc.poll() is None:
                processes.alive()  # sessions seen while the job runs: its Ray's is found after the exit
                time.sleep(0.05)
            sent = time.monotonic()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            _, err = proc.communicate(timeout=60)
            waited = time.monotonic() - sent
            assert "Traceback" not in err, err
            if proc.returncode == 130:
                assert waited < EXIT_WITHIN, f"round {round_}: exited {waited:.1f} s after Ctrl-C"
                assert len(err.splitlines()) == 1 and err.startswith("copytrace: interrupted; "), err
                if (out / "job.json").exists():
                    interrupted.append(out)
            elif proc.returncode == -signal.SIGINT:
                # the scan had finished and Python was exiting (it takes Ctrl-C's default action then):
                # everything was written and said
                assert (out / "summary.json").exists() and "copytrace: note: scanned" in err, err
            else:
                assert proc.returncode == 0, f"round {round_}: exit {proc.returncode}: {err}"
            left = processes.wait_gone(15)  # the keeper stops Ray after the driver is gone
            assert left == [], f"round {round_}: left running: {processes.describe(left)}"
            kept = [f for f in processes.folders() if f.exists()]
            assert not kept, f"round {round_}: private Ray folders left: {_listing(kept)}"
        finally:
            scans.kill_all(proc, processes)
    if interrupted:
        again = scans.copytrace(
            *("scan", corpus, "--out", interrupted[-1], "--resume", "--executor", executor),
            *("--progress", "none"),
            env=env,
        )
        assert again.returncode == 0, again.stderr
        assert scans.rows(interrupted[-1]) == scans.rows(reference.out)
