"""Copy families in a labelled corpus: ``copytrace cluster`` beside MinHash deduplication, in one run.

The corpus (``copytrace.batch.cluster_corpus``): families of real speech passages (2 to 8 members) with
reformatted, HTML, look-alike, edited, sentence-dropped copies, copies of copies and excerpts quoted inside
unrelated text; unrelated singletons (past the real passages, word salad of their vocabulary); a site
footer on a quarter of all documents.  About half the documents are in families.  It is written once per
size as JSON Lines, and every tool reads that file in a process of its own, so the time is the whole run
(start-up, reading, writing its output), the CPU time that of the processes it waited for, and the memory
the peak proportional set size (PSS) of its process tree (every process it started, Ray's included, sampled
every 0.1 s: a page that processes share, as forked workers share their parent's, counts once), beside the
peak of their resident sizes summed (such a page counted in each).  Each tool's families are scored
against the truth (``--link partial``: an excerpt belongs to its family): adjusted Rand index, pair
precision, pair recall.

Tools, each run as its own documentation runs it:
- ``copytrace``: ``copytrace cluster FILE --out DIR`` (the report included), its clusters read back.
- ``datasketch``: MinHash (128 permutations) of word 5-gram shingles, ``MinHashLSH`` at Jaccard 0.7, then
  union-find over the candidate pairs (plain Python: nothing of copytrace's is imported), in one process.
- ``datatrove``: its MinHash deduplication example (``examples/minhash_deduplication.py``): the default
  ``MinhashConfig`` (64-bit hashes, 14 buckets of 8, 5-gram word shingles by its spaCy word tokenizer), the
  stages signature, buckets, cluster (``save_cluster_id``) and filter (``load_cluster_ids``) on a
  ``LocalPipelineExecutor`` with ``workers=1`` (its default ``workers=-1`` hung in the buckets stage on this
  machine); a document's family is its ``minhash_cluster_id``.
- ``text-dedup``: ``python -m text_dedup.minhash`` on the JSON Lines file (its defaults: 5-grams, 250
  permutations, threshold 0.7, a process per CPU), its union-find (``--debug``) giving the families.

The peers come from the ``bench-dedup`` extra, best in an environment of their own (``--peer-python``):
``python -m venv peers && peers/bin/pip install -e '.[bench-dedup]'``.  At each size the table prints one
row per tool; with two sizes or more, a line per tool extrapolates its time and memory linearly to
``--extrapolate`` documents (a tool that would take hours at a million is run at smaller sizes).  On a
machine others use, ``--repeat N`` runs every tool N times in turn and prints copytrace's wall time over each
other tool's, round by round: compare the ratios, not the seconds.

    .venv/bin/python benchmarks/bench_cluster.py --docs 2000 --tools copytrace,datasketch --repeat 3
    .venv/bin/python benchmarks/bench_cluster.py --docs 20000 --docs 100000 --peer-python peers/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOOLS = ("copytrace", "datasketch", "datatrove", "text-dedup")
PEERS = ("datatrove", "text-dedup")  # run with --peer-python


# ------------------------------------------------------------------------------------------- corpus
def write_corpus(folder: Path, docs: int, seed: int, data: Path) -> tuple[Path, np.ndarray, float]:
    """The labelled corpus of about ``docs`` documents as ``folder/docs.jsonl`` (ids ``doc-N``), and its
    truth (one label per line); returns the file, the labels and the seconds it took."""
    from copytrace.batch.cluster_corpus import labelled_corpus

    started = time.perf_counter()
    families = max(1, docs // 10)
    corpus = labelled_corpus(data, families=families, singletons=max(0, docs - 5 * families), seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "docs.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in zip(corpus.ids, corpus.texts, strict=True):
            fh.write(json.dumps({"id": i, "text": text}) + "\n")
    labels = np.asarray(corpus.labels, dtype=np.int64)
    np.save(folder / "truth.npy", labels)
    return path, labels, time.perf_counter() - started


# --------------------------------------------------------------------------- the tools (child side)
_WORD = re.compile(r"\w+")


def _ids(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["id"] for line in fh]


def _by_id(path: Path, family: dict[str, Any]) -> np.ndarray:
    """One label per document of ``path`` (in its order) from ``family`` (id -> family name); a document
    the tool did not name is its own family."""
    names: dict[Any, int] = {}
    out = []
    for i, doc in enumerate(_ids(path)):
        f = family.get(doc)
        out.append(
            names.setdefault(("f", f), len(names))
            if f is not None
            else names.setdefault(("d", i), len(names))
        )
    return np.asarray(out, dtype=np.int64)


def run_copytrace(path: Path, work: Path) -> np.ndarray:
    import pyarrow.parquet as pq

    out = work / "out"
    subprocess.run(
        [
            str(Path(sys.executable).with_name("copytrace")),
            "cluster",
            str(path),
            "--out",
            str(out),
            "--progress",
            "none",
        ],
        check=True,
    )
    # one file read as one (pq.read_table would import pyarrow's dataset module: half a second of this run)
    with pq.ParquetFile(out / "clusters.parquet") as clusters:
        rows = clusters.read(columns=["id", "cluster"]).to_pylist()
    return _by_id(path, {r["id"]: r["cluster"] for r in rows})


def run_datasketch(path: Path, work: Path, threshold: float = 0.7, num_perm: int = 128) -> np.ndarray:
    """Each document's MinHash queried against those before it, then inserted; a candidate pair joins the
    two families (a plain union-find: copytrace's own would charge this run for loading its kernels)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    parent: list[int] = []

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            words = _WORD.findall(json.loads(line)["text"].lower())
            shingles = {" ".join(words[j : j + 5]).encode() for j in range(max(1, len(words) - 4))}
            m = MinHash(num_perm=num_perm)
            m.update_batch(list(shingles))
            parent.append(i)
            for other in lsh.query(m):
                x, y = root(i), root(int(other))
                if x != y:
                    parent[max(x, y)] = min(x, y)
            lsh.insert(str(i), m)
    return np.array([root(i) for i in range(len(parent))], dtype=np.int64)


def run_datatrove(path: Path, work: Path) -> np.ndarray:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.typeshelper import Languages

    config = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8)
    s = str(work / "minhash")
    logs = str(work / "logs")

    def reader() -> Any:
        return JsonlReader(str(path.parent), glob_pattern=path.name, id_key="id")

    stage1 = LocalPipelineExecutor(
        pipeline=[
            reader(),
            MinhashDedupSignature(output_folder=f"{s}/signatures", config=config, language=Languages.english),
        ],
        tasks=1,
        workers=1,
        logging_dir=f"{logs}/signatures",
    )
    stage2 = LocalPipelineExecutor(
        pipeline=[
            MinhashDedupBuckets(input_folder=f"{s}/signatures", output_folder=f"{s}/buckets", config=config)
        ],
        tasks=config.num_buckets,
        workers=1,
        logging_dir=f"{logs}/buckets",
        depends=stage1,
    )
    stage3 = LocalPipelineExecutor(
        pipeline=[
            MinhashDedupCluster(
                input_folder=f"{s}/buckets",
                output_folder=f"{s}/remove_ids",
                config=config,
                save_cluster_id=True,
            )
        ],
        tasks=1,
        workers=1,
        logging_dir=f"{logs}/clusters",
        depends=stage2,
    )
    stage4 = LocalPipelineExecutor(
        pipeline=[
            reader(),
            MinhashDedupFilter(
                input_folder=f"{s}/remove_ids",
                exclusion_writer=JsonlWriter(f"{s}/removed", compression=None),
                load_cluster_ids=True,
            ),
            JsonlWriter(f"{s}/output", compression=None),
        ],
        tasks=1,
        workers=1,
        logging_dir=f"{logs}/filter",
        depends=stage3,
    )
    stage4.run()
    family: dict[str, Any] = {}
    for folder in (f"{s}/output", f"{s}/removed"):
        for file in Path(folder).glob("*.jsonl"):
            with open(file, encoding="utf-8") as fh:
                for line in fh:
                    doc = json.loads(line)
                    cid = doc.get("metadata", {}).get("minhash_cluster_id")
                    if cid is not None and cid != -1:
                        family[doc["id"]] = cid
    return _by_id(path, family)


