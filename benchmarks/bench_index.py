"""Index v2 beside the index it replaced, in one run: lookups per second, build, memory, snapshots.

Both indexes get the same bank and the same queries, each in its own fresh process: the current ``src`` tree
and a baseline revision (``--baseline-rev``, the last commit before index v2) extracted with ``git archive``
and imported through ``PYTHONPATH``.  Ratios are computed within the run, so a busy machine slows both
columns alike.  Every answer is compared: both must report the same items with the same scores.

The bank: ``--items`` distinct documents of 100-300 words drawn (seeded) from the word frequencies of the
shared corpora (words of up to 20 characters), banked as fingerprints.  Queries (one core each): 1 KB of
real corpus text, half of them with 40 words of a banked item inside (``match``), and 1 KB of corpus text
alone, which matches nothing (most of a moderation stream).  v2 also answers the same queries in batches of
256 (``Index.match_many``).

    python benchmarks/bench_index.py [--items 1000000] [--queries 4000] [--baseline-rev b78c5aa]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Runs in a fresh process against whichever copytrace PYTHONPATH selects.  Prints one JSON line.
WORKER = r"""
import gc, json, os, resource, sys, time
import numpy as np
import copytrace
from copytrace import Fingerprint, Index

work = sys.argv[1]
arrays = np.load(os.path.join(work, "bank.npz"))
queries = json.load(open(os.path.join(work, "queries.json"), encoding="utf-8"))
hashes, positions, offsets, ntok = arrays["hashes"], arrays["positions"], arrays["offsets"], arrays["ntok"]
params = copytrace.fingerprint("parameters of the default fingerprints of this copytrace").params
n = len(ntok)
ids = [str(i) for i in range(n)]

def rss_mb():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:")) / 1024

out = {"version": getattr(copytrace, "__version__", "?")}
base = rss_mb()
t0 = time.perf_counter()
index = Index(keep_text=False)
if hasattr(index, "add_batch"):
    try:
        from copytrace.fingerprints.batch import FingerprintBatch
    except ImportError:  # a baseline from before the fingerprints/ package
        from copytrace.fingerprint_batch import FingerprintBatch
    batch = FingerprintBatch(params, hashes, positions, offsets, ntok)
    index.add_batch(ids, batch, links=[()] * n)
else:
    for i in range(n):
        a, b = offsets[i], offsets[i + 1]
        index.add(ids[i], Fingerprint(params, hashes[a:b], positions[a:b], int(ntok[i])), links=())
index.flush()
out["build_s"] = time.perf_counter() - t0
out["fingerprints"] = index.n_fingerprints
out["bytes_per_fp"] = index.nbytes / index.n_fingerprints
gc.collect()
out["rss_mb"] = rss_mb() - base
if hasattr(index, "add_batch"):  # v2 also writes a snapshot straight from the fingerprints, batch by batch
    try:
        from copytrace.index.snapshot_build import SnapshotBuilder
    except ImportError:  # a baseline from before the index/ package
        from copytrace.index_build import SnapshotBuilder
    t0 = time.perf_counter()
    with SnapshotBuilder(os.path.join(work, "built.snapshot"), params) as builder:
        for a in range(0, n, 100_000):
            e = min(n, a + 100_000)
            lo, hi = offsets[a], offsets[e]
            part = FingerprintBatch(params, hashes[lo:hi], positions[lo:hi], offsets[a:e + 1] - lo, ntok[a:e])
            builder.add("default", ids[a:e], part, [()] * (e - a))
    out["builder_s"] = time.perf_counter() - t0
    os.remove(os.path.join(work, "built.snapshot"))
path = os.path.join(work, "index.snapshot")
t0 = time.perf_counter()
index.save(path)
out["save_s"] = time.perf_counter() - t0
out["file_mb"] = os.path.getsize(path) / 2**20
del index
gc.collect()
t0 = time.perf_counter()
index = Index.load(path)
index.match(queries["match"][0])
out["load_s"] = time.perf_counter() - t0

def rate(fn, qs):
    fn(qs[0])
    t0 = time.perf_counter()
    for q in qs:
        fn(q)
    return len(qs) / (time.perf_counter() - t0)

answers = {}
for kind in ("match", "nomatch"):
    qs = queries[kind]
    out[f"qps_{kind}"] = rate(index.match, qs)
    answers[kind] = [[(m.item_id, round(m.score, 9)) for m in index.match(q)] for q in qs]
    if hasattr(index, "match_many"):
        size = 256
        index.match_many(qs[:size])
        t0 = time.perf_counter()
        got = []
        for at in range(0, len(qs), size):
            got += index.match_many(qs[at : at + size])
        out[f"qps_batch_{kind}"] = len(qs) / (time.perf_counter() - t0)
        batch_answers = [[(m.item_id, round(m.score, 9)) for m in ms] for ms in got]
        out[f"batch_same_{kind}"] = batch_answers == answers[kind]
