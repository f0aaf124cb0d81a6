"""Scan benchmark: ``copytrace scan`` on local Ray beside a plain multiprocessing pool and one core, one run.

A bank of ``--bank-items`` distinct documents (100-300 words from a word-bigram chain trained on the
inaugural addresses; ``bench_core.Bigrams``) is stored once in ``--work`` and reused.  The corpus is
``--docs`` documents of about 1 KB of real text of the other corpora (State of the Union addresses, the
UDHR) in JSON Lines files of 10,000; 1% of them carry a 40-word
excerpt of a banked item (``bench_core.excerpt_in_host``).  A further file of 10,000 documents with no
excerpt measures documents that match nothing.

Rows, all over the same corpus and the same bank, in one run:

- ``copytrace scan`` (a subprocess, local Ray, one actor per core): documents/s over its scanning time
  (Ray started, index pinned) and over its whole wall time;
- a ``multiprocessing`` pool of one process per core, each loading the index (mapped) and calling
  ``Index.match`` on each document of a file, as a user would write it;
- one in-process core running the scan's own step (``scan_block``: read, fingerprint and match in
  batches) over the blocks.

Memory: while the scan runs, the resident pages of every scan worker are sampled (``/proc/PID/smaps``):
pages of the mapped index (proportional share, so pages shared by workers count once) and everything else;
"one index" is the same file's resident pages in one process that loaded it and matched a block.

    python benchmarks/bench_scan.py [--docs 1000000] [--bank-items 100000] [--work /tmp/bench-scan]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench_core import Bigrams, corpus, excerpt_in_host

import copytrace
from copytrace.batch.inputs import expand, plan
from copytrace.batch.scan import ScanSettings, scan_block
from copytrace.index import Index
from copytrace.store import ItemRecord, Store
from copytrace.text.textio import read_text_file

BANK = "generated"
PER_FILE = 10_000


def build_store(db: Path, n: int, chain: Bigrams, seed: int) -> list[str]:
    """The store with ``n`` generated items (reused when present); returns every item's text."""
    rng = random.Random(seed)
    texts = [chain.document(rng, rng.randrange(100, 301)) for _ in range(n)]
    store = Store(str(db), create=True)
    try:
        if BANK in store.bank_params() and store.bank(BANK).n_items == n:
            return texts
        if BANK in store.bank_params():
            store.delete_bank(BANK)
        store.create_bank(BANK, copytrace.DEFAULT_PARAMS)
        started = time.perf_counter()
        for at in range(0, n, 20_000):
            chunk = texts[at : at + 20_000]
            records = [ItemRecord(f"g{at + i:07d}", copytrace.fingerprint(t), t) for i, t in enumerate(chunk)]
            store.add_items(BANK, records)
            print(f"  stored {at + len(chunk):,} items", file=sys.stderr, flush=True)
        print(f"  bank built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    finally:
        store.close()
    return texts


def build_corpus(folder: Path, n: int, items: list[str], hosts: list[str], seed: int) -> None:
    """``n`` documents in files of ``PER_FILE``; 1% with an excerpt of a banked item; plus ``nomatch/``."""
    marker = folder / f"complete-{n}"
    if marker.exists():
        return
    rng = random.Random(seed)
    words = [t.split() for t in hosts if len(t.split()) > 400]

    def host() -> str:
        w = rng.choice(words)
        start = rng.randrange(0, len(w) - 200)
        return " ".join(w[start : start + 200])[:1024]

    (folder / "corpus").mkdir(parents=True, exist_ok=True)
    (folder / "nomatch").mkdir(parents=True, exist_ok=True)
    for f in range(0, n, PER_FILE):
        lines = []
        for i in range(f, min(n, f + PER_FILE)):
            text = excerpt_in_host(rng.choice(items), hosts, rng) if i % 100 == 0 else host()
            lines.append(json.dumps({"id": f"d{i:08d}", "text": text}))
        (folder / "corpus" / f"part-{f // PER_FILE:05d}.jsonl").write_text("\n".join(lines) + "\n")
    lines = [json.dumps({"id": f"n{i:06d}", "text": host()}) for i in range(PER_FILE)]
    (folder / "nomatch" / "part-00000.jsonl").write_text("\n".join(lines) + "\n")
    marker.touch()


def smaps(pid: int, name: str) -> tuple[int, int]:
    """(proportional resident bytes of mappings of ``name``, of everything else) of one process."""
    mine = other = 0
    current = ""
    try:
        with open(f"/proc/{pid}/smaps") as fh:
            for line in fh:
                head = line.split(None, 1)[0]
                if not head.endswith(":") or head[0].isdigit() or "-" in head:
                    current = line.rsplit(None, 1)[-1] if len(line.split()) >= 6 else ""
                elif head == "Pss:":
                    kb = int(line.split()[1]) * 1024
                    if current.endswith(name):
                        mine += kb
                    else:
                        other += kb
    except OSError:
        pass
    return mine, other


def scan_workers(session: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if os.getsid(int(p.name)) == session and b"ScanStep" in (p / "cmdline").read_bytes():
                out.append(int(p.name))
        except OSError:
            continue
    return out


def run_scan(work: Path, env: dict[str, str], inputs: list[Path], out: Path) -> dict[str, object]:
    cmd = [sys.executable, "-m", "copytrace.cli.main", "scan", *map(str, inputs), "--out", str(out)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peak = {"index": 0, "other": 0, "workers": 0}

    def sample() -> None:
        while proc.poll() is None:
            pids = scan_workers(proc.pid)
            if pids:
                parts = [smaps(pid, "index.ctidx") for pid in pids]
                index, other = sum(p[0] for p in parts), sum(p[1] for p in parts)
                if index + other > peak["index"] + peak["other"]:
                    peak.update(index=index, other=other, workers=len(pids))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scan failed ({proc.returncode}): {err}")
    summary = json.loads((out / "summary.json").read_text())
    return {"wall": wall, "summary": summary, "memory": peak}


TWO_NODES = """
import json, logging, sys
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from copytrace.batch.scan import ScanSettings, run_scan
from copytrace.store import Store

inputs, out, db = sys.argv[1].split(","), Path(sys.argv[2]), sys.argv[3]
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.ERROR)
store = Store(db)
result = run_scan(inputs, out, store=store, settings=ScanSettings(banks=("generated",)), key=None)
nodes = {}
for marker in (out / "done").glob("*.json"):
    node = json.loads(marker.read_text())["node"]
    nodes[node] = nodes.get(node, 0) + 1
print(json.dumps({"summary": result.summary, "blocks_per_node": sorted(nodes.values())}))
store.close()
ray.shutdown()
cluster.shutdown()
"""


def two_nodes(files: list[Path], db: Path, out: Path, env: dict[str, str]) -> dict[str, object]:
    """A scan of ``files`` on a two-node local Ray (two raylets of one CPU, ``ray.cluster_utils``)."""
    subprocess.run(["rm", "-rf", str(out)], check=True)
    proc = subprocess.run(
        [sys.executable, "-c", TWO_NODES, ",".join(map(str, files)), str(out), str(db)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise SystemExit(f"two-node scan failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rows_of(out: Path, files: set[str] | None = None) -> list[tuple[str, str, str]]:
    import pyarrow.parquet as pq

    table = pq.read_table(out / "matches.parquet", columns=["query", "item_id", "source"]).to_pylist()
    return sorted(
        (r["query"], r["item_id"], r["source"]["file"])
        for r in table
        if files is None or r["source"]["file"] in files
    )


def _pool_file(args: tuple[str, str]) -> tuple[int, int]:
    """One file matched document by document with ``Index.match`` (the pool's task)."""
    path, index_path = args
    index = _pool_index(index_path)
    docs = matched = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            docs += 1
            matched += bool(index.match(rec["text"], query=rec["id"]))
    return docs, matched


_INDEX: dict[str, Index] = {}


def _pool_index(path: str) -> Index:
    if path not in _INDEX:
        _INDEX[path] = Index.load(path)
    return _INDEX[path]


def run_pool(files: list[Path], index_path: Path, processes: int) -> tuple[float, int, int]:
    started = time.perf_counter()
    with multiprocessing.get_context("forkserver").Pool(processes) as pool:
        results = pool.map(_pool_file, [(str(f), str(index_path)) for f in files], chunksize=1)
    return time.perf_counter() - started, sum(r[0] for r in results), sum(r[1] for r in results)


def one_core(index: Index, inputs: list[Path]) -> tuple[float, int, int]:
    settings = ScanSettings(banks=(BANK,))
    started = time.perf_counter()
    docs = matched = 0
    for block in plan(expand([str(p) for p in inputs])):
        _, stats = scan_block(index, block, settings)
        docs += stats["documents"]
        matched += stats["matched_documents"]
    return time.perf_counter() - started, docs, matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--bank-items", type=int, default=100_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-scan"))
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    texts = corpus(args.data)
    # banked items from a chain trained on the inaugural addresses, hosts from the other corpora: a
    # document without a planted excerpt shares no passage with the bank
    inaugural = [read_text_file(p).text for p in sorted((args.data / "corpora" / "inaugural").glob("*.txt"))]
    hosts = [t for t in texts if t not in set(inaugural)]
    chain = Bigrams(inaugural)
    db = work / f"bank-{args.bank_items}.db"
    print(f"bank: {args.bank_items:,} items in {db}", file=sys.stderr)
    items = build_store(db, args.bank_items, chain, seed=7)
    data = work / f"docs-{args.docs}"
    print(f"corpus: {args.docs:,} documents in {data}", file=sys.stderr)
    build_corpus(data, args.docs, items, hosts, seed=11)
    files = sorted((data / "corpus").glob("*.jsonl"))
    env = {
        **os.environ,
        "COPYTRACE_DB": str(db),
        "COPYTRACE_CACHE": str(work / "cache"),
        "PYTHONWARNINGS": "ignore",
    }

    out = work / "scan-out"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    print("copytrace scan on local Ray ...", file=sys.stderr)
    scan = run_scan(work, env, [data / "corpus"], out)
    s = scan["summary"]
    index_path = out / "index.ctidx"
    index = Index.load(index_path)
    print("one core ...", file=sys.stderr)
    sample = files[: max(1, len(files) // 10)]  # a tenth of the corpus, at the same mix
    one_core(index, [data / "nomatch"])  # warm: the compiled kernels loaded from Numba's cache
    core_s, core_docs, _ = one_core(index, sample)
    nomatch_s, nomatch_docs, nomatch_matched = one_core(index, [data / "nomatch"])
    one_index = smaps(os.getpid(), "index.ctidx")[0]
    print(f"multiprocessing pool of {args.cores} over Index.match ...", file=sys.stderr)
    pool_s, pool_docs, pool_matched = run_pool(files, index_path, args.cores)

    print("two-node local Ray, on a tenth of the corpus ...", file=sys.stderr)
    tenth = files[: max(2, len(files) // 10)]
    pair = two_nodes(tenth, db, work / "scan-two-nodes", env)
    same = rows_of(work / "scan-two-nodes") == rows_of(out, {str(f) for f in tenth})

    ray_rate = s["documents"] / s["scan_seconds"]
    ray_wall_rate = s["documents"] / scan["wall"]
    core_rate = core_docs / core_s
    pool_rate = pool_docs / pool_s
    mem = scan["memory"]
    rows = [
        ("copytrace scan, local Ray (scanning)", ray_rate, f"{s['scan_seconds']:.1f} s"),
        ("copytrace scan, local Ray (whole command)", ray_wall_rate, f"{scan['wall']:.1f} s"),
        (f"multiprocessing pool of {args.cores}, Index.match", pool_rate, f"{pool_s:.1f} s"),
        ("one core, scan step in process", core_rate, f"{core_s:.1f} s ({core_docs:,} documents)"),
        ("one core, documents matching nothing", nomatch_docs / nomatch_s, f"{nomatch_s:.1f} s"),
    ]
    print(
        f"\n{s['documents']:,} documents ({s['bytes'] / 1e9:.2f} GB) against {len(index):,} banked items; "
        f"{args.cores} cores; {s['matched_documents']:,} documents matched (pool: {pool_matched:,})\n"
    )
    print("| run | documents/s | × one core | time |")
    print("|---|---:|---:|---|")
    for name, rate, t in rows:
        print(f"| {name} | {rate:,.0f} | {rate / core_rate:.2f} | {t} |")
    print()
    print("| goal | measured | |")
    print("|---|---:|---|")
    eff = ray_rate / (args.cores * core_rate)
    print(
        f"| local Ray ≥ 1.7× one core (efficiency ≥ 85% on 2 cores) | {ray_rate / core_rate:.2f}× "
        f"({eff:.0%}) | {'met' if eff >= 0.85 else 'missed'} |"
    )
    print(
        f"| local Ray no slower than the plain pool | {ray_rate / pool_rate:.2f}× the pool | "
        f"{'met' if ray_rate >= pool_rate else 'missed'} |"
    )
    print(
        f"| ≥ 20,000 documents/s per core matching nothing | {nomatch_docs / nomatch_s:,.0f} "
        f"(scan: {ray_rate / args.cores:,.0f} per core, 99% matching nothing) | "
        f"{'met' if nomatch_docs / nomatch_s >= 20000 else 'missed'} |"
    )
    total = mem["index"] + mem["other"]
    print(
        f"| workers' memory ≤ 1.5× one index | index pages in all {mem['workers']} workers "
        f"{mem['index'] / 2**20:,.0f} MiB = {mem['index'] / max(one_index, 1):.2f}× one process's "
        f"{one_index / 2**20:,.0f} MiB; all workers' memory {total / 2**20:,.0f} MiB "
        f"(Python, Ray and NumPy/Numba: {mem['other'] / 2**20:,.0f} MiB) | |"
    )
    ps = pair["summary"]
    print(
        f"| two-node local Ray, {ps['documents']:,} documents | blocks per node {pair['blocks_per_node']}, "
        f"{ps['documents_per_second']:,.0f} documents/s | answers {'identical' if same else 'DIFFER'} |"
    )
    print(
        f"\nnomatch file: {nomatch_matched} of {nomatch_docs:,} matched; scan summary: "
        f"{json.dumps({k: s[k] for k in ('blocks', 'matches', 'bad_records', 'ray')})}"
    )


if __name__ == "__main__":
    main()
