"""What the command-line benchmarks share: the shared corpora's words, a revision's ``src`` tree, and the wall
and CPU time of one child process.

``bench_startup.py`` and ``bench_cli_cache.py`` run ``python -m copytrace.cli.main`` in fresh processes, for
this checkout and for a baseline revision extracted with ``git archive`` (``extract``) and run with
``PYTHONPATH`` at its ``src``.  ``run`` times one such child: its wall seconds, and its own CPU seconds (user
and system) and peak resident memory as ``os.wait4`` reports them for that child alone.  CPU seconds are
what to compare on a machine others are using: a busy core stretches the wall time, not the CPU time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("COPYTRACE_DATA", ROOT.parent / "shared" / "data"))
CORPORA = [DATA / "corpora" / "state_union", DATA / "corpora" / "inaugural"]
ORIGINAL = DATA / "canonical" / "000_ea7438489bd31fbe.txt"
QUERY = DATA / "canonical" / "001_5e32e1b4a13a1b7e.txt"


def corpus_words() -> list[str]:
    """Every word of the shared corpora (State of the Union, inaugural addresses), in file order, so that
    text drawn from them has their word frequencies."""
    words: list[str] = []
    for folder in CORPORA:
        for path in sorted(folder.glob("*.txt")):
            words += path.read_text(encoding="utf-8", errors="replace").split()
    return words


def extract(rev: str, into: Path) -> Path | None:
    """The ``src`` tree of git revision ``rev`` under ``into``; None (with a note) without git or the
    revision."""
    if shutil.which("git") is None:
        print(f"note: git not found: no baseline ({rev})", file=sys.stderr)
        return None
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        print(
            f"note: git archive {rev} failed: no baseline ({archive.stderr.decode().strip()})",
            file=sys.stderr,
        )
        return None
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


@dataclass(frozen=True)
class Timing:
    """One child process: wall seconds, its own CPU seconds (user + system), its peak resident MB."""

    wall: float
    cpu: float
    peak_mb: float


@dataclass(frozen=True)
class Finished:
    """A child that ran: its exit status, output and error (bytes), and its timing."""

    returncode: int
    stdout: bytes
    stderr: bytes
    timing: Timing


def run(argv: list[str], env: dict[str, str], stdin: bytes | None = None) -> Finished:
    """Run ``argv`` to its end with ``env``, ``stdin`` as its input; output and error are collected in
    temporary files (no pipe to drain while it runs), and its CPU time and peak memory are its own
    (``os.wait4``), not those of other children."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        if stdin is not None:
            inp.write(stdin)
            inp.seek(0)
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdin=inp if stdin is not None else subprocess.DEVNULL, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        timing = Timing(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
        return Finished(proc.returncode, out.read(), err.read(), timing)
