"""``copytrace scan`` as users run it, in its own process (on the local executor, its default on one machine):
from an S3-compatible server, and killed with SIGKILL (the driver, or a worker) then finished, every document
exactly once; a killed driver's workers stop with it.  (The same with a private Ray: ``test_ray_private``.)"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .ray_processes import JobProcesses, marked
from .scan_corpus import (
    bank_files,
    documents,
    matched,
    read_rows,
    reference_rows,
    scan_env,
    write_jsonl,
    write_parquet,
    write_txt,
)

pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # jobs on Ray in their own processes, killed with SIGKILL

N_FILES = 16  # enough blocks that a kill after the third lands mid-scan, with most still to do


def _copytrace(*args: object, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "copytrace.cli.main", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode not in (0, 1):
        raise AssertionError(f"exit {proc.returncode}: {proc.stderr}")
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_server() -> Iterator[str]:
    """moto's S3 server, in server mode on loopback: a real HTTP endpoint speaking the S3 protocol."""
    moto_server = pytest.importorskip("moto.server")
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_scan_reads_jsonl_parquet_and_txt_from_an_s3_server(tmp_path: Path, s3_server: str) -> None:
    import boto3

    aws = {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env = scan_env(tmp_path, **aws)
    _copytrace("bank", "add", "ref", *bank_files(), env=env)
    docs = documents()
    local = tmp_path / "local"
    local.mkdir()
    write_jsonl(local / "a.jsonl.gz", docs[:20])
    write_parquet(local / "b.parquet", docs[20:40])
    write_txt(local / "texts", [d for d in docs[40:] if d["text"]])
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket="corpus")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        s3.upload_file(str(path), "corpus", f"2026/{path.relative_to(local)}")
    proc = _copytrace("scan", "s3://corpus/2026/", "--out", tmp_path / "out", "--format", "jsonl", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = read_rows(tmp_path / "out")
    reference = _copytrace("scan", local, "--out", tmp_path / "ref", env=scan_env(tmp_path))
    assert reference.returncode == 0
    assert matched(rows) == matched(read_rows(tmp_path / "ref"))
    assert {r["source"]["file"].split("/2026/")[0] for r in rows} == {"s3://corpus"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["documents"] == len([d for d in docs if d["text"] or d["id"] != "empty"])
    missing = _copytrace("scan", "s3://corpus/1999/", "--out", tmp_path / "none", env=env, check=False)
    assert missing.returncode == 2 and "s3://corpus/1999/" in missing.stderr


def _corpus(tmp_path: Path) -> Path:
    """``N_FILES`` files of 1,500 short posts, each with the republished article and a quoted paragraph."""
    docs = documents()
    filler = [d for d in docs if d["id"].startswith("su-")]
    folder = tmp_path / "corpus"
    folder.mkdir()
    for f in range(N_FILES):
        rows = []
        for i in range(1500):
            d = filler[i % len(filler)]
            start = (i * 37) % 1500
            rows.append({"id": f"f{f:02d}-{i:04d}", "text": d["text"][start : start + 600]})
        rows[100 + f] = {"id": f"f{f:02d}-copy", "text": docs[7]["text"]}
        rows[900] = {"id": f"f{f:02d}-quote", "text": docs[19]["text"]}
        write_jsonl(folder / f"part-{f:02d}.jsonl", rows)
    return folder


def _reference(tmp_path: Path, corpus: Path) -> list[tuple[str, str, int]]:
    rows = reference_rows(str(tmp_path / "store.db"), corpus)
    return sorted((r["query"], r["item_id"], r["source"]["row"]) for r in rows)


def _rows(out: Path) -> list[tuple[str, str, int]]:
    return sorted((r["query"], r["item_id"], r["source"]["row"]) for r in read_rows(out))


def _wait_for_markers(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = len(list((out / "done").glob("*.json"))) if (out / "done").exists() else 0
        if done >= n or proc.poll() is not None:
            return done
        time.sleep(0.01)
    raise AssertionError("the scan made no progress")


def _scan_process(corpus: Path, out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "copytrace.cli.main", "scan", str(corpus), "--out", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: what Ray it started can be cleaned up after
    )


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{name}/stat").read_bytes()
                fields = stat[stat.rfind(b")") + 2 :].split()
                if fields[0] != b"Z" and int(fields[1]) == pid:
                    found.append(int(name))
    return found


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def started(tmp_path: Path) -> tuple[dict[str, str], Path, Path, subprocess.Popen[str], JobProcesses]:
    """A bank, a corpus of ``N_FILES`` blocks, and a scan of it running in its own process (with what finds
    the processes of its private Ray)."""
    env = scan_env(tmp_path)
    _copytrace("bank", "add", "ref", *bank_files(), env=env)
    corpus = _corpus(tmp_path)
    out = tmp_path / "out"
    run_env, marker = marked(env)
    return env, corpus, out, _scan_process(corpus, out, run_env), JobProcesses(marker)


def test_a_scan_killed_with_sigkill_resumes_exactly_once(tmp_path: Path, started) -> None:  # type: ignore[no-untyped-def]
    env, corpus, out, proc, processes = started
    try:
        done = _wait_for_markers(out, 3, proc)
        assert proc.poll() is None, "the scan ended before it could be killed"
        assert processes.alive()  # the sessions of the job, its Ray's with them, are seen before the kill
        os.kill(proc.pid, signal.SIGKILL)  # the driver, mid-scan
        proc.communicate(timeout=30)
        left = processes.wait_gone(60)  # its private Ray is stopped by its keeper: nothing is left
        assert left == [], f"left running: {processes.describe(left)}"
    finally:
        _kill_group(proc)
    finished = len(list((out / "done").glob("*.json")))
    assert 3 <= done <= finished < N_FILES
    assert not (out / "matches.parquet").exists()
    again = _copytrace("scan", corpus, "--out", out, "--resume", env=env)
    assert again.returncode == 0, again.stderr
    assert f"{finished} block(s) were finished by an earlier run; {N_FILES - finished} left" in again.stderr
    rows = _rows(out)
    assert rows == _reference(tmp_path, corpus)
    assert len(rows) == len(set(rows)) == 2 * N_FILES
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == 1500 * N_FILES
    assert summary["blocks_resumed"] == finished


def test_a_worker_killed_with_sigkill_is_replaced_and_its_block_done_once(tmp_path: Path, started) -> None:  # type: ignore[no-untyped-def]
    _, corpus, out, proc, processes = started
    try:
        _wait_for_markers(out, 2, proc)
        workers = _children(proc.pid)  # the local executor's workers, forked from the driver
        assert workers and proc.poll() is None, "no running worker to kill"
        assert set(workers) < set(processes.alive())  # the job's session is known: what is left is found
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=240)
        assert processes.wait_gone(30) == []  # the replacement worker, and every other, left with the job
    finally:
        _kill_group(proc)
    assert proc.returncode == 0, err
    rows = _rows(out)
    assert rows == _reference(tmp_path, corpus)
    assert len(rows) == len(set(rows)) == 2 * N_FILES
