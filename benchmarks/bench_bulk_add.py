"""Bulk add: wall time and peak memory of ``copytrace bank add BANK --jsonl FILE`` into a new store, this
checkout beside a baseline revision.

The items are generated texts of 120-240 words drawn from the shared corpora's words (seeded, so with their
frequencies), one JSON Lines file per size.  Each run is one child process (``python -m
copytrace.cli.main``) with a store and cache of its own, after one untimed run of 200 items per tree (which
compiles the kernels); its peak resident memory is the child's ``ru_maxrss`` as ``os.wait4`` reports it
(every resident page, mapped files included).  Beside it, the peaks of the child's anonymous and
file-backed resident memory (``RssAnon``; ``RssFile`` plus ``RssShmem``, of ``/proc/PID/status``),
sampled every 50 ms: a linking index that keeps its postings in a file (from about 60,000 items) has them
in the page cache, and the pages its lookups touch count as file-backed.

The baseline (``--baseline-rev``, default 7563ad7, the last revision before chunking; ``HEAD`` gives the
last commit) is the ``src`` tree of that revision, extracted with ``git archive`` and run with
``PYTHONPATH`` pointing at it; ``--baseline-max`` skips it above a size.
With two sizes or more, the figures at ``--extrapolate`` items (default 1,000,000) are extrapolated
linearly from the two largest sizes, and marked so::

    python benchmarks/bench_bulk_add.py                                  # 30k and 100k items, baseline too
    python benchmarks/bench_bulk_add.py --items 3000 --no-baseline       # a quick look
    python benchmarks/bench_bulk_add.py --items 100000 1000000 --baseline-max 100000

Measure on a quiet machine: every number is one process's wall time and memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _procs import extract

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("COPYTRACE_DATA", ROOT.parent / "shared" / "data"))
CORPORA = [DATA / "corpora" / "state_union", DATA / "corpora" / "inaugural"]


@dataclass(frozen=True)
class Result:
    revision: str
    items: int
    seconds: float
    peak_mb: float
    anon_mb: float = float("nan")
    file_mb: float = float("nan")
    extrapolated: bool = False


def write_items(path: Path, n: int, seed: int) -> int:
    """Write ``n`` generated items to ``path`` as JSON Lines, a line at a time; its size in bytes."""
    words: list[str] = []
    for folder in CORPORA:
        for p in sorted(folder.glob("*.txt")):
            words += p.read_text(encoding="utf-8", errors="replace").split()
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text = " ".join(rng.choices(words, k=rng.randint(120, 240)))
            fh.write(json.dumps({"id": f"gen-{i:07d}", "text": text}) + "\n")
    return path.stat().st_size


class Sampler(threading.Thread):
    """The peaks of a process's anonymous and file-backed (files and shared memory) resident memory, in
    MB, read from ``/proc/PID/status`` every ``every`` seconds until it ends."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.anon = self.file = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        path = Path(f"/proc/{self.pid}/status")
        while not self.done.is_set():
            try:
                fields = dict(line.split(":", 1) for line in path.read_text().splitlines() if ":" in line)
                kb = {k: int(fields[k].split()[0]) for k in ("RssAnon", "RssFile", "RssShmem") if k in fields}
            except (OSError, ValueError):
                return
            self.anon = max(self.anon, kb.get("RssAnon", 0) / 1024)
            self.file = max(self.file, (kb.get("RssFile", 0) + kb.get("RssShmem", 0)) / 1024)
            self.done.wait(self.every)


