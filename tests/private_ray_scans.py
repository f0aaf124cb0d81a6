"""Scans run as a user runs them, in a process of their own, for the tests of a job's private Ray
(``test_ray_private``, ``test_ray_private_strangers``): the environment, the command, a store with a bank and
a corpus of ``N_FILES`` files, and reading what a scan wrote."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from .ray_processes import JobProcesses
from .scan_corpus import bank_files, documents, read_rows, scan_env, write_jsonl

N_FILES = 6


def command(*args: object) -> list[str]:
    return [sys.executable, "-m", "copytrace.cli.main", *map(str, args)]


def copytrace(
    *args: object, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def make_job(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A store with a bank, and a corpus of ``N_FILES`` files of 1,500 posts, a copy in each: the environment
    that names the store, and the corpus's folder."""
    env = scan_env(tmp_path)
    added = copytrace("bank", "add", "ref", *bank_files(), env=env)
    assert added.returncode == 0, added.stderr
    docs = documents()
    filler = [d for d in docs if d["id"].startswith("su-")]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in range(N_FILES):
        rows = [
            {"id": f"f{f}-{i:04d}", "text": filler[i % len(filler)]["text"][(i * 37) % 1500 :][:600]}
            for i in range(1500)
        ]
        rows[100 + f] = {"id": f"f{f}-copy", "text": docs[7]["text"]}
        write_jsonl(corpus / f"part-{f}.jsonl", rows)
    return env, corpus


def summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


def rows(out: Path) -> list[tuple[str, str]]:
    return sorted((r["query"], r["item_id"]) for r in read_rows(out))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_all(proc: subprocess.Popen[Any], processes: JobProcesses) -> None:
    """After a test: nothing of the job left running, whatever the test found."""
    for pid in [proc.pid] * (proc.poll() is None) + processes.alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=30)
