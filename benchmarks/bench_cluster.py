"""Copy families in a labelled corpus: copytrace cluster against MinHash-LSH deduplication, in one run.

The corpus (``copytrace.batch.cluster_corpus``): families of real speech passages with reformatted, HTML,
look-alike, edited, sentence-dropped copies, copies of copies and excerpts quoted inside unrelated text;
unrelated singletons; a site footer on a quarter of all documents.  Each tool clusters it; the table gives
the adjusted Rand index, pair precision and pair recall against the truth (``--link partial``: an excerpt
belongs to its family), whether a false family of footer-carrying documents appeared, and the time.

Peers, run as their users run them:
- ``datasketch``: MinHash (128 permutations) of word 5-gram shingles, MinHashLSH at Jaccard 0.7 (text-dedup's
  and datatrove's defaults: 5-grams, a 0.7-0.8 threshold), then union-find over the candidate pairs.

    .venv/bin/python benchmarks/bench_cluster.py --families 150 --singletons 1000
    .venv/bin/python benchmarks/bench_cluster.py --families 2000 --singletons 100000 --job
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from copytrace.batch.cluster_corpus import SITE_FOOTER, LabelledCorpus, labelled_corpus, pair_scores
from copytrace.batch.clustering import cluster
from copytrace.batch.components import union_find

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def footer_family(corpus: LabelledCorpus, found: list[int]) -> bool:
    """Whether some found cluster joins footer-carrying documents of three or more true families."""
    groups: dict[int, set[int]] = {}
    for i, label in enumerate(found):
        if corpus.texts[i].endswith(SITE_FOOTER):
            groups.setdefault(label, set()).add(corpus.labels[i])
    return any(len(g) >= 3 for g in groups.values())


def run_copytrace(corpus: LabelledCorpus) -> list[int]:
    return cluster(corpus.texts, ids=corpus.ids).labels.tolist()  # type: ignore[no-any-return]


def run_job(corpus: LabelledCorpus, workers: int) -> list[int]:
    """The Ray job on the corpus written as JSON Lines files (what ``copytrace cluster`` does)."""
    from copytrace.batch.cluster import ClusterSettings, run_cluster

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        per = max(1, len(corpus) // 16)
        for f, start in enumerate(range(0, len(corpus), per)):
            with open(folder / f"part-{f:03d}.jsonl", "w", encoding="utf-8") as fh:
                for i in range(start, min(start + per, len(corpus))):
                    fh.write(json.dumps({"id": corpus.ids[i], "text": corpus.texts[i]}) + "\n")
        run_cluster([str(folder)], Path(tmp) / "out", settings=ClusterSettings(), key=None, workers=workers)
        import pyarrow.parquet as pq

        rows = pq.read_table(Path(tmp) / "out" / "clusters.parquet").to_pylist()
    number = {d: i for i, d in enumerate(corpus.ids)}
    return [number[r["cluster"]] for r in sorted(rows, key=lambda r: number[r["id"]])]


_WORD = re.compile(r"\w+")


def run_datasketch(corpus: LabelledCorpus, threshold: float = 0.7, num_perm: int = 128) -> list[int]:
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    a: list[int] = []
    b: list[int] = []
    for i, text in enumerate(corpus.texts):
        words = _WORD.findall(text.lower())
        shingles = {" ".join(words[j : j + 5]).encode() for j in range(max(1, len(words) - 4))}
        m = MinHash(num_perm=num_perm)
        m.update_batch(list(shingles))
        for other in lsh.query(m):
            a.append(i)
            b.append(int(other))
        lsh.insert(str(i), m)
    return union_find(len(corpus), [(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64))]).tolist()  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--families", type=int, default=150)
    parser.add_argument("--singletons", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--job", action="store_true", help="also run the Ray job (copytrace cluster)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    started = time.perf_counter()
    corpus = labelled_corpus(args.data, families=args.families, singletons=args.singletons, seed=args.seed)
    in_families = (
        sum(1 for lab in corpus.labels if corpus.labels.count(lab) > 1) if len(corpus) < 5000 else None
    )
    print(
        f"corpus: {len(corpus):,} documents, {args.families:,} families, {args.singletons:,} singletons "
        f"(made in {time.perf_counter() - started:.1f} s)"
        + (f", {in_families:,} in families" if in_families else "")
    )
    tools: list[tuple[str, Callable[[LabelledCorpus], list[int]]]] = [
        ("copytrace cluster (in process)", run_copytrace)
    ]
    if args.job:
        tools.append(("copytrace cluster (Ray job)", lambda c: run_job(c, args.workers)))
    tools.append(("datasketch MinHash-LSH 0.7 + union-find", run_datasketch))
    print("| tool | ARI | pair precision | pair recall | footer family | seconds |")
    print("|---|---:|---:|---:|---|---:|")
    for name, fn in tools:
        t = time.perf_counter()
        found = fn(corpus)
        seconds = time.perf_counter() - t
        s = pair_scores(corpus.labels, found)
        print(
            f"| {name} | {s['ari']:.4f} | {s['precision']:.4f} | {s['recall']:.4f} | "
            f"{'yes' if footer_family(corpus, found) else 'no'} | {seconds:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
