"""The command line after a change to a large bank: ``bank add`` of one item and the next ``match``, with the
index cache caught up from the change feed (this checkout) beside the full rebuild of a revision before it.

A store of ``--items`` generated items (the canonical original, then texts of 120-240 words drawn from the
shared corpora's words, seeded; stored through the library with no links, so building it costs no linking)
is written once and copied for each revision.  Each revision then runs, in fresh processes
(``python -m copytrace.cli.main`` with ``PYTHONPATH`` at its ``src`` tree): one untimed ``match`` that builds
and caches the index (and loads the compiled code); ``--runs`` warm ``match`` runs of the unchanged bank;
then an untimed round and ``--runs`` timed rounds of ``bank add`` of one new file followed by ``match``.
The table gives the median wall seconds and the median CPU seconds (the child's own user + system time,
``_procs.run``) of each, the revisions taking turns run by run; the goals, at 1M items: ``bank add`` of one
item <= 1 s, the next ``match`` <= 1.2x the warm match.  The baseline (``--baseline-rev``, default
bec912c~1, the cache that rebuilt after any change) is extracted with ``git archive``; ``--src`` and
``--baseline-src`` run source trees extracted before instead (their compiled kernels cached already).
``--store`` copies a store made before (SQLite) instead of writing one, and adds the canonical original to
its bank ``--bank`` (untimed, with no links) for the warm match to find::

    python benchmarks/bench_cli_cache.py                         # 100,000 items, 3 runs, baseline bec912c~1
    python benchmarks/bench_cli_cache.py --items 20000 --runs 2
    python benchmarks/bench_cli_cache.py --rev HEAD              # this checkout's last commit, not its files
    python benchmarks/bench_cli_cache.py --store /tmp/bench-scan/bank-100000.db --bank generated
    python benchmarks/bench_cli_cache.py --store STORE --bank generated --src NEW/src --baseline-src OLD/src

Measure on a quiet machine: every wall time is one process's; on a busy one compare the CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _procs import ORIGINAL, QUERY, ROOT, Finished, Timing, corpus_words, extract, run


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

    def run(self, *args: str) -> Finished:
        proc = run([sys.executable, "-m", "copytrace.cli.main", *args], self.env())
        if proc.returncode not in (0, 1):
            sys.exit(
                f"{self.name}: copytrace {' '.join(args)}: exit {proc.returncode}: {proc.stderr[-2000:]!r}"
            )
        return proc


def build_store(path: Path, n: int, seed: int) -> float:
    """The store of ``n`` generated items at ``path``, through this checkout's library; seconds taken."""
    sys.path.insert(0, str(ROOT / "src"))
    from copytrace import DEFAULT_PARAMS, fingerprint
    from copytrace.banks import Store
    from copytrace.store import ItemRecord

    start = time.perf_counter()
    vocabulary = corpus_words()
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


def with_original(path: Path, bank: str) -> None:
    """Add the canonical original to ``bank`` of the store at ``path`` (no links), unless it holds it."""
    sys.path.insert(0, str(ROOT / "src"))
    from copytrace import fingerprint
    from copytrace.banks import Store
    from copytrace.store import ItemRecord

    with Store(str(path)) as store:
        if not store.fingerprints_of(bank, ["canonical-000"]):
            original = ORIGINAL.read_text(encoding="utf-8")
            store.add_items(bank, [ItemRecord("canonical-000", fingerprint(original), original, links=[])])


