"""The command line after a change to a large bank: ``bank add`` of one item and the next ``match``, with the
index cache caught up from the change feed (this checkout) beside the full rebuild of a revision before it.

A store of ``--items`` generated items (the canonical original, then texts of 120-240 words drawn from the
shared corpora's words, seeded; stored through the library with no links, so building it costs no linking)
is written once and copied for each revision.  Each revision then runs, in fresh processes
(``python -m copytrace.cli.main`` with ``PYTHONPATH`` at its ``src`` tree): one untimed ``match`` that builds
and caches the index (and loads the compiled code); ``--runs`` warm ``match`` runs of the unchanged bank;
then an untimed round and ``--runs`` timed rounds of ``bank add`` of one new file followed by ``match``.
The table gives the median wall seconds of each; the goals of the issue, at 1M items: ``bank add`` of one
item <= 1 s, the next ``match`` <= 1.2x the warm match.  The baseline (``--baseline-rev``, default
bec912c~1, the cache that rebuilt after any change) is extracted with ``git archive``::

    python benchmarks/bench_cli_cache.py                         # 100,000 items, 3 runs, baseline bec912c~1
    python benchmarks/bench_cli_cache.py --items 20000 --runs 2
    python benchmarks/bench_cli_cache.py --rev HEAD              # this checkout's last commit, not its files

Measure on a quiet machine: every number is one process's wall time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
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


@dataclass(frozen=True)
class Revision:
    """A copytrace source tree to run, with a scratch folder for its copy of the store and its cache."""

    name: str
    src: Path
    work: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(self.src),
            "COPYTRACE_DB": str(self.work / "store.db"),
            "COPYTRACE_CACHE": str(self.work / "cache"),
        }

    def run(self, *args: str) -> tuple[float, subprocess.CompletedProcess[bytes]]:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "copytrace.cli.main", *args],
            env=self.env(),
            capture_output=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            sys.exit(
                f"{self.name}: copytrace {' '.join(args)}: exit {proc.returncode}: {proc.stderr[-2000:]!r}"
            )
        return seconds, proc


def words() -> list[str]:
    out: list[str] = []
    for folder in CORPORA:
        for path in sorted(folder.glob("*.txt")):
            out += path.read_text(encoding="utf-8", errors="replace").split()
    return out


def build_store(path: Path, n: int, seed: int) -> float:
    """The store of ``n`` generated items at ``path``, through this checkout's library; seconds taken."""
    sys.path.insert(0, str(ROOT / "src"))
    from copytrace import DEFAULT_PARAMS, fingerprint
    from copytrace.banks import Store
    from copytrace.store import ItemRecord

    start = time.perf_counter()
    vocabulary = words()
    rng = random.Random(seed)
    with Store(str(path)) as store:
        original = ORIGINAL.read_text(encoding="utf-8")
        store.add_items(
            "bench",
            [ItemRecord("canonical-000", fingerprint(original), original, links=[])],
            create=DEFAULT_PARAMS,
        )
        chunk: list[ItemRecord] = []
        for i in range(n - 1):
            text = " ".join(rng.choices(vocabulary, k=rng.randint(120, 240)))
            chunk.append(ItemRecord(f"gen-{i:07d}", fingerprint(text), text, links=[]))
            if len(chunk) == 20_000 or i == n - 2:
                store.add_items("bench", chunk)
                chunk = []
    return time.perf_counter() - start


def extract(rev: str, into: Path) -> Path:
    """The ``src`` tree of git revision ``rev`` under ``into``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True)
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "src"


def measure(rev: Revision, runs: int, seed: int) -> dict[str, list[float]]:
    """Warm match of the unchanged bank, then ``runs`` rounds of bank add of one file and the next match."""
    _, first = rev.run("match", str(QUERY))
    if b"canonical-000" not in first.stdout:
        sys.exit(f"{rev.name}: the first match did not find canonical-000: {first.stderr[-2000:]!r}")
    times: dict[str, list[float]] = {"warm match": [], "bank add (one item)": [], "next match": []}
    for _ in range(runs):
        times["warm match"].append(rev.run("match", str(QUERY))[0])
    vocabulary = words()
    rng = random.Random(seed + 1)
    for i in range(-1, runs):  # round -1 is untimed: it loads (or compiles) the code an add runs
        post = rev.work / f"added-{i + 1}.txt"
        post.write_text(" ".join(rng.choices(vocabulary, k=200)), encoding="utf-8")
        seconds, added = rev.run("bank", "add", "bench", str(post))
        if added.returncode != 0:
            sys.exit(f"{rev.name}: bank add failed: {added.stderr[-2000:]!r}")
        if i >= 0:
            times["bank add (one item)"].append(seconds)
        seconds, found = rev.run("match", str(post))
        if f"added-{i + 1}".encode() not in found.stdout:
            sys.exit(f"{rev.name}: the match after the add did not find it: {found.stderr[-2000:]!r}")
        if i >= 0:
            times["next match"].append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000, help="items in the bank (100000)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command (3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rev", help="git revision to measure as the new code (default: this checkout's files)"
    )
    parser.add_argument("--baseline-rev", default="bec912c~1", help="revision that rebuilt after any change")
    parser.add_argument("--no-baseline", action="store_true", help="measure the new code only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="copytrace-cli-cache-") as tmp:
        base = Path(tmp)
        built = build_store(base / "store.db", args.items, args.seed)
        print(f"store of {args.items:,} items written in {built:.1f} s", flush=True)
        new_src = ROOT / "src" if args.rev is None else extract(args.rev, base / "new-src")
        revisions = [Revision(args.rev or "this checkout", new_src, base / "new")]
        if not args.no_baseline:
            revisions.insert(
                0, Revision(args.baseline_rev, extract(args.baseline_rev, base / "old-src"), base / "old")
            )
        results = {}
        for rev in revisions:
            rev.work.mkdir()
            for part in base.glob("store.db*"):  # with SQLite's log, if any
                shutil.copyfile(part, rev.work / part.name)
            results[rev.name] = measure(rev, args.runs, args.seed)
            print(f"{rev.name}: done", flush=True)

    print(f"\n{args.items:,}-item bank (SQLite), median of {args.runs} fresh processes each, wall seconds")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    names = list(results)
    print("| command | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for what in ("warm match", "bank add (one item)", "next match"):
        cells = [f"{statistics.median(results[n][what]):.2f}" for n in names]
        print(f"| {what} | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        ratio = statistics.median(results[n]["next match"]) / statistics.median(results[n]["warm match"])
        cells.append(f"{ratio:.2f}x")
    print("| next match / warm match | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
