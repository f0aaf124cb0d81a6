"""A bank of ten million fingerprint-only items on one machine: built on disk, mapped, searched.

The bank is synthetic, so that ten million items take minutes to make rather than hours of text generation:
each item has ``--per-item`` hashes (default 80: a 1 KB text has about 80 after winnowing), each hash the
smallest of four uniform 64-bit values (winnowing keeps the smallest hash of each window, so real stored
hashes are skewed as these are), at positions one to four tokens apart.  The build streams batches of
``--batch`` items into ``SnapshotBuilder`` and reports its time and peak memory.  A fresh process then maps
the snapshot and answers queries, one at a time and in batches of 256:

- *match*: the fingerprint of 1 KB of real corpus text with 20 consecutive fingerprints of a banked item
  spliced in (about 50 words of it), which must be found;
- *nothing*: the fingerprint of 1 KB of real corpus text alone;
- *text*: 1 KB of real corpus text, fingerprinted in the same call (``Index.match_many``).

The index it replaced is not run at this size: it needs 16 bytes a posting and sorts them all in memory
(about 35 GB at the peak for 800 million).

    python benchmarks/bench_scale.py [--items 10000000] [--per-item 80] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

SERVE = r"""
import json, sys, time
import numpy as np
t0 = time.perf_counter()
from copytrace import Fingerprint, Index
from copytrace.fingerprints.batch import fingerprint_many
path, work = sys.argv[1], sys.argv[2]