def measure(revisions: list[Revision], bank: str, runs: int, seed: int) -> dict[str, dict[str, list[Timing]]]:
    """For each revision: warm match of the unchanged bank, then ``runs`` rounds of bank add of one file and
    the next match.  The revisions take turns at each run (one machine's load falls on both alike)."""
    for rev in revisions:
        first = rev.run("match", str(QUERY))
        if b"canonical-000" not in first.stdout:
            sys.exit(f"{rev.name}: the first match did not find canonical-000: {first.stderr[-2000:]!r}")
        print(f"{rev.name}: index cached", flush=True)
    times: dict[str, dict[str, list[Timing]]] = {
        rev.name: {"warm match": [], "bank add (one item)": [], "next match": []} for rev in revisions
    }
    for _ in range(runs):
        for rev in revisions:
            times[rev.name]["warm match"].append(rev.run("match", str(QUERY)).timing)
    vocabulary = corpus_words()
    rng = random.Random(seed + 1)
    for i in range(-1, runs):  # round -1 is untimed: it loads (or compiles) the code an add runs
        text = " ".join(rng.choices(vocabulary, k=200))
        for rev in revisions:
            post = rev.work / f"added-{i + 1}.txt"
            post.write_text(text, encoding="utf-8")
            added = rev.run("bank", "add", bank, str(post))
            if added.returncode != 0:
                sys.exit(f"{rev.name}: bank add failed: {added.stderr[-2000:]!r}")
            found = rev.run("match", str(post))
            if f"added-{i + 1}".encode() not in found.stdout:
                sys.exit(f"{rev.name}: the match after the add did not find it: {found.stderr[-2000:]!r}")
            if i >= 0:
                times[rev.name]["bank add (one item)"].append(added.timing)
                times[rev.name]["next match"].append(found.timing)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000, help="items in the bank (100000)")
    parser.add_argument("--store", type=Path, help="copy this SQLite store instead of writing one")
    parser.add_argument("--bank", default="bench", help="the bank added to and searched (bench)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each command (3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--rev", help="git revision to measure as the new code (default: this checkout's files)"
    )
    parser.add_argument("--baseline-rev", default="bec912c~1", help="revision that rebuilt after any change")
    parser.add_argument(
        "--src",
        type=Path,
        help="run this src tree as the new code (one extracted before: its kernels cached)",
    )
    parser.add_argument("--baseline-src", type=Path, help="run this src tree as the baseline")
    parser.add_argument("--no-baseline", action="store_true", help="measure the new code only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="copytrace-cli-cache-") as tmp:
        base = Path(tmp)
        if args.store is not None:
            shutil.copyfile(args.store, base / "store.db")
            with_original(base / "store.db", args.bank)
            print(f"store {args.store} copied", flush=True)
        else:
            if args.bank != "bench":
                sys.exit("--bank names the bank of a store given with --store")
            built = build_store(base / "store.db", args.items, args.seed)
            print(f"store of {args.items:,} items written in {built:.1f} s", flush=True)
        items = _count_items(base / "store.db", args.bank)
        if args.src is not None:
            new_src: Path | None = args.src.resolve()
        else:
            new_src = ROOT / "src" if args.rev is None else extract(args.rev, base / "new-src")
        if new_src is None:
            sys.exit(f"cannot extract {args.rev}")
        revisions = [Revision(args.rev or str(args.src or "this checkout"), new_src, base / "new")]
        if not args.no_baseline:
            if args.baseline_src is not None:
                old_src: Path | None = args.baseline_src.resolve()
            else:
                old_src = extract(args.baseline_rev, base / "old-src")
            if old_src is not None:
                name = str(args.baseline_src) if args.baseline_src is not None else args.baseline_rev
                revisions.insert(0, Revision(name, old_src, base / "old"))
        for rev in revisions:
            rev.work.mkdir()
            for part in base.glob("store.db*"):  # with SQLite's log, if any
                shutil.copyfile(part, rev.work / part.name)
        results = measure(revisions, args.bank, args.runs, args.seed)

    print(f"\n{items:,}-item bank (SQLite), median of {args.runs} fresh processes each: wall s / CPU s")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}\n")
    names = list(results)
    print("| command | " + " | ".join(f"{n} wall | {n} CPU" for n in names) + " |")
    print("|---|" + "---:|---:|" * len(names))
    for what in ("warm match", "bank add (one item)", "next match"):
        cells = []
        for n in names:
            cells.append(f"{statistics.median(t.wall for t in results[n][what]):.2f}")
            cells.append(f"{statistics.median(t.cpu for t in results[n][what]):.2f}")
        print(f"| {what} | " + " | ".join(cells) + " |")
    cells = []
    for n in names:
        for part in ("wall", "cpu"):
            nxt = statistics.median(getattr(t, part) for t in results[n]["next match"])
            warm = statistics.median(getattr(t, part) for t in results[n]["warm match"])
            cells.append(f"{nxt / warm:.2f}x")
    print("| next match / warm match | " + " | ".join(cells) + " |")


def _count_items(path: Path, bank: str) -> int:
    import sqlite3

    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT count(*) FROM items JOIN banks ON banks.id = items.bank_id WHERE banks.name = ?", (bank,)
        ).fetchone()
    return int(row[0])


if __name__ == "__main__":
    main()
