"""``copytrace cluster`` in its own process, killed with SIGKILL mid-job, then resumed: the same clusters as
a run that was never killed."""

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

pytest.importorskip("ray")

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
    proc = subprocess.Popen(
        [*command, "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        # kill it in the second pass: the first is done, its index built, some version blocks finished
        while _markers(out) < N_FILES + 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the job ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
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
