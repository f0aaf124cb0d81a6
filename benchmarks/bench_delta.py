"""Growing an index one item at a time against adding the same items at once, and lookups on a grown delta,
with the current ``src`` tree beside a baseline revision (``--baseline-rev``, default ``17b0184``: the last
one whose delta was one level, re-merged on every flush), in one run.

Each measurement runs in a fresh process against one tree (``PYTHONPATH``), so ratios are computed within
the run: a busy machine slows both columns alike.

- **add**: ``--sizes`` held-out-like items (100-300 words drawn, seeded, from the word frequencies of the
  shared corpora; every fifth one an earlier item with a few words changed, so linking finds versions) are
  added to an empty index as texts, by ``add_many`` and by ``add`` one at a time (each ``add`` matches the
  item against the bank first, so every addition is followed by a query).  The baseline's ``add`` one at a
  time is run up to ``--baseline-one-max`` items only (it is quadratic).
- **lookup**: a snapshot of ``--base`` items is loaded, then ``--delta`` more are added one at a time (a
  query after each, as linking does), and ``--queries`` texts of 1 KB (half with 40 words of a banked item)
  are matched; the same items all in one saved snapshot are matched too.  Answers are compared.  Both sides
  hold the same things: the items added to the delta are added as fingerprints (an index loaded from a
  snapshot keeps the texts added to it, and spans would then be computed for those items only), and the
  quote pass is off on both (``MatchParams(quotes=None)``: it runs only on items whose text is held).
  The queries are matched ``--rounds`` times and the fastest pass counts.

Each worker reports its peak resident memory (``getrusage``) and what was resident when its measured part
began (the items' texts, read from a file, and the compiled code).

    python benchmarks/bench_delta.py [--sizes 30000 100000] [--baseline-rev 17b0184]

``--src`` and ``--baseline-src`` run source trees extracted before (``git archive REV src``; named by the
folder above them), whose compiled kernels are then cached from one run to the next, and which hold no
uncommitted change of this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_index import corpus_texts, extract, make_bank, make_queries  # noqa: E402

WORKER = r"""
import json, os, resource, sys, time
from copytrace import Index, MatchParams, fingerprint

try:
    PARAMS = MatchParams(quotes=None)  # the quote pass off: it needs item texts, which only one side holds
except TypeError:  # a tree before quotes
    PARAMS = MatchParams()

work, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
items = json.load(open(os.path.join(work, "items.json"), encoding="utf-8"))
warm = Index(keep_text=False)  # compiled code loaded (or compiled) before any clock starts
warm.add_many([("a", items[0]), ("b", items[1])])
warm.add("c", items[2])
warm.match(items[0])
with open("/proc/self/status") as status:  # resident before the measured part: the items' texts, code
    out = {"rss_start": next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) * 1024}
if mode == "add_many":
    index = Index(keep_text=False)
    t0 = time.perf_counter()
    index.add_many((str(i), t) for i, t in enumerate(items[:n]))
    index.flush()
    out["s"] = time.perf_counter() - t0
elif mode == "add_one":
    index = Index(keep_text=False)
    t0 = time.perf_counter()
    for i, t in enumerate(items[:n]):
        index.add(str(i), t)
    index.flush()
    out["s"] = time.perf_counter() - t0
else:  # lookup: a snapshot of the first ``base`` items, then ``n`` added one at a time
    base = int(sys.argv[4])
    queries = json.load(open(os.path.join(work, "queries.json"), encoding="utf-8"))["match"]
    path = os.path.join(work, f"base-{os.getpid()}.snapshot")
    index = Index(keep_text=False, match_params=PARAMS)
    index.add_many((str(i), t) for i, t in enumerate(items[:base]))
    if mode == "lookup_snapshot":  # every item in the snapshot
        index.add_many((str(i), t) for i, t in enumerate(items[base : base + n], start=base))
    index.save(path)
    index = Index.load(path, match_params=PARAMS)
    if mode == "lookup_delta":  # as fingerprints: no text held, as for the snapshot's items
        for i in range(base, base + n):
            index.add(str(i), fingerprint(items[i]))
    index.match(queries[0])
    best = float("inf")
    for _ in range(int(sys.argv[5])):  # the best of a few passes: one pass lasts a tenth of a second
        t0 = time.perf_counter()
        answers = [[(m.item_id, round(m.score, 9)) for m in index.match(q)] for q in queries]
        best = min(best, time.perf_counter() - t0)
    out["qps"] = len(queries) / best
    out["answers"] = answers
    os.remove(path)
