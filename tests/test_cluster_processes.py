"""``copytrace cluster`` in its own process, killed with SIGKILL mid-job, then resumed: the same clusters as
a run that was never killed; the killed driver's private Ray stops by itself; Ctrl-C stops a job at once."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from copytrace.batch.cluster_corpus import labelled_corpus
from copytrace.batch.clustering import cluster

from .cluster_corpus_files import job_order, read_clusters, write_files
from .conftest import DATA
from .ray_processes import JobProcesses, marked

pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # jobs on Ray in their own processes, killed with SIGKILL

N_FILES = 16


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_"))}
    env.update(COPYTRACE_CACHE=str(tmp_path / "cache"), PYTHONWARNINGS="ignore")
    return env


def _markers(out: Path) -> int:
    return len(list((out / "done").glob("*.json"))) if (out / "done").exists() else 0


def test_a_cluster_job_killed_with_sigkill_resumes_to_the_same_clusters(tmp_path: Path) -> None:
    corpus = labelled_corpus(DATA, families=60, singletons=400, seed=5)
    folder = write_files(tmp_path / "corpus", corpus, N_FILES)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "copytrace.cli.main", "cluster", str(folder), "--out", str(out)]
    env = _env(tmp_path)
    run_env, marker = marked(env)
    processes = JobProcesses(marker)
    proc = subprocess.Popen(
        [*command, "--workers", "1"],
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        # kill it in the second pass: the first is done, its index built, some version blocks finished
        while _markers(out) < N_FILES + 3 and proc.poll() is None and time.monotonic() < deadline:
            processes.alive()  # the job's sessions, its Ray's with them, are seen while it runs
            time.sleep(0.05)  # each look reads every process on the machine: not every 10 ms beside the job
        assert proc.poll() is None, "the job ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        left = processes.wait_gone(60)  # its private Ray is stopped by its keeper: nothing is left
        assert left == [], f"left running: {processes.describe(left)}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    finished = _markers(out)
    assert N_FILES + 3 <= finished < 3 * N_FILES
    assert not (out / "clusters.parquet").exists()
    again = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert again.returncode == 0, again.stderr
    assert "resuming versions" in again.stderr
    order = job_order(folder)
    texts = dict(zip(corpus.ids, corpus.texts, strict=True))
    assert read_clusters(out) == cluster([texts[i] for i in order], ids=order).rows()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == len(corpus)
    assert summary["blocks_resumed"] == finished


@pytest.mark.parametrize("executor", ["ray", "process"], ids=str)
def test_ctrl_c_stops_a_cluster_job_at_once_with_one_line_and_nothing_left(
    tmp_path: Path, executor: str
) -> None:
    """On its private Ray (``--workers``) or in the driver's process (a small job): one line, exit 130,
    nothing left running, and ``--resume`` finishes the job."""
    # in process the job must still be running when its first block is done: more blocks, more work
    corpus = labelled_corpus(
        DATA, families=20 if executor == "ray" else 60, singletons=100 if executor == "ray" else 400, seed=3
    )
    folder = write_files(tmp_path / "corpus", corpus, 4 if executor == "ray" else N_FILES)
    out = tmp_path / "out"
    run_env, marker = marked(_env(tmp_path))
    processes = JobProcesses(marker)
    command = [sys.executable, "-m", "copytrace.cli.main", "cluster", str(folder), "--out", str(out)]
    ray_options = ["--workers", "2"] if executor == "ray" else []
    proc = subprocess.Popen(
        [*command, "--progress", "none", *ray_options],
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while _markers(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
            processes.alive()
            time.sleep(0.05)
        assert proc.poll() is None, "the job ended before it could be interrupted"
        assert bool(processes.folders()) == (executor == "ray"), "a private Ray was seen iff on Ray"
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends Ctrl-C: to the driver's process group
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    assert len(err.splitlines()) == 1 and err.startswith("copytrace: interrupted; "), err
    left = processes.wait_gone(10)
    assert left == [], f"left running: {processes.describe(left)}"
    assert not any(f.exists() for f in processes.folders())
    again = subprocess.run(
        [*command, "--resume", "--progress", "none"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    order = job_order(folder)
    texts = dict(zip(corpus.ids, corpus.texts, strict=True))
    assert read_clusters(out) == cluster([texts[i] for i in order], ids=order).rows()
