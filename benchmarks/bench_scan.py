"""Scan benchmark: ``copytrace scan`` beside one core running the same work in process, in one run.

A bank of ``--bank-items`` distinct documents (100-300 words from a word-bigram chain trained on the
inaugural addresses; ``bench_core.Bigrams``) is stored once in ``--work`` and reused.  The corpus is
``--docs`` documents of about 1 KB of real text of the other corpora (State of the Union addresses, the
UDHR) in JSON Lines files of 10,000; ``--match-share`` of them (1% by default) carry a 40-word excerpt of a
banked item, so spans and item texts are on the path.  A further file of 10,000 documents with no excerpt
measures documents that match nothing.

Rows, all over the same documents and the same pinned index (``DIR/index.ctidx`` of the scan):

- one core in process, ``Index.match_many``: the documents read from their JSON lines and matched 512 at a
  time, the index opened as a scan opens it (item texts from the store, so the answers are the scan's);
- one core in process, the scan's own step (``ScanStep.scan``: the same, plus the block's Parquet part), on
  the documents matching nothing;
- ``copytrace scan`` (a subprocess; the local executor, one worker per core; then ``--workers 1``; then
  ``--executor ray``, a private Ray, unless ``--no-ray``): documents/s over its scanning time (workers
  ready, first block to last) and over its whole wall time (Python's start to exit), and its start-up
  before the first block (engine, workers, index: the wall time less scanning and the final gathering).

The corpus is read once before any row, so that every row reads it from the page cache.  The one-core
rows run over every document of the corpus (a worker's caches of item texts and their tokens
warm up over its documents: a sample would run colder than the scan), each from a step opened anew, as each
worker of the scan starts.  ``--no-workers-1`` leaves out the one-worker scan (the largest runs).  Then the
goals, met or missed, and what a 16- or 64-core node would do, from ``--workers 1`` and ``--workers 2`` and
the parts that do not shrink with more workers.

    python benchmarks/bench_scan.py [--docs 200000] [--bank-items 50000] [--match-share 0.01]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench_core import Bigrams, corpus

import copytrace
from copytrace.banks import Store
from copytrace.batch.inputs import expand, plan
from copytrace.batch.readers import BlockReading, Doc, read_block
from copytrace.batch.scan_step import CHUNK, WARM_TEXT, ScanSettings, ScanStep
from copytrace.batch.shared_index import SharedIndex
from copytrace.index import Index
from copytrace.store import ItemRecord
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


def build_corpus(folder: Path, n: int, items: list[str], hosts: list[str], seed: int, share: float) -> None:
    """``n`` documents in files of ``PER_FILE``, ``share`` of them with an excerpt of a banked item; plus
    ``nomatch/``, a file of documents with none."""
    marker = folder / "complete"
    if marker.exists():
        return
    rng = random.Random(seed)
    words = [t.split() for t in hosts if len(t.split()) > 400]

    def host() -> str:
        w = rng.choice(words)
        start = rng.randrange(0, len(w) - 200)
        return " ".join(w[start : start + 200])[:1024]

    def with_excerpt(item: str) -> str:  # bench_core.excerpt_in_host, with the hosts split once
        text, piece = host(), item.split()
        at = rng.randrange(0, max(1, len(piece) - 40 + 1))
        excerpt = " ".join(piece[at : at + 40])
        cut = rng.randrange(len(text) // 4, len(text) // 2)
        return (text[:cut] + " " + excerpt + " " + text[cut:])[: max(1024, len(excerpt) + 2)]

    every = max(1, round(1 / share)) if share > 0 else 0
    (folder / "corpus").mkdir(parents=True, exist_ok=True)
    (folder / "nomatch").mkdir(parents=True, exist_ok=True)
    for f in range(0, n, PER_FILE):
        lines = []
        for i in range(f, min(n, f + PER_FILE)):
            text = with_excerpt(rng.choice(items)) if every and i % every == 0 else host()
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


def scan_workers(driver: int) -> list[int]:
    """The local executor's workers: the children of the scan's process."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_bytes()
        except OSError:
            continue
        if int(stat[stat.rfind(b")") + 2 :].split()[1]) == driver:
            out.append(int(p.name))
    return out


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far (``/proc/PID/stat``), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_scan(env: dict[str, str], inputs: list[Path], out: Path, *extra: str) -> dict[str, object]:
    """``copytrace scan`` in a subprocess: its summary, wall time, the driver's CPU and the workers' peak
    memory (sampled every half second)."""
    subprocess.run(["rm", "-rf", str(out)], check=True)
    cmd = [sys.executable, "-m", "copytrace.cli.main", "scan", *map(str, inputs), "--out", str(out), *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peak = {"index": 0, "other": 0, "workers": 0}
    driver_cpu = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            driver_cpu[0] = max(driver_cpu[0], cpu_seconds(proc.pid))
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
    return {"wall": wall, "summary": summary, "memory": peak, "driver_cpu": driver_cpu[0], "stderr": err}


def rows_of(out: Path) -> list[tuple[str, str, str, int]]:
    import pyarrow.parquet as pq

    table = pq.read_table(out / "matches.parquet", columns=["query", "item_id", "source"]).to_pylist()
    return sorted((r["query"], r["item_id"], r["source"]["file"], r["source"]["row"]) for r in table)


def one_core_match_many(index: Index, inputs: list[Path], settings: ScanSettings) -> tuple[float, int, int]:
    """The documents of ``inputs`` read and matched with ``Index.match_many``, 512 at a time, here."""
    started = time.perf_counter()
    docs = matched = 0
    for block in plan(expand([str(p) for p in inputs])):
        batch: list[Doc] = []
        for rec in [*read_block(block, settings.columns, BlockReading()), None]:
            if isinstance(rec, Doc):
                batch.append(rec)
            if batch and (len(batch) >= CHUNK or rec is None):
                answers = index.match_many(
                    [d.text for d in batch], banks=settings.banks, queries=[d.id for d in batch]
                )
                docs += len(batch)
                matched += sum(bool(a) for a in answers)
                batch.clear()
    return time.perf_counter() - started, docs, matched


def one_core_step(step: ScanStep, inputs: list[Path]) -> tuple[float, int, int]:
    """The scan's own step over the blocks of ``inputs``, here (its parts kept in memory, not written)."""
    started = time.perf_counter()
    docs = matched = 0
    for block in plan(expand([str(p) for p in inputs])):
        stats = json.loads(step.scan(block)["stats"])
        docs += stats["documents"]
        matched += stats["matched_documents"]
    return time.perf_counter() - started, docs, matched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--bank-items", type=int, default=50_000)
    ap.add_argument("--match-share", type=float, default=0.01, help="documents with a banked excerpt")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench-scan"))
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-ray", action="store_true", help="leave out the row of a scan on a private Ray")
    ap.add_argument(
        "--no-workers-1",
        action="store_true",
        help="leave out the scan with one worker (scaling is then counted from one core in process)",
    )
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
    data = work / f"docs-{args.docs}-{args.match_share:g}"
    print(f"corpus: {args.docs:,} documents in {data}", file=sys.stderr)
    build_corpus(data, args.docs, items, hosts, seed=11, share=args.match_share)
    files = sorted((data / "corpus").glob("*.jsonl"))
    env = {
        **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        "COPYTRACE_DB": str(db),
        "COPYTRACE_CACHE": str(work / "cache"),
        "PYTHONWARNINGS": "ignore",
    }
    inputs = [data / "corpus"]
    # every row reads the corpus from the page cache: the first to run would otherwise pay the disk alone
    # (a 1.46 GB corpus read cold halved the first scan's rate on this machine)
    for path in [*files, *sorted((data / "nomatch").glob("*.jsonl"))]:
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    print(f"copytrace scan, {args.cores} workers ...", file=sys.stderr)
    scan = run_scan(env, inputs, work / "scan-out", "--progress", "none")
    scan1 = None
    if not args.no_workers_1:
        print("copytrace scan --workers 1 ...", file=sys.stderr)
        scan1 = run_scan(env, inputs, work / "scan-out-1", "--workers", "1", "--progress", "none")
    on_ray = None
    if not args.no_ray:
        print("copytrace scan --executor ray ...", file=sys.stderr)
        on_ray = run_scan(env, inputs, work / "scan-out-ray", "--executor", "ray", "--progress", "none")

    index_path = work / "scan-out" / "index.ctidx"
    store = Store(str(db))
    settings = ScanSettings(banks=(BANK,))

    def fresh() -> ScanStep:
        """A step as a worker starts it: the index opened anew, no item text or token read yet."""
        shared = SharedIndex(str(index_path), "", index_path.stat().st_size, "")
        step = ScanStep(shared, settings, None, store.url)
        step.warm()
        return step

    # every document, as the scan: a worker's caches (item texts, their tokens) warm up over its documents,
    # so a sample of the corpus would run colder than the scan and flatter it
    print(f"one core in process, all {len(files)} files ...", file=sys.stderr)
    mm_s, mm_docs, mm_matched = one_core_match_many(fresh().index, [data / "corpus"], settings)
    nm_s, nm_docs, nm_matched = one_core_match_many(fresh().index, [data / "nomatch"], settings)
    nm_step_s, _, _ = one_core_step(fresh(), [data / "nomatch"])
    bare = Index.load(index_path)  # no item texts: no quote pass (the answers of a fingerprint-only bank)
    bare.match_many([WARM_TEXT], banks=settings.banks)
    nm_bare_s, _, _ = one_core_match_many(bare, [data / "nomatch"], settings)
    one_index = smaps(os.getpid(), "index.ctidx")[0]

    s = scan["summary"]
    docs = s["documents"]
    core = mm_rate = mm_docs / mm_s
    same = [rows_of(work / "scan-out-1") == rows_of(work / "scan-out")] if scan1 is not None else []
    if on_ray is not None:
        same.append(rows_of(work / "scan-out-ray") == rows_of(work / "scan-out"))

    def parts(run: dict[str, object]) -> dict[str, float]:
        sm = run["summary"]
        wall = float(run["wall"])  # type: ignore[arg-type]
        scanning = float(sm["scan_seconds"])  # type: ignore[index]
        finish = float(sm.get("finish_seconds") or 0.0)  # type: ignore[union-attr]
        return {
            "wall": wall,
            "scan": scanning,
            "before": wall - scanning - finish,
            "finish": finish,
            "prepare": float(sm["prepare_seconds"]),  # type: ignore[index]
            "engine": float(sm["start_seconds"]),  # type: ignore[index]
        }

    print(
        f"\n{docs:,} documents ({s['bytes'] / 1e9:.2f} GB), {s['matched_documents']:,} matched "
        f"({s['matched_documents'] / docs:.1%}); {s['bank_items']:,} banked items; {args.cores} cores; "
        f"one core measured on {mm_docs:,} documents ({mm_matched:,} matched)\n"
    )
    print("| run | documents/s | × one core | time |")
    print("|---|---:|---:|---|")
    rows: list[tuple[str, float, str]] = [
        ("one core in process, `Index.match_many`", mm_rate, f"{mm_s:.1f} s"),
    ]
    runs = [(f"`copytrace scan` ({args.cores} workers)", scan)]
    if scan1 is not None:
        runs.append(("`copytrace scan --workers 1`", scan1))
    if on_ray is not None:
        runs.append(("`copytrace scan --executor ray` (private Ray)", on_ray))
    for name, run in runs:
        p = parts(run)
        rows.append((f"{name}, scanning", docs / p["scan"], f"{p['scan']:.1f} s"))
        rows.append(
            (
                f"{name}, whole command",
                docs / p["wall"],
                f"{p['wall']:.1f} s (before the first block {p['before']:.1f} s: planning and pinning "
                f"the index {p['prepare']:.1f} s, the engine {p['engine']:.1f} s, Python and imports "
                f"{p['before'] - p['prepare'] - p['engine']:.1f} s; gathering {p['finish']:.1f} s)",
            )
        )
    rows.append(("one core, 1 KB documents matching nothing (`match_many`)", nm_docs / nm_s, f"{nm_s:.1f} s"))
    rows.append(("one core, 1 KB documents matching nothing (scan's step)", nm_docs / nm_step_s, ""))
    rows.append(
        (
            "one core, 1 KB documents matching nothing (`match_many`, no item texts: no quote pass)",
            nm_docs / nm_bare_s,
            f"{nm_bare_s:.1f} s",
        )
    )
    for name, rate, t in rows:
        print(f"| {name} | {rate:,.0f} | {rate / core:.2f} | {t} |")

    p2 = parts(scan)
    r2 = docs / p2["scan"]
    r1 = docs / parts(scan1)["scan"] if scan1 is not None else mm_rate
    print()
    print("| goal | measured | |")
    print("|---|---:|---|")
    goals = [
        ("scanning ≥ 1.8× one core", f"{r2 / core:.2f}×", r2 / core >= 1.8),
        (
            "whole command ≥ 1.4× one core",
            f"{docs / p2['wall'] / core:.2f}×",
            docs / p2["wall"] / core >= 1.4,
        ),
        ("start-up ≤ 3 s before the first block", f"{p2['before']:.1f} s", p2["before"] <= 3.0),
        (
            "one core ≥ 30,000 docs/s on 1 KB documents matching nothing",
            f"{nm_docs / nm_s:,.0f} ({nm_matched} of {nm_docs:,} matched)",
            nm_docs / nm_s >= 30_000,
        ),
        ("answers identical (2 workers, 1 worker, Ray: those run)", "yes" if all(same) else "NO", all(same)),
    ]
    for name, value, met in goals:
        print(f"| {name} | {value} | {'met' if met else 'missed'} |")

    fixed = p2["before"] + p2["finish"]
    efficiency = r2 / (2 * r1)
    print(
        f"\nScaling: one {'worker' if scan1 is not None else 'core in process'} scans {r1:,.0f} docs/s, two "
        f"workers {r2:,.0f} ({efficiency:.0%} of twice one). "
        f"Start-up and gathering ({fixed:.1f} s here) do not shrink with more workers."
    )
    for cores in (16, 64):
        rate = cores * r1 * efficiency
        print(
            f"- {cores} cores, if each worker keeps the 2-worker efficiency: about {rate:,.0f} docs/s "
            f"scanning; these {docs:,} documents in {fixed + docs / rate:.1f} s, of which "
            f"{fixed:.1f} s fixed; a corpus scans at least 90% of the time from "
            f"{9 * fixed * rate:,.0f} documents on"
        )
    mem = scan["memory"]
    print(
        f"\nMemory: the index's resident pages in all {mem['workers']} workers "
        f"{mem['index'] / 2**20:,.0f} MiB "
        f"= {mem['index'] / max(one_index, 1):.2f}× one process's {one_index / 2**20:,.0f} MiB; the workers' "
        f"memory besides {mem['other'] / 2**20:,.0f} MiB (proportional share). The driver's CPU: "
        f"{scan['driver_cpu']:.1f} s over the {p2['wall']:.1f} s command."
    )
    store.close()


if __name__ == "__main__":
    main()
