"""The service's ``match:batch`` in-process: ``LiveIndex.match_many`` over a store, in batches of 100 one-KB
queries (``bench_service.py``'s: every other one holds 40 words of a banked item), for this checkout and for
other revisions' ``src`` trees, with their answers compared query by query.

Each revision runs in a child process of its own (``PYTHONPATH`` at its ``src``) over the same store and
queries, and prints lookups per CPU-second for each pass over the queries: the first pass reads the texts of
the quote candidates from the store, later ones find their token hashes kept (as a service does once its
stream repeats items).  A revision that writes a token sidecar beside its snapshot (``live_tokens``) is
timed once it has taken it up: its first pass reads only the texts of items it does not hold.
``--quotes`` puts an 8-15-word run of a banked item into every other query instead,
so that the quote pass verifies and reports quotes too.  Every revision must give the same matches (ids,
scores, containments, spans, quotes) for every query; the run says how many differ.

    python benchmarks/bench_match_batch.py --db /tmp/my-copy-of-store.db [--queries 4000] [--passes 2] \
        [--quotes] [--src /tmp/old/src ...]

The index's snapshot is kept under the temporary directory, one per store, and reused by later runs.  The
store is only read, but SQLite may write beside it: give a copy of a store that others use.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_core import corpus, make_queries

ROOT = Path(__file__).resolve().parents[1]


def queries_for(db: str, data: Path, n: int, quotes: bool) -> tuple[list[str], str]:
    """The queries, and a query that runs every compiled part before the timing (a quote and a copy of
    two items beyond the sampled ones, so that it reads no item the queries reach)."""
    from copytrace.banks import Store

    store = Store(db)
    sample: list[str] = []
    for rec in store.iter_items("generated", with_text=True):
        if len(sample) >= 2002:
            break
        sample.append(rec.text or "")
    store.close()
    quoted, copied = sample.pop().split(), sample.pop().split()
    queries = make_queries(sample, corpus(data), n, random.Random(2))
    if quotes:
        rng = random.Random(9)
        for i in range(1, len(queries), 2):
            words = rng.choice(sample).split()
            length = rng.randrange(8, 16)
            at = rng.randrange(0, max(1, len(words) - length))
            host = queries[i].split()
            cut = rng.randrange(0, len(host))
            queries[i] = " ".join(host[:cut] + words[at : at + length] + host[cut:])[:1100]
    warm = f"warm up the compiled code: {' '.join(quoted[:12])}, then {' '.join(copied[:60])}"
    return queries, warm


def wait_for_tokens(live: Any, timeout: float) -> float | None:
    """Wait until the index measures the quote pass on its snapshot's token sidecar (``live_tokens``),
    written in the background after the start, so that a pass times queries, not the writing; returns how
    long that took, or None for a revision without sidecars."""
    if not hasattr(live, "tokens"):
        return None
    started = time.monotonic()
    while True:
        index = live._index
        if index is not None and index._contents.sidecar is not None:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit("the token sidecar was not taken up in time")
        time.sleep(0.5)


def child(args: argparse.Namespace) -> None:
    """One revision: the passes over the queries, their rates and the first pass's answers, as JSON."""
    import copytrace
    from copytrace.banks import Store
    from copytrace.banks.live import LiveIndex
    from copytrace.fingerprints.keys import PUBLIC_KEY

    queries, warm = queries_for(args.db, args.data, args.queries, args.quotes)
    snapshots = Path(tempfile.gettempdir()) / (
        "bench-match-batch-" + hashlib.sha256(os.path.abspath(args.db).encode()).hexdigest()[:12]
    )
    store = Store(args.db)
    live = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(snapshots))
    live.start()
    if not live.wait_ready(1800):
        raise SystemExit("the index did not load in 30 minutes")
    waited = wait_for_tokens(live, 3600)
    if waited is not None:
        print(
            f"{Path(copytrace.__file__).parents[1]}: token sidecar taken up {waited:.1f} s after ready",
            file=sys.stderr,
        )
    live.match_many(["warm up the compiled code, " * 20, warm])
    rates = []
    answers: list[list[dict[str, Any]]] = []
    for p in range(args.passes):
        started = time.process_time()
        found = []
        for i in range(0, len(queries), 100):
            batch = queries[i : i + 100]
            found += live.match_many(batch, queries=[str(j) for j in range(len(batch))])
        rates.append(len(queries) / (time.process_time() - started))
        if p == 0:
            answers = [[m.to_dict() for m in ms] for ms in found]
    live.stop()
    store.close()
    json.dump(
        {"src": str(Path(copytrace.__file__).parents[1]), "rates": rates, "answers": answers}, sys.stdout
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="a store of generated items (bench_service.py's)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--quotes", action="store_true", help="every other query holds an 8-15-word quote")
    ap.add_argument("--src", action="append", default=[], help="another revision's src tree (repeatable)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    runs = []
    for src in [*args.src, str(ROOT / "src")]:
        cmd = [sys.executable, __file__, "--child", "--db", args.db, "--data", str(args.data)]
        cmd += ["--queries", str(args.queries), "--passes", str(args.passes)] + (
            ["--quotes"] if args.quotes else []
        )
        out = subprocess.run(
            cmd, check=False, env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(f"{src}: {out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout))
    base = runs[-1]["answers"]
    matched = sum(1 for a in base if a)
    quotes = sum(1 for a in base for m in a if m["kind"] == "quote")
    print(f"{args.queries:,} queries ({'with quotes' if args.quotes else 'bench_service'}), {args.db}")
    print(f"{matched:,} with a match, {quotes:,} quotes (this checkout)\n")
    print("| src | " + " | ".join(f"pass {p + 1} lookups/CPU-s" for p in range(args.passes)) + " | answers |")
    print("|---|" + "---:|" * args.passes + "---|")
    for run in runs:
        differ = sum(1 for a, b in zip(run["answers"], base, strict=True) if a != b)
        rates = " | ".join(f"{r:,.0f}" for r in run["rates"])
        print(f"| {run['src']} | {rates} | {'same' if differ == 0 else f'{differ} differ'} |")


if __name__ == "__main__":
    main()