def run_text_dedup(path: Path, work: Path) -> np.ndarray:
    """``python -m text_dedup.minhash`` on the file; its union-find (``--debug`` saves it as ``uf.pkl``,
    over the documents' positions) gives each document's family."""
    import pickle

    out = work / "out"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "text_dedup.minhash",
            "--path",
            "json",
            "--data_files",
            str(path),
            "--split",
            "train",
            "--column",
            "text",
            "--output",
            str(out),
            "--cache_dir",
            str(work / "cache"),
            "--debug",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(out / "uf.pkl", "rb") as fh:
        uf = pickle.load(fh)  # the file text-dedup wrote just now
    return _by_id(path, {doc: uf.find(i) for i, doc in enumerate(_ids(path))})


RUNNERS = {
    "copytrace": run_copytrace,
    "datasketch": run_datasketch,
    "datatrove": run_datatrove,
    "text-dedup": run_text_dedup,
}


# ---------------------------------------------------------------------------------- the parent side
def _pss(pid: int) -> int | None:
    """The proportional set size of ``pid`` in bytes (a page shared by n processes counts 1/n in each)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
            for line in fh:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _tree_memory(root: int) -> tuple[int, int]:
    """Resident bytes of ``root`` and every process below it, summed (a page that forked processes share
    counts once in each), and their proportional set sizes summed (once in all; the resident size where
    the kernel gives no PSS), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * page
    total, proportional, todo = 0, 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        pss = _pss(pid)
        proportional += rss.get(pid, 0) if pss is None else pss
        todo.extend(children.get(pid, ()))
    return total, proportional


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def measure(tool: str, path: Path, python: str, timeout: float) -> dict[str, Any]:
    """Run ``tool`` on ``path`` in a child process; its seconds, CPU seconds (of the processes it waited
    for: a Ray daemon left to its keeper is not counted), peak memory and labels (or its error)."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-cluster-{tool}-"))
    labels = work / "labels.npy"
    command = [python, os.path.abspath(__file__), "--child", tool, "--input", str(path), "--work", str(work)]
    cpu = _children_cpu()
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss = _tree_memory(child.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        output, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        output, _ = child.communicate()
        output += f"\n(stopped after {timeout:.0f} s)"
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    done.set()
    sampler.join()
    result: dict[str, Any] = {
        "tool": tool,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_bytes": peak[1],
        "peak_rss_bytes": peak[0],
    }
    if child.returncode == 0 and labels.exists():
        result["labels"] = np.load(labels)
    else:
        result["error"] = (output or "").strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
    shutil.rmtree(work, ignore_errors=True)
    return result


def child(tool: str, path: Path, work: Path) -> int:
    labels = RUNNERS[tool](path, work)
    np.save(work / "labels.npy", labels)
    return 0


def _ratios(walls: dict[str, list[float]]) -> None:
    """copytrace's wall time over each other tool's, round by round (they ran one after the other)."""
    ours = walls.get("copytrace", [])
    for tool, theirs in walls.items():
        pairs = [a / b for a, b in zip(ours, theirs, strict=False) if b] if tool != "copytrace" else []
        if len(pairs) > 1:
            each = ", ".join(f"{x:.2f}" for x in pairs)
            print(f"copytrace / {tool} wall time: {each}; median {statistics.median(pairs):.2f}")
        elif pairs:
            print(f"copytrace / {tool} wall time: {pairs[0]:.2f}")


def _medians(points: list[tuple[int, float, int]]) -> list[tuple[int, float, int]]:
    """One point per size (the median time and memory of its rounds), by size."""
    sizes = sorted({n for n, _, _ in points})
    return [
        (
            n,
            statistics.median(t for m, t, _ in points if m == n),
            int(statistics.median(b for m, _, b in points if m == n)),
        )
        for n in sizes
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, action="append", help="corpus size (repeat for several)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, of {', '.join(TOOLS)}")
    parser.add_argument(
        "--peer-python", default=sys.executable, help="the Python of datatrove and text-dedup"
    )
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a tool may take at one size")
    parser.add_argument("--extrapolate", type=int, default=1_000_000, help="documents to extrapolate to")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds at each size, each running every tool in turn (on a shared machine compare the tools "
        "within a round: the ratios, and their median, are printed)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.input, args.work)
    from copytrace.batch.cluster_corpus import pair_scores

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tool(s) {unknown}: choose from {TOOLS}")
    sizes = args.docs or [2000]
    seen: dict[str, list[tuple[int, float, int]]] = {t: [] for t in tools}
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        for size in sizes:
            path, truth, made = write_corpus(root / str(size), size, args.seed, args.data)
            mb = path.stat().st_size / 1e6
            in_families = int((np.bincount(truth)[truth] > 1).sum())
            print(
                f"\ncorpus: {len(truth):,} documents ({mb:,.1f} MB), {in_families:,} in families, "
                f"made in {made:.1f} s; {os.cpu_count()} CPUs"
            )
            print(
                "| tool | wall s | CPU s | peak memory MB (PSS) | peak RSS sum MB | ARI | pair precision "
                "| pair recall |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            walls: dict[str, list[float]] = {t: [] for t in tools}
            for _ in range(args.repeat):
                for tool in tools:
                    python = args.peer_python if tool in PEERS else sys.executable
                    r = measure(tool, path, python, args.timeout)
                    if "error" in r:
                        print(
                            f"| {tool} | failed after {r['seconds']:.1f} s: {r['error'][0][:150]} "
                            "| | | | | | |",
                            flush=True,
                        )
                        continue
                    s = pair_scores(truth.tolist(), r["labels"].tolist())
                    walls[tool].append(r["seconds"])
                    seen[tool].append((len(truth), r["seconds"], r["peak_bytes"]))
                    print(
                        f"| {tool} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} "
                        f"| {r['peak_bytes'] / 1e6:,.0f} | {r['peak_rss_bytes'] / 1e6:,.0f} "
                        f"| {s['ari']:.4f} | {s['precision']:.4f} "
                        f"| {s['recall']:.4f} |",
                        flush=True,
                    )
            _ratios(walls)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if len(set(sizes)) >= 2:
        n = args.extrapolate
        print(f"\nextrapolated linearly to {n:,} documents from the two largest sizes measured:")
        for tool, points in seen.items():
            if len(points) < 2:
                print(f"- {tool}: measured at fewer than two sizes")
                continue
            (n1, t1, m1), (n2, t2, m2) = _medians(points)[-2:]
            t = t1 + (t2 - t1) * (n - n1) / (n2 - n1)
            m = m1 + (m2 - m1) * (n - n1) / (n2 - n1)
            print(f"- {tool}: {t:,.0f} s ({t / 60:,.1f} min), peak memory {m / 1e9:,.1f} GB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