out["found"] = sum(1 for a in answers["match"][::2] if a) / len(answers["match"][::2])
out["answers"] = answers
out["rss_after_load_mb"] = rss_mb() - base
print(json.dumps(out))
"""


def corpus_texts(data: Path) -> list[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from copytrace.text.textio import read_text_file

    return [read_text_file(p).text for p in sorted((data / "corpora").rglob("*.txt"))]


def make_bank(texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` documents of 100-300 words drawn from the corpora's word frequencies.  A "word" of more than 20
    characters is left out: in scripts written without spaces (Thai, Japanese) it is a whole sentence,
    whose character k-grams a million random documents would share by the thousand."""
    words = [w for t in texts for w in t.split() if len(w) <= 20]
    vocab, counts = np.unique(np.array(words, dtype=object), return_counts=True)
    rng = np.random.default_rng(seed)
    lengths = rng.integers(100, 301, n)
    picks = rng.choice(len(vocab), size=int(lengths.sum()), p=counts / counts.sum())
    ends = np.cumsum(lengths)
    starts = ends - lengths
    return [" ".join(vocab[picks[a:b]]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def make_queries(items: list[str], texts: list[str], n: int, seed: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    long = [t.split() for t in texts if len(t.split()) > 400]

    def host() -> str:
        w = long[int(rng.integers(len(long)))]
        start = int(rng.integers(0, len(w) - 200))
        return " ".join(w[start : start + 200])[:1024]

    match = []
    for i in range(n):
        h = host()
        if i % 2 == 0:
            excerpt = " ".join(items[int(rng.integers(len(items)))].split()[:40])
            h = h[: 1024 - len(excerpt) - 1] + " " + excerpt
        match.append(h[:1024])
    return {"match": match, "nomatch": [host() for _ in range(n)]}


def fingerprints(items: list[str]) -> dict[str, np.ndarray]:
    """The items' fingerprints as flat arrays (in chunks: a million fingerprints with their tokens would
    not fit in memory at once)."""
    from copytrace.fingerprints.batch import fingerprint_many

    parts = []
    for at in range(0, len(items), 20_000):
        batch, _ = fingerprint_many(items[at : at + 20_000])
        parts.append((batch.hashes, batch.positions, np.diff(batch.offsets), batch.n_tokens))
    lengths = np.concatenate([p[2] for p in parts])
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return {
        "hashes": np.concatenate([p[0] for p in parts]),
        "positions": np.concatenate([p[1] for p in parts]).astype(np.int64),
        "offsets": offsets,
        "ntok": np.concatenate([p[3] for p in parts]).astype(np.int64),
    }


def extract(rev: str, into: Path) -> Path:
    archive = into / "src.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / rev, filter="data")
    return into / rev / "src"


def run(src: Path, work: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, str(work)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"worker on {src} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--baseline-rev", default="b78c5aa", help="the revision before index v2")
    args = ap.parse_args()
    texts = corpus_texts(args.data)
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        items = make_bank(texts, args.items, seed=1)
        np.savez(work / "bank.npz", **fingerprints(items))
        (work / "queries.json").write_text(json.dumps(make_queries(items, texts, args.queries, seed=2)))
        print(f"bank of {args.items:,} items fingerprinted in {time.perf_counter() - t0:.0f} s", flush=True)
        del items
        old = run(extract(args.baseline_rev, work), work)
        new = run(ROOT / "src", work)
    same = old.pop("answers") == new.pop("answers")

    def row(what: str, key: str, fmt: str, better: str) -> str:
        a, b = float(old[key]), float(new[key])  # type: ignore[arg-type]
        ratio = (b / a if better == "higher" else a / b) if a and b else float("nan")
        return f"| {what} | {a:{fmt}} | {b:{fmt}} | {ratio:.2f}× |"

    print(f"\n## Index v2 and the index it replaced ({args.baseline_rev}), {args.items:,} items, one core\n")
    print(
        f"stored fingerprints: {new['fingerprints']:,}; answers identical: {same}; "
        f"batch answers identical: {new.get('batch_same_match')} / {new.get('batch_same_nomatch')}; "
        f"excerpts found: {old['found']:.3f} / {new['found']:.3f}\n"
    )
    print(f"| | {args.baseline_rev} | v2 | v2 is |")
    print("|---|---:|---:|---:|")
    print(row("queries/s, 1 KB, half with a 40-word excerpt", "qps_match", ",.0f", "higher"))
    print(row("queries/s, 1 KB that match nothing", "qps_nomatch", ",.0f", "higher"))
    print(
        f"| ... in batches of 256 (`match_many`) | – | {new['qps_batch_match']:,.0f} / "
        f"{new['qps_batch_nomatch']:,.0f} | {new['qps_batch_match'] / old['qps_match']:.2f}× / "
        f"{new['qps_batch_nomatch'] / old['qps_nomatch']:.2f}× |"
    )
    print(row("index bytes / stored fingerprint", "bytes_per_fp", ".2f", "lower"))
    print(row("build from fingerprints, s", "build_s", ".1f", "lower"))
    print(
        f"| ... snapshot written batch by batch (`SnapshotBuilder`), s | – | {new['builder_s']:.1f} | "
        f"{old['build_s'] / new['builder_s']:.2f}× |"
    )
    print(row("resident memory after build, MB", "rss_mb", ",.0f", "lower"))
    print(row("snapshot file, MB", "file_mb", ",.0f", "lower"))
    print(row("snapshot save, s", "save_s", ".2f", "lower"))
    print(row("snapshot load + first query, s", "load_s", ".2f", "lower"))
    print(row("resident memory after load + queries, MB", "rss_after_load_mb", ",.0f", "lower"))


if __name__ == "__main__":
    main()