out["families"] = index.n_families()
out["rss_peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""


def held_out(texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` items as ``bench_index.make_bank`` draws them, every fifth one an earlier item with one word
    in twenty replaced: a bank that keeps receiving versions of what it holds."""
    items = make_bank(texts, n, seed)
    rng = np.random.default_rng(seed + 1)
    for i in range(5, n, 5):
        words = items[int(rng.integers(i))].split()
        for at in rng.integers(0, len(words), len(words) // 20).tolist():
            words[at] = items[int(rng.integers(i))].split()[0]
        items[i] = " ".join(words)
    return items


def run(src: Path, work: Path, *args: object) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-c", WORKER, str(work), *map(str, args)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"worker {args} on {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _rss(out: dict[str, object]) -> str:
    """A worker's peak resident memory, with its growth during the measured part, in GB."""
    peak, start = int(out["rss_peak"]), int(out["rss_start"])  # type: ignore[call-overload]
    return f"{peak / 1e9:.2f} GB (+{(peak - start) / 1e9:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--sizes", type=int, nargs="+", default=[30_000, 100_000])
    ap.add_argument("--baseline-rev", default="17b0184", help="'none': this tree alone")
    ap.add_argument("--baseline-one-max", type=int, default=30_000)
    ap.add_argument("--base", type=int, default=30_000)
    ap.add_argument("--delta", type=int, nargs="+", default=[3_000, 30_000])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5, help="passes over the queries; the fastest counts")
    ap.add_argument(
        "--src", type=Path, help="run this src tree (one extracted before) instead of this checkout's"
    )
    ap.add_argument("--baseline-src", type=Path, help="run this src tree as --baseline-rev, not an extract")
    args = ap.parse_args()
    texts = corpus_texts(args.data)
    most = max(*args.sizes, args.base + max(args.delta))
    with tempfile.TemporaryDirectory(prefix="bench-delta-") as tmp:
        work = Path(tmp)
        items = held_out(texts, most, seed=1)
        (work / "items.json").write_text(json.dumps(items))
        (work / "queries.json").write_text(json.dumps(make_queries(items, texts, args.queries, seed=2)))
        del items  # the workers read them from the file
        trees = [("current", ROOT / "src") if args.src is None else (str(args.src.parent.name), args.src)]
        if args.baseline_rev != "none":
            old = args.baseline_src or extract(args.baseline_rev, work)
            trees.insert(0, (args.baseline_rev, old))
        print(f"## `Index.add` one at a time and `add_many` ({' beside '.join(name for name, _ in trees)})\n")
        print("Peak resident memory of each worker process, and in brackets its growth from the start of")
        print("the measured part (the items' texts and the compiled code are resident before it).\n")
        print(
            "| items | tree | `add_many`, s | `add` one at a time, s | one at a time / `add_many` "
            "| families | `add_many` peak RSS | one at a time peak RSS |"
        )
        print("|---:|---|---:|---:|---:|---|---:|---:|")
        for n in args.sizes:
            for name, src in trees:
                many = run(src, work, "add_many", n)
                if name == args.baseline_rev and n > args.baseline_one_max:
                    print(
                        f"| {n:,} | {name} | {many['s']:.1f} | not run | – | {many['families']:,} "
                        f"| {_rss(many)} | – |"
                    )
                    continue
                one = run(src, work, "add_one", n)
                fam = f"{many['families']:,}" + ("" if one["families"] == many["families"] else " ≠ one")
                ratio = float(one["s"]) / float(many["s"])  # type: ignore[arg-type]
                print(
                    f"| {n:,} | {name} | {many['s']:.1f} | {one['s']:.1f} | {ratio:.2f}× | {fam} "
                    f"| {_rss(many)} | {_rss(one)} |",
                    flush=True,
                )
        print(f"\n## Lookups: a snapshot of {args.base:,} items, then items added one at a time")
        print("(items added as fingerprints, the quote pass off on both sides)\n")
        print(
            "| added | tree | queries/s, on the delta | queries/s, all in the snapshot | delta / snapshot |"
        )
        print("|---:|---|---:|---:|---:|")
        answers = {}
        for d in args.delta:
            for name, src in trees:
                on_delta = run(src, work, "lookup_delta", d, args.base, args.rounds)
                whole = run(src, work, "lookup_snapshot", d, args.base, args.rounds)
                answers[(d, name)] = on_delta.pop("answers")
                same = answers[(d, name)] == whole.pop("answers")
                a, b = float(on_delta["qps"]), float(whole["qps"])  # type: ignore[arg-type]
                note = "" if same else " (answers differ)"
                print(f"| {d:,} | {name} | {a:,.0f} | {b:,.0f} | {a / b:.2f}×{note} |", flush=True)
        if len(trees) == 2:
            same = all(answers[(d, args.baseline_rev)] == answers[(d, trees[-1][0])] for d in args.delta)
            print(f"\nanswers on the delta identical in both trees: {same}")


if __name__ == "__main__":
    main()