def mem():
    with open("/proc/self/status") as fh:
        f = {l.split(":")[0]: int(l.split()[1]) for l in fh if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
    return {k: v / 1024 for k, v in f.items()}

index = Index.load(path)
out = {"open_s": time.perf_counter() - t0}
q = np.load(work + "/queries.npz")
texts = json.load(open(work + "/texts.json"))
params = index.params

def fps(kind):
    h, p, o, n = q[kind + "_h"], q[kind + "_p"], q[kind + "_o"], q[kind + "_n"]
    return [Fingerprint(params, h[o[i]:o[i + 1]], p[o[i]:o[i + 1]], int(n[i])) for i in range(len(n))]

t0 = time.perf_counter()
index.match_fingerprints(fps("match")[:1])
out["first_query_s"] = time.perf_counter() - t0
out["mem_after_open_mb"] = mem()
for kind in ("match", "nothing"):
    qs = fps(kind)
    for f in qs[:200]:
        index.match_fingerprint(f)  # pages of the mapped file come in
    t0 = time.perf_counter()
    single = [index.match_fingerprint(f) for f in qs]
    out[f"qps_{kind}"] = len(qs) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    batched = []
    for a in range(0, len(qs), 256):
        batched += index.match_fingerprints(qs[a:a + 256])
    out[f"qps_batch_{kind}"] = len(qs) / (time.perf_counter() - t0)
    ids = lambda found: [[m.item_id for m in ms] for ms in found]
    out[f"same_{kind}"] = ids(single) == ids(batched)
    if kind == "match":
        want = [str(i) for i in q["match_item"].tolist()]
        out["found"] = sum(w in {m.item_id for m in ms} for w, ms in zip(want, single)) / len(want)
    else:
        out["false_matches"] = sum(bool(ms) for ms in single)
t0 = time.perf_counter()
for a in range(0, len(texts), 256):
    index.match_many(texts[a:a + 256])
out["qps_batch_text"] = len(texts) / (time.perf_counter() - t0)
out["mem_after_queries_mb"] = mem()
print(json.dumps(out))
"""


class PeakMemory:
    """The largest private (anonymous) resident memory of this process while it runs, sampled every 50 ms:
    unlike the peak RSS, it leaves out the pages of files the build maps (its spill files and the snapshot
    it writes), which the system can drop at any time."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            with open("/proc/self/status") as fh:
                kb = next(int(line.split()[1]) for line in fh if line.startswith("RssAnon:"))
            self.peak_mb = max(self.peak_mb, kb / 1024)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def synthetic(
    rng: np.random.Generator, n: int, per_item: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` items of ``per_item`` winnowed-looking hashes: (hashes, positions, offsets, n_tokens)."""
    hashes = rng.integers(0, 2**64, (n * per_item, 4), dtype=np.uint64).min(axis=1)
    steps = rng.integers(1, 5, (n, per_item))
    steps[:, 0] = rng.integers(0, 4, n)
    positions = np.cumsum(steps, axis=1)
    n_tokens = positions[:, -1] + 5 + rng.integers(0, 4, n)
    offsets = np.arange(n + 1, dtype=np.int64) * per_item
    return hashes, positions.reshape(-1).astype(np.int64), offsets, n_tokens.astype(np.int64)


def queries(work: Path, data: Path, first_chunk: tuple[np.ndarray, ...], per_item: int, n: int) -> None:
    """Fingerprints of 1 KB corpus texts, half of them with 20 fingerprints of an item of the first batch
    spliced in; and the texts themselves."""
    from copytrace.fingerprints.batch import fingerprint_many
    from copytrace.text.textio import read_text_file

    texts = [read_text_file(p).text for p in sorted((data / "corpora").rglob("*.txt"))]
    rng = np.random.default_rng(3)
    words = [t.split() for t in texts if len(t.split()) > 400]
    hosts = []
    for _ in range(2 * n):
        w = words[int(rng.integers(len(words)))]
        at = int(rng.integers(0, len(w) - 200))
        hosts.append(" ".join(w[at : at + 200])[:1024])
    batch, _ = fingerprint_many(hosts)
    hashes, positions, _, _ = first_chunk
    out: dict[str, np.ndarray] = {}
    for kind, part in (("match", range(n)), ("nothing", range(n, 2 * n))):
        hs, ps, lens, ntok, items = [], [], [], [], []
        for i in part:
            a, b = batch.offsets[i], batch.offsets[i + 1]
            h, p, nt = batch.hashes[a:b], batch.positions[a:b], int(batch.n_tokens[i])
            if kind == "match":  # 20 consecutive fingerprints of an item, positioned after the host text
                item = int(rng.integers(len(first_chunk[3])))
                at = item * per_item + int(rng.integers(0, per_item - 20))
                piece = positions[at : at + 20] - positions[at] + nt + 1
                h = np.concatenate((h, hashes[at : at + 20]))
                p = np.concatenate((p, piece))
                nt = int(piece[-1]) + 6
                items.append(item)
            hs.append(h), ps.append(p), lens.append(len(h)), ntok.append(nt)
        offsets = np.zeros(len(lens) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        out.update(
            {
                f"{kind}_h": np.concatenate(hs),
                f"{kind}_p": np.concatenate(ps),
                f"{kind}_o": offsets,
                f"{kind}_n": np.array(ntok),
            }
        )
        if items:
            out["match_item"] = np.array(items)
    np.savez(work / "queries.npz", **out)
    (work / "texts.json").write_text(json.dumps(hosts[n:]), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=10_000_000)
    ap.add_argument("--per-item", type=int, default=80)
    ap.add_argument("--batch", type=int, default=500_000)
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--dir", default=None, help="where the snapshot and the build's spill files go")
    args = ap.parse_args()
    from copytrace import fingerprint
    from copytrace.fingerprints.batch import FingerprintBatch
    from copytrace.index.snapshot_build import SnapshotBuilder

    params = fingerprint("the parameters of the default fingerprints").params
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.dir) as tmp:
        work = Path(tmp)
        path = work / "bank.ctidx"
        rng = np.random.default_rng(1)
        t0 = time.perf_counter()
        made = 0.0
        with PeakMemory() as peak, SnapshotBuilder(path, params) as builder:
            for start in range(0, args.items, args.batch):
                n = min(args.batch, args.items - start)
                t1 = time.perf_counter()
                chunk = synthetic(rng, n, args.per_item)
                if start == 0:
                    queries(work, args.data, chunk, args.per_item, args.queries // 2)
                made += time.perf_counter() - t1
                builder.add("bank", [str(start + i) for i in range(n)], FingerprintBatch(params, *chunk))
                print(f"  {start + n:,} items", file=sys.stderr, flush=True)
            finish = time.perf_counter()
        build_s = time.perf_counter() - t0 - made
        finish_s = time.perf_counter() - finish
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        size = path.stat().st_size
        done = subprocess.run(
            [sys.executable, "-c", SERVE, str(path), str(work)],
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            capture_output=True,
            text=True,
            check=True,
        )
        served = json.loads(done.stdout.strip().splitlines()[-1])
    postings = builder.n_postings
    print(
        f"\n## A bank of {args.items:,} fingerprint-only items ({postings:,} stored fingerprints), one core\n"
    )
    print("| | |")
    print("|---|---:|")
    print(
        f"| build (batches into `SnapshotBuilder`), s | {build_s:,.0f} (writing the file: {finish_s:,.0f}) |"
    )
    print(
        f"| peak memory of the build: private / resident with mapped files, MB | "
        f"{peak.peak_mb:,.0f} / {peak_rss_mb:,.0f} |"
    )
    print(
        f"| snapshot file, MB / bytes per stored fingerprint | {size / 2**20:,.0f} / {size / postings:.2f} |"
    )
    print(
        f"| start-up: import, map, first query, s | {served['open_s']:.2f} + {served['first_query_s']:.2f} |"
    )
    m0, m1 = served["mem_after_open_mb"], served["mem_after_queries_mb"]
    print(
        f"| memory after start-up: private / mapped file, MB | {m0['RssAnon']:,.0f} / {m0['RssFile']:,.0f} |"
    )
    print(f"| memory after the queries: private / mapped, MB | {m1['RssAnon']:,.0f} / {m1['RssFile']:,.0f} |")
    for kind, what in (
        ("match", f"fingerprints with an item's 20 spliced in (found: {served['found']:.3f})"),
        ("nothing", f"fingerprints of 1 KB that match nothing ({served['false_matches']} false matches)"),
    ):
        one, batched = served[f"qps_{kind}"], served[f"qps_batch_{kind}"]
        print(f"| lookups/s, {what} | {one:,.0f} one by one, {batched:,.0f} in batches |")
    print(
        f"| queries/s, 1 KB texts fingerprinted and matched, `match_many` | {served['qps_batch_text']:,.0f} |"
    )
    print(f"\nbatch answers identical to one by one: {served['same_match']} / {served['same_nothing']}")


if __name__ == "__main__":
    main()