def run_add(src: Path, work: Path, items: Path) -> tuple[float, float, float, float]:
    """``copytrace bank add bench --jsonl ITEMS`` with ``src`` on the path, in a store of its own under
    ``work``: (wall seconds, peak resident MB of the child, and the sampled peaks of its anonymous and
    file-backed resident MB)."""
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "COPYTRACE_DB": str(work / "store.db"),
        "COPYTRACE_CACHE": str(work / "cache"),
    }
    argv = [sys.executable, "-m", "copytrace.cli.main", "bank", "add", "bench", "--jsonl", str(items)]
    with (work / "out").open("w+b") as out, (work / "err").open("w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
        sampler = Sampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, not the largest of all children
        seconds = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(
                f"bank add failed (exit {proc.returncode}): {err.read().decode(errors='replace')[-2000:]}"
            )
        added = json.loads(out.read().decode().splitlines()[-1])["added"]
    if added != n_items(items):
        sys.exit(f"bank add stored {added} items of {n_items(items)}")
    return seconds, usage.ru_maxrss / 1024, sampler.anon, sampler.file  # kilobytes on Linux


def n_items(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def extrapolated(results: list[Result], revision: str, n: int) -> Result | None:
    """The figures at ``n`` items, on the line through the two largest sizes measured (None with fewer)."""
    mine = sorted(
        (r for r in results if r.revision == revision and not r.extrapolated), key=lambda r: r.items
    )
    if len(mine) < 2 or n <= mine[-1].items:
        return None
    a, b = mine[-2], mine[-1]
    t = (n - a.items) / (b.items - a.items)
    return Result(
        revision,
        n,
        a.seconds + t * (b.seconds - a.seconds),
        a.peak_mb + t * (b.peak_mb - a.peak_mb),
        a.anon_mb + t * (b.anon_mb - a.anon_mb),
        a.file_mb + t * (b.file_mb - a.file_mb),
        True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--items", type=int, nargs="+", default=[30_000, 100_000], help="sizes (30000 100000)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-rev", default="7563ad7", help="git revision to compare with (7563ad7)")
    parser.add_argument("--baseline-max", type=int, default=None, help="no baseline above this many items")
    parser.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    parser.add_argument("--extrapolate", type=int, default=1_000_000, help="items to extrapolate to")
    args = parser.parse_args()

    results: list[Result] = []
    sizes: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="copytrace-bulk-") as tmp:
        base_src = None
        if not args.no_baseline:
            (Path(tmp) / "base").mkdir()
            base_src = extract(args.baseline_rev, Path(tmp) / "base")
        revisions = [("this checkout", ROOT / "src")]
        if base_src is not None:
            revisions.insert(0, (f"{args.baseline_rev} (baseline)", base_src))
        warm = Path(tmp) / "warm.jsonl"
        write_items(warm, 200, args.seed + 1)
        for name, src in revisions:  # untimed: compiles (and caches) each tree's compiled kernels first
            run_add(src, Path(tmp) / f"warm-{len(name)}-{name[:3]}", warm)
        for n in sorted(args.items):
            items = Path(tmp) / f"items-{n}.jsonl"
            sizes[n] = write_items(items, n, args.seed)
            for name, src in revisions:
                if src is base_src and args.baseline_max is not None and n > args.baseline_max:
                    continue
                seconds, peak, anon, file = run_add(src, Path(tmp) / f"run-{n}-{len(results)}", items)
                results.append(Result(name, n, seconds, peak, anon, file))
                print(
                    f"{name}: {n:,} items: {seconds:.1f} s, peak {peak:,.0f} MB (anonymous {anon:,.0f} MB, "
                    f"file-backed {file:,.0f} MB)",
                    file=sys.stderr,
                    flush=True,
                )
            items.unlink()
    for name in dict.fromkeys(r.revision for r in results):
        more = extrapolated(results, name, args.extrapolate)
        if more is not None:
            results.append(more)

    print(f"\n`bank add --jsonl` into a new store; python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print("| items | file MB | revision | wall s | items/s | peak RSS MB | anonymous MB | file-backed MB |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        mark = " (extrapolated)" if r.extrapolated else ""
        mb = f"{sizes[r.items] / 1e6:,.0f}" if r.items in sizes else "–"
        print(
            f"| {r.items:,} | {mb} | {r.revision}{mark} | {r.seconds:,.1f} | {r.items / r.seconds:,.0f} | "
            f"{r.peak_mb:,.0f} | {r.anon_mb:,.0f} | {r.file_mb:,.0f} |"
        )


if __name__ == "__main__":
    main()
