"""The local executor (worker processes forked from the driver), beside Ray: a worker that dies, what the
progress and the summary say about start-up, and the choice between the two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from copytrace.batch import processes
from copytrace.batch.inputs import Block
from copytrace.cli.progress import JobProgress
from copytrace.cli.scan import _start_up_note

from .scan_corpus import bank_files, documents, write_jsonl

pytest.importorskip("pyarrow")


class DiesOnOneBlock:
    """A step that ends its process on the block of ``deadly.jsonl`` (as the kernel's OOM killer would)."""

    def __init__(self, tries: Path) -> None:
        self.tries = tries

    def __call__(self, block: Block) -> dict[str, Any]:
        if block.path.endswith("deadly.jsonl"):
            (self.tries / str(os.getpid())).touch()
            os._exit(9)
        return {"key": block.key, "pid": os.getpid()}


def test_a_block_whose_worker_dies_twice_fails_alone_and_the_others_are_done(tmp_path: Path) -> None:
    from copytrace.batch.markers import lost_blocks

    tries = tmp_path / "tries"
    tries.mkdir()
    blocks = [Block("jsonl", str(tmp_path / f"{name}.jsonl")) for name in ("a", "b", "deadly", "c", "d")]
    rows = list(processes.run(DiesOnOneBlock(tries), blocks, workers=2, max_tries=2))
    assert sorted(r["key"] for r in rows) == sorted(b.key for b in blocks if "deadly" not in b.path)
    assert len(list(tries.iterdir())) == 2  # a new worker took it once more, and no third time
    assert all(r["pid"] != os.getpid() for r in rows)  # the work was done in the workers
    (lost,) = lost_blocks(blocks, {r["key"]: {} for r in rows}, [], None)
    assert lost["error"] == (
        "its worker died 2 times working on it (killed, out of memory or crashed; any error it printed is on "
        "stderr)"
    )
    assert not processes.interrupts.CHILDREN  # every worker was stopped and forgotten


def test_workers_are_gone_when_the_run_is_left_early(tmp_path: Path) -> None:
    blocks = [Block("jsonl", str(tmp_path / f"{i}.jsonl")) for i in range(6)]
    rows = processes.run(DiesOnOneBlock(tmp_path), blocks, workers=2)
    first = next(rows)
    pids = set(processes.interrupts.CHILDREN)
    assert first["pid"] in pids and len(pids) == 2
    rows.close()  # the caller stops (an error, a signal): the workers stop with it
    assert not processes.interrupts.CHILDREN
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize(
    ("summary", "noted"),
    [
        (
            {"executor": "ray", "start_seconds": 5.2, "scan_seconds": 1.3},
            "starting Ray 5.2 s, scanning 1.3 s",
        ),
        ({"executor": "processes", "start_seconds": 1.5, "scan_seconds": 0.4}, "starting the workers 1.5 s"),
        ({"executor": "processes", "start_seconds": 1.5, "scan_seconds": 30.0}, None),
        ({"executor": "processes", "start_seconds": 0.2, "scan_seconds": 0.1}, None),
    ],
    ids=["ray-dominates", "workers-dominate", "scan-dominates", "too-short-to-say"],
)
def test_a_start_up_that_dominates_is_said(summary: dict[str, Any], noted: str | None) -> None:
    note = _start_up_note(summary)
    if noted is None:
        assert note is None
    else:
        assert note is not None and noted in note and note.startswith("start-up took most of this scan")
        assert ("--executor processes" in note) == (summary["executor"] == "ray")


def test_progress_reports_the_workers_start_apart(capsys: pytest.CaptureFixture[str]) -> None:
    p = JobProgress("scan", "lines", engine="workers")
    assert p.text() == "waiting for workers to start"
    cluster = {"executor": "processes", "nodes": 1, "cpus": 2, "workers": 2, "start_seconds": 2.5}
    p.ray_ready(cluster)
    err = capsys.readouterr().err
    assert "started 2 worker process(es) on this machine in 2.5 s (1 node(s), 2 CPUs)" in err
    p = JobProgress("scan", "json", engine="workers")
    p.ray_ready(cluster)
    (record,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert record == {"command": "scan", "event": "workers", **cluster}


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_"))}
    env.update(COPYTRACE_DB=str(tmp_path / "store.db"), COPYTRACE_CACHE=str(tmp_path / "cache"))
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _copytrace(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "copytrace.cli.main", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow  # several commands in processes of their own
def test_a_scan_on_one_machine_runs_without_ray_and_says_how_long_its_workers_took(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _copytrace("bank", "add", "ref", *bank_files(), env=env).returncode == 0
    docs = documents()
    (tmp_path / "posts").mkdir()
    for i in range(3):
        write_jsonl(tmp_path / "posts" / f"p{i}.jsonl", [{**d, "id": f"{i}-{d['id']}"} for d in docs])
    out = tmp_path / "out"
    proc = _copytrace("scan", tmp_path / "posts", "--out", out, "--progress", "json", env=env)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    events = [r["event"] for r in records]
    assert events[0] == "stage" and events.count("workers") == 1 and "ray" not in events
    started = records[events.index("workers")]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["executor"] == "processes" and summary["ray"] is None
    assert summary["engine"]["workers"] == started["workers"] == min(os.cpu_count() or 1, 3)
    assert summary["start_seconds"] >= started["start_seconds"] > 0  # reported apart from the scan's rate
    assert summary["ray_start_seconds"] is None
    assert summary["documents"] == 3 * len(docs)
    workers = {json.loads(p.read_text())["worker"] for p in (out / "done").glob("*.json")}
    assert 1 <= len(workers) <= started["workers"]  # each worker recorded its own blocks
    # the same rows on Ray: every test of test_scan runs on both executors
    both = _copytrace(
        "scan",
        tmp_path / "posts",
        "--out",
        tmp_path / "o3",
        "--executor",
        "processes",
        "--ray-address",
        "127.0.0.1:6379",
        env=env,
    )
    assert both.returncode == 2 and "leave out one of the two" in both.stderr
