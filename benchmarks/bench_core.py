"""Core engine benchmark: fingerprinting throughput and query speed, copytrace beside its peers in one run.

Prints a Markdown table.  Peers: datasketch MinHash (128 permutations, word 5-shingles) and rensa RMinHash
(the same), each used as its users do (lower-case, split on whitespace, shingle, hash); for queries,
datasketch MinHashLSH (threshold 0.5) and rensa RMinHashLSH.  Ratios are computed within the run, so a busy
machine slows every column alike.  Banks of 10k and 100k items are distinct 100-300-word documents
generated from the shared corpora by a seeded word-bigram chain; queries are 1 KB of real corpus text, half
of them with a 40-word excerpt of a banked item inside.

Dense banks: real banks hold many versions of one text (every repost a team removes).  Beside each sparse
bank, a dense one holds ``--dense-sample`` of its items as ``--dense-versions`` versions each (own first and
last line, half with 2% word edits: ``copytrace.evaluation.versions``) and the rest once.  On both, the
same queries: each sampled item whole, and 40 words of it inside 1 KB of real corpus text; one is found
when any version of its item is reported.

    python benchmarks/bench_core.py [--data ../shared/data] [--sizes 10000 100000] [--queries 2000]
                                    [--dense-sample 200] [--dense-versions 15]
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Callable
from pathlib import Path

import copytrace
from copytrace.evaluation.versions import versions
from copytrace.text.textio import read_text_file


def corpus(data: Path) -> list[str]:
    return [read_text_file(p).text for p in sorted((data / "corpora").rglob("*.txt"))]


def shingles(text: str, n: int = 5) -> list[str]:
    words = text.lower().split()
    return [" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))]


def datasketch_minhash(text: str):  # type: ignore[no-untyped-def]
    from datasketch import MinHash

    m = MinHash(num_perm=128)
    m.update_batch([s.encode("utf-8") for s in shingles(text)])
    return m


def rensa_minhash(text: str):  # type: ignore[no-untyped-def]
    from rensa import RMinHash

    m = RMinHash(num_perm=128, seed=42)
    m.update(shingles(text))
    return m


def throughput(fn: Callable[[str], object], texts: list[str], min_seconds: float = 2.0) -> float:
    """MB/s of ``fn`` over ``texts`` (UTF-8 bytes), repeated for at least ``min_seconds``."""
    size = sum(len(t.encode("utf-8")) for t in texts)
    fn(texts[0])  # warm-up (numba loads its compiled code)
    done, start = 0, time.perf_counter()
    while True:
        for t in texts:
            fn(t)
        done += size
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed / 1e6


class Bigrams:
    """A word bigram chain trained on the corpora: banks of distinct documents with natural phrasing."""

    def __init__(self, texts: list[str]) -> None:
        self.follow: dict[str, list[str]] = {}
        for t in texts:
            words = [w for w in t.split() if any(c.isalnum() for c in w)]
            for a, b in itertools.pairwise(words):
                self.follow.setdefault(a, []).append(b)
        self.starts = [w for w in self.follow if w[:1].isupper()]

    def document(self, rng: random.Random, n_words: int) -> str:
        w = rng.choice(self.starts)
        out = [w]
        for _ in range(n_words - 1):
            nxt = self.follow.get(w)
            w = rng.choice(nxt) if nxt else rng.choice(self.starts)
            out.append(w)
        return " ".join(out)


def make_bank(chain: Bigrams, n: int, rng: random.Random) -> list[str]:
    return [chain.document(rng, rng.randrange(100, 301)) for _ in range(n)]


def make_queries(items: list[str], texts: list[str], n: int, rng: random.Random) -> list[str]:
    """1 KB of real corpus text; every other query has 40 words of a banked item inside it."""
    words = [t.split() for t in texts if len(t.split()) > 400]
    out = []
    for i in range(n):
        w = rng.choice(words)
        start = rng.randrange(0, len(w) - 200)
        host = " ".join(w[start : start + 200])[:1024]
        if i % 2 == 0:
            item = rng.choice(items).split()
            excerpt = " ".join(item[:40])
            host = host[: 1024 - len(excerpt) - 1] + " " + excerpt
        out.append(host[:1024])
    return out


def excerpt_in_host(item: str, texts: list[str], rng: random.Random, n_words: int = 40) -> str:
    """``n_words`` consecutive words of ``item`` inside 1 KB of real corpus text."""
    words = [t.split() for t in texts if len(t.split()) > 400]
    w = rng.choice(words)
    start = rng.randrange(0, len(w) - 200)
    host = " ".join(w[start : start + 200])[:1024]
    piece = item.split()
    at = rng.randrange(0, max(1, len(piece) - n_words + 1))
    excerpt = " ".join(piece[at : at + n_words])
    cut = rng.randrange(len(host) // 4, len(host) // 2)
    return (host[:cut] + " " + excerpt + " " + host[cut:])[: max(1024, len(excerpt) + 2)]


def dense_bank(
    items: list[str], sample: list[int], n_versions: int, vocabulary: tuple[str, ...], rng: random.Random
) -> tuple[dict[str, str], dict[str, int]]:
    """The bank with each sampled item as ``n_versions`` versions: (id -> text, id -> item it versions)."""
    chosen = set(sample)
    bank: dict[str, str] = {}
    source: dict[str, int] = {}
    for i, text in enumerate(items):
        if i not in chosen:
            bank[str(i)], source[str(i)] = text, i
            continue
        for v, version in enumerate(versions(rng, text, n_versions, vocabulary), start=1):
            bank[f"{i}#v{v}"], source[f"{i}#v{v}"] = version, i
    return bank, source


def qps(fn: Callable[[str], object], queries: list[str]) -> float:
    fn(queries[0])
    start = time.perf_counter()
    for q in queries:
        fn(q)
    return len(queries) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--peer-bank-limit", type=int, default=10_000, help="largest bank built for the peers")
    ap.add_argument(
        "--dense-sample", type=int, default=200, help="items given versions in a dense bank (0: none)"
    )
    ap.add_argument("--dense-versions", type=int, default=15, help="versions of each of them")
    args = ap.parse_args()
    texts = corpus(args.data)
    rng = random.Random(1)

    print("## Fingerprinting throughput (one core, normalisation included)\n")
    ct = throughput(lambda t: copytrace.fingerprint(t, allow_short=True), texts)
    ds = throughput(datasketch_minhash, texts, 1.0)
    rs = throughput(rensa_minhash, texts)
    print("| method | MB/s | copytrace is |")
    print("|---|---|---|")
    print(f"| copytrace (k=5, w=4, SipHash-2-4, winnowing) | {ct:.1f} | 1.0× |")
    print(f"| datasketch MinHash (128 perm, word 5-shingles) | {ds:.1f} | {ct / ds:.1f}× faster |")
    print(f"| rensa RMinHash (128 perm, word 5-shingles) | {rs:.1f} | {ct / rs:.1f}× faster |")

    chain = Bigrams(texts)
    vocabulary = tuple(sorted({w for t in texts for w in t.split() if w.isalpha()}))
    dense_rows: list[str] = []
    print("\n## Banks: build, size, queries per second (1 KB queries, one core)\n")
    print("| bank items | method | build s | index bytes / fingerprint | queries/s | copytrace q/s is |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        items = make_bank(chain, n, rng)
        queries = make_queries(items, texts, args.queries, rng)
        t0 = time.perf_counter()
        index = copytrace.Index(keep_text=False)
        index.add_many((str(i), text) for i, text in enumerate(items))  # each linked to its versions
        index.match(queries[0])
        build = time.perf_counter() - t0
        per_fp = index.nbytes / index.n_fingerprints
        c_qps = qps(index.match, queries)
        found = sum(bool(index.match(q)) for q in queries[::2]) / len(queries[::2])
        print(
            f"| {n:,} | copytrace | {build:.1f} | {per_fp:.1f} | {c_qps:,.0f} | "
            f"1.0× (excerpts found: {found:.3f}) |"
        )
        if args.dense_sample and args.dense_versions > 1:  # its own seed: the other rows stay as they were
            drng = random.Random(f"dense/{n}")
            dense_rows += dense_case(items, texts, vocabulary, args.dense_sample, args.dense_versions, drng)
        if n > args.peer_bank_limit:
            continue
        from datasketch import MinHashLSH
        from rensa import RMinHashLSH

        datasketch_lsh = MinHashLSH(threshold=0.5, num_perm=128)
        rensa_lsh = RMinHashLSH(threshold=0.5, num_perm=128, num_bands=16)
        peers = [
            ("datasketch MinHashLSH", datasketch_lsh, datasketch_minhash, str),
            ("rensa RMinHashLSH", rensa_lsh, rensa_minhash, int),
        ]
        for name, lsh, minhash, key in peers:
            t0 = time.perf_counter()
            for i, text in enumerate(items):
                lsh.insert(key(i), minhash(text))
            build = time.perf_counter() - t0
            p_qps = qps(lambda q, lsh=lsh, minhash=minhash: lsh.query(minhash(q)), queries)
            p_found = sum(bool(lsh.query(minhash(q))) for q in queries[::2]) / len(queries[::2])
            print(
                f"| {n:,} | {name} | {build:.1f} | – | {p_qps:,.0f} | "
                f"{c_qps / p_qps:.1f}× (excerpts found: {p_found:.3f}) |"
            )
    if dense_rows:
        print(
            f"\n## Sparse and dense banks: {args.dense_sample} items banked once, or as "
            f"{args.dense_versions} versions each (one core)\n"
        )
        print(
            "| bank items | bank | items indexed | build s | queries/s | whole copies found | "
            "40-word excerpts found |"
        )
        print("|---|---|---|---|---|---|---|")
        for row in dense_rows:
            print(row)


def dense_case(
    items: list[str],
    texts: list[str],
    vocabulary: tuple[str, ...],
    n_sample: int,
    n_versions: int,
    rng: random.Random,
) -> list[str]:
    """Table rows for a sparse bank and its dense twin: queries/s and recall of whole copies and excerpts."""
    sample = sorted(rng.sample(range(len(items)), min(n_sample, len(items))))
    whole = [items[i] for i in sample]
    excerpts = [excerpt_in_host(items[i], texts, rng) for i in sample]
    sparse = ({str(i): t for i, t in enumerate(items)}, {str(i): i for i in range(len(items))})
    dense = dense_bank(items, sample, n_versions, vocabulary, rng)
    rows = []
    for label, (bank, source) in (
        ("sparse", sparse),
        (f"dense ({len(sample)} × {n_versions} versions)", dense),
    ):
        t0 = time.perf_counter()
        index = copytrace.Index(keep_text=False)
        index.add_many(bank.items())
        index.match(whole[0])
        build = time.perf_counter() - t0
        rate = qps(index.match, whole + excerpts)

        def found(
            queries: list[str], index: copytrace.Index = index, source: dict[str, int] = source
        ) -> float:
            hits = sum(
                i in {source[m.item_id] for m in index.match(q)} for i, q in zip(sample, queries, strict=True)
            )
            return hits / len(queries)

        rows.append(
            f"| {len(items):,} | {label} | {len(bank):,} | {build:.1f} | {rate:,.0f} | "
            f"{found(whole):.3f} | {found(excerpts):.3f} |"
        )
    return rows


if __name__ == "__main__":
    main()
