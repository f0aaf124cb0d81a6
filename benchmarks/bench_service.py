"""Service benchmark: a running ``copytrace serve`` over a bank of generated items, measured from outside.

Builds (once; reused on the next run) an SQLite store with ``--items`` distinct 100-300-word documents
generated from the shared corpora by the seeded word-bigram chain of ``bench_core``, starts the server with
``--workers`` processes, and measures:

- start-up: time from starting ``copytrace serve`` until ``/health`` answers 200 on 8 requests per worker
  in a row, each on a new connection (first start builds the index from the store and saves a snapshot; a
  restart loads the snapshot), polled every 0.05 s;
- for a revision that writes a token sidecar beside its snapshot (``live_tokens``: the quote pass's token
  hashes of every snapshot item, written by a worker in the background after start), how long after the
  start from the snapshot it appeared; the rows below wait for it (``--no-sidecar-wait``: they do not,
  and measure the first minute after a new snapshot, while it is written);
- ``match:batch`` lookups per second (batches of 100 one-KB queries, eight client connections: a worker
  serves the connections it accepted, so two would often both land on one worker), over the first
  10 s after start (the matched items' texts come from disk then) and after that;
- single ``/v1/match`` latency at a steady, open-loop 200 requests/s (latency counted from each request's
  scheduled send time, so a stalled server cannot hide its queue);
- time for an item added through the API to become matchable (through whichever worker answers);
- memory of the server's processes (proportional set size: the snapshot the workers share counted once),
  beside that of a one-worker instance, and before and after thousands of additions and removals;
- ``POST /v1/banks/B/items`` latency (linking included: half the items posted are edited copies of banked
  items, so they link to them) at a steady, open-loop ``--post-rate`` while ``--rate`` requests/s of
  ``/v1/match`` run, and the matches' own latency meanwhile; the items posted are removed afterwards.

Each figure is printed beside its goal and, for the lookups, beside the same queries matched in-process by
the library on a 100k-item index built in this run (the ratio is what HTTP, JSON and the service cost).

    python benchmarks/bench_service.py [--items 1000000] [--db /tmp/copytrace-bench.db] [--workers 2]

The run writes to its store (an API key, the items posted and removed): ``--copy-from STORE`` copies a
store built before (kept unchanged, for other runs) to ``--db`` first.  ``--rows`` measures a part only
(``startup``, ``batch``, ``latency``, ``post``, ``fresh``, ``memory``), so that a long run can be taken in
short pieces; ``--src`` runs the server from another revision's ``src`` tree (``git archive REV src``);
``--beside-db`` and ``--beside-items`` measure the start-up, batch and post rows on a second, smaller store
too, printed in a column beside::

    python benchmarks/bench_service.py --items 1000000 --copy-from /tmp/store-1m/store.db \
        --db /tmp/bench-1m.db --rows startup batch post --beside-db /tmp/bench-100k.db --beside-items 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx2
from bench_core import Bigrams, corpus, make_queries

import copytrace
from copytrace.banks import Store
from copytrace.evaluation.versions import versions
from copytrace.store import ItemRecord
from copytrace.store.api_keys import create_key

BANK = "generated"
# The open-loop schedules start this long after they are set: the client first makes a task for each of
# their 4,000 and more requests.  At 0.2 s a loaded client (load average 4) sent the first 25 matches up
# to 160 ms late, all together: a burst the schedule did not ask for, among the first posts.
START_S = 1.0


def build_store(db: str, n: int, chain: Bigrams, seed: int) -> tuple[list[str], float | None]:
    """The store with ``n`` generated items (reused when present); returns a sample of item texts."""
    rng = random.Random(seed)
    store = Store(db)
    sample: list[str] = []
    try:
        if BANK in store.bank_params() and store.bank(BANK).n_items == n:
            for rec in store.iter_items(BANK, with_text=True):
                if len(sample) >= 2000:
                    break
                sample.append(rec.text or "")
            return sample, None
        if BANK in store.bank_params():
            store.delete_bank(BANK)
        store.create_bank(BANK, copytrace.DEFAULT_PARAMS)
        started = time.perf_counter()
        chunk: list[ItemRecord] = []
        for i in range(n):
            text = chain.document(rng, rng.randrange(100, 301))
            if i % (max(1, n // 2000)) == 0:
                sample.append(text)
            chunk.append(ItemRecord(f"g{i:07d}", copytrace.fingerprint(text), text))
            if len(chunk) == 20000:
                store.add_items(BANK, chunk)
                chunk = []
                print(f"  stored {i + 1:,} items", file=sys.stderr, flush=True)
        if chunk:
            store.add_items(BANK, chunk)
        return sample, time.perf_counter() - started
    finally:
        store.close()


def resident_of_group(pgid: int) -> int:
    """Resident bytes of every process in a process group, shared pages counted in full (one process)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    return total


def rss_of_group(pgid: int) -> int:
    """Memory of every process in a process group (the server and its workers), as proportional set size:
    pages shared between processes (the mapped index snapshot) are counted once, split among them."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                rollup = (stat.parent / "smaps_rollup").read_text()
                total += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
        except (OSError, IndexError, ValueError, StopIteration):
            continue
    return total * 1024


START_POLL_SECONDS = 0.05
"""How often a start polls ``/health``: a start is measured up to this much late (it was 0.2 s, a tenth
of the 2 s goal of a start from the snapshot)."""


def start_server(db: str, port: int, workers: int, snapshots: str) -> tuple[subprocess.Popen[bytes], float]:
    env = {**os.environ, "COPYTRACE_SNAPSHOT_DIR": snapshots}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "copytrace.cli.main",
            "serve",
            "--db",
            db,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        env=env,
        start_new_session=True,
    )
    # One client, each request on a connection of its own (so that it may reach any worker): a client made
    # for each request (``httpx2.get``) cost about 70 ms of its own (its TLS context), 1.2 s of the 17
    # requests of a start at two workers.
    no_reuse = httpx2.Limits(max_keepalive_connections=0)
    with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=5, limits=no_reuse) as client:
        while True:
            try:
                if client.get("/health").status_code == 200:
                    # every worker: /health answers 200 only from a worker whose index is loaded
                    ok = sum(client.get("/health").status_code == 200 for _ in range(8 * workers))
                    if ok == 8 * workers:
                        return proc, time.perf_counter() - started
            except httpx2.TransportError:
                pass
            if proc.poll() is not None:
                raise SystemExit("the server exited during start-up")
            time.sleep(START_POLL_SECONDS)


def writes_sidecars(src: str | None) -> bool:
    """Whether the server's source tree (``--src``, else this checkout's) writes a token sidecar beside its
    snapshot (``copytrace.banks.live_tokens``): older revisions do not."""
    tree = Path(src) if src else Path(copytrace.__file__).parents[1]
    return (tree / "copytrace" / "banks" / "live_tokens.py").is_file()


def wait_for_sidecar(snapshots: str, timeout: float) -> float:
    """Seconds until the token sidecar of the server's snapshot is in ``snapshots`` (a worker writes it in
    the background after start: reading and tokenizing every item's text takes about a minute of one core
    at 1,000,000 items), plus the workers' next look for it (``live_tokens.CHECK_SECONDS``, 1 s)."""
    started = time.perf_counter()
    while not any(Path(snapshots).glob("*.ctidx.tokens")):
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"no token sidecar in {snapshots} after {timeout:.0f} s")
        time.sleep(0.5)
    waited = time.perf_counter() - started
    time.sleep(2.0)
    return waited


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)


def batch_throughput(
    url: str, headers: dict[str, str], queries: list[str], seconds: float, threads: int = 8, size: int = 100
) -> tuple[float, int]:
    done = [0] * threads
    stop = time.perf_counter() + seconds
    matched = [0] * threads

    def client(n: int) -> None:
        rng = random.Random(n)
        with httpx2.Client(base_url=url, headers=headers, timeout=60) as c:
            while time.perf_counter() < stop:
                batch = rng.sample(queries, size)
                body = {"queries": [{"id": str(i), "text": q} for i, q in enumerate(batch)]}
                r = c.post("/v1/match:batch", json=body)
                r.raise_for_status()
                done[n] += size
                matched[n] += sum(1 for res in r.json()["results"] if res["matches"])

    started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - started), sum(matched)


async def steady_latency(
    url: str, headers: dict[str, str], queries: list[str], rate: float, seconds: float
) -> list[float]:
    latencies: list[float] = []
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx2.AsyncClient(base_url=url, headers=headers, timeout=30, limits=limits) as c:
        for q in queries[:50]:  # warm the connections
            await c.post("/v1/match", json={"text": q})

        async def one(when: float, text: str) -> None:
            await asyncio.sleep(max(0.0, when - time.perf_counter()))
            r = await c.post("/v1/match", json={"text": text})
            r.raise_for_status()
            latencies.append(time.perf_counter() - when)

        t0 = time.perf_counter() + START_S
        n = int(rate * seconds)
        await asyncio.gather(*(one(t0 + i / rate, queries[i % len(queries)]) for i in range(n)))
    return latencies


def time_to_matchable(
    url: str, headers: dict[str, str], chain: Bigrams, samples: int, other: str | None = None
) -> list[float]:
    """Seconds from sending an item to ``url`` until a match through ``other`` (default: the same
    connection, so the same worker) finds it."""
    rng = random.Random(99)
    out = []
    with (
        httpx2.Client(base_url=url, headers=headers, timeout=30) as c,
        httpx2.Client(base_url=other or url, headers=headers, timeout=30) as o,
    ):
        reader = o if other else c
        for i in range(samples):
            text = chain.document(rng, 150)
            item_id = f"fresh-{time.time_ns()}-{i}"
            started = time.perf_counter()
            assert c.post(f"/v1/banks/{BANK}/items", json={"id": item_id, "text": text}).status_code == 201
            while item_id not in [
                m["item_id"] for m in reader.post("/v1/match", json={"text": text}).json()["matches"]
            ]:
                time.sleep(0.005)
            out.append(time.perf_counter() - started)
            c.delete(f"/v1/banks/{BANK}/items/{item_id}")
            time.sleep(rng.random() * 0.5)  # land anywhere in the other instance's poll cycle
    return out


def churn(url: str, headers: dict[str, str], chain: Bigrams, cycles: int) -> float:
    rng = random.Random(7)
    started = time.perf_counter()
    with httpx2.Client(base_url=url, headers=headers, timeout=30) as c:
        for i in range(cycles):
            c.post(f"/v1/banks/{BANK}/items", json={"id": f"churn-{i}", "text": chain.document(rng, 200)})
            c.delete(f"/v1/banks/{BANK}/items/churn-{i}")
    return time.perf_counter() - started


async def post_latency(
    url: str,
    headers: dict[str, str],
    chain: Bigrams,
    sample: list[str],
    queries: list[str],
    *,
    rate: float,
    post_rate: float,
    seconds: float,
) -> tuple[list[float], list[float], int]:
    """Latencies of ``POST /v1/banks/B/items`` sent open-loop at ``post_rate`` while ``/v1/match`` runs
    open-loop at ``rate``, for ``seconds``: (post latencies in the order sent, match latencies, posts that
    linked to a banked item).  Every other item posted is a version of a banked item (its own first and last
    line, half with 2% word edits), the others new documents.  Latency counts from each request's scheduled
    send time.  The items posted are removed afterwards (not timed)."""
    rng = random.Random(11)
    vocabulary = tuple(sorted({w for t in sample[:200] for w in t.split()}))
    n_posts = int(post_rate * seconds)
    bodies = []
    for i in range(n_posts):
        text = (
            versions(rng, rng.choice(sample), 1, vocabulary)[0]
            if i % 2 == 0
            else chain.document(rng, rng.randrange(100, 301))
        )
        bodies.append({"id": f"post-{time.time_ns()}-{i}", "text": text})
    posts = [0.0] * n_posts
    matches: list[float] = []
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx2.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as c:
        for q in queries[:50]:  # warm the connections
            await c.post("/v1/match", json={"text": q})

        async def match(when: float, text: str) -> None:
            await asyncio.sleep(max(0.0, when - time.perf_counter()))
            r = await c.post("/v1/match", json={"text": text})
            r.raise_for_status()
            matches.append(time.perf_counter() - when)

        async def post(i: int, when: float, body: dict[str, str]) -> None:
            await asyncio.sleep(max(0.0, when - time.perf_counter()))
            r = await c.post(f"/v1/banks/{BANK}/items", json=body)
            if r.status_code != 201:
                raise SystemExit(f"POST items: {r.status_code} {r.text[:500]}")
            posts[i] = time.perf_counter() - when

        t0 = time.perf_counter() + START_S
        n = int(rate * seconds)
        await asyncio.gather(
            *(match(t0 + i / rate, queries[i % len(queries)]) for i in range(n)),
            *(post(i, t0 + (i + 0.5) / post_rate, body) for i, body in enumerate(bodies)),
        )
        linked = 0
        for body in bodies[::2]:  # the versions: does the family hold a banked item beside the new one?
            r = await c.post("/v1/match", json={"text": body["text"], "all_versions": True, "limit": 5})
            linked += any(m["family_size"] > 1 for m in r.json()["matches"])
        for body in bodies:
            await c.delete(f"/v1/banks/{BANK}/items/{body['id']}")
    return posts, matches, linked


def in_process_qps(chain: Bigrams, queries: list[str], n: int) -> float:
    rng = random.Random(5)
    index = copytrace.Index(keep_text=False)
    for i in range(n):
        index.add(f"i{i}", chain.document(rng, rng.randrange(100, 301)))
    index.match(queries[0])
    started = time.perf_counter()
    for q in queries[:2000]:
        index.match(q)
    return min(2000, len(queries)) / (time.perf_counter() - started)


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


ROWS = ("startup", "batch", "latency", "post", "fresh", "memory")
BESIDE_ROWS = ("startup", "batch", "post")  # the rows measured on the --beside-db store too


def measure(
    args: argparse.Namespace, db: str, items: int, rows: set[str], chain: Bigrams, texts: list[str]
) -> dict[str, Any]:
    """Every figure of ``rows`` for the store ``db`` of ``items`` generated items (built when absent)."""
    out: dict[str, Any] = {"items": items}
    print(f"building or reusing {db} with {items:,} items", file=sys.stderr)
    sample, build_s = build_store(db, items, chain, seed=1)
    out["build_s"] = build_s
    queries = make_queries(sample, texts, 4000, random.Random(2))
    with Store(db) as store:
        _, key = create_key(store, f"bench-{time.time_ns()}", "admin")
    headers = {"Authorization": f"Bearer {key}"}
    url = f"http://127.0.0.1:{args.port}"
    snapshots = str(Path(db).with_suffix(".snapshots"))

    if "startup" in rows or not Path(snapshots).is_dir():
        shutil.rmtree(snapshots, ignore_errors=True)  # the first start builds from the store
        proc, cold_s = start_server(db, args.port, args.workers, snapshots)
        stop_server(proc)
        # the snapshot just written (869 MB at 1,000,000 items) written back first: 700-800 MB of it was
        # still dirty while the posts below ran, their commits (fsync) sharing the disk with its write-back
        os.sync()
        if "startup" in rows:
            out["cold_start_s"] = cold_s
    proc, warm_s = start_server(db, args.port, args.workers, snapshots)
    if "startup" in rows:
        out["warm_start_s"] = warm_s
    try:
        if writes_sidecars(args.src) and not args.no_sidecar_wait:
            # the steady state: the rows below measure a server whose quote pass reads its snapshot items'
            # token hashes from the sidecar, not one still writing it (once per snapshot)
            out["sidecar_s"] = wait_for_sidecar(snapshots, 900)
        out["rss_start"] = rss_of_group(proc.pid)
        if "batch" in rows:
            # the first 10 s after start: the matched items' texts come from disk then
            out["warm_up_lookups_per_s"], _ = batch_throughput(url, headers, queries, 10)
            out["lookups_per_s"], out["batch_matched"] = batch_throughput(url, headers, queries, args.seconds)
        if "latency" in rows:
            latencies = asyncio.run(steady_latency(url, headers, queries, args.rate, args.seconds))
            out["p50_ms"], out["p99_ms"] = pct(latencies, 50) * 1000, pct(latencies, 99) * 1000
        if "post" in rows:
            posts, during, linked = asyncio.run(
                post_latency(
                    url,
                    headers,
                    chain,
                    sample,
                    queries,
                    rate=args.rate,
                    post_rate=args.post_rate,
                    seconds=args.seconds,
                )
            )
            out["post_p50_ms"], out["post_p99_ms"] = pct(posts, 50) * 1000, pct(posts, 99) * 1000
            out["post_max_ms"] = max(posts) * 1000
            # which posts were slowest: the first through each worker, or any
            slowest = sorted(range(len(posts)), key=posts.__getitem__)[-5:][::-1]
            out["post_slowest"] = [(i, round(posts[i] * 1000, 1)) for i in slowest]
            out["posts"], out["posts_linked"] = len(posts), linked
            out["match_during_posts_p50_ms"] = pct(during, 50) * 1000
            out["match_during_posts_p99_ms"] = pct(during, 99) * 1000
        if "fresh" in rows or "memory" in rows:
            out["fresh_s"] = time_to_matchable(url, headers, chain, 20)
            second, _ = start_server(db, args.port + 1, 1, snapshots)  # another instance, same database
            out["one_worker"] = resident_of_group(second.pid)  # one worker: its whole index counts
            try:
                out["fresh_other_s"] = time_to_matchable(
                    url, headers, chain, 20, other=f"http://127.0.0.1:{args.port + 1}"
                )
            finally:
                stop_server(second)
        if "memory" in rows:
            out["rss_before"] = rss_of_group(proc.pid)
            out["churn_s"] = churn(url, headers, chain, args.churn)
            out["rss_after"] = rss_of_group(proc.pid)
    finally:
        stop_server(proc)
    if "batch" in rows and args.library_items:
        out["library_qps"] = in_process_qps(chain, queries, args.library_items)
    return out


def table(args: argparse.Namespace, main: dict[str, Any], beside: dict[str, Any] | None) -> list[str]:
    """The Markdown table of the figures measured: this store's, the goal, and the smaller store's."""
    other = f" | {beside['items']:,} items" if beside else ""
    lines = [
        f"### Service, {main['items']:,} items, {args.workers} workers, SQLite, {os.cpu_count()} cores",
        "",
        f"| measure | {main['items']:,} items | goal{other} |",
        "|---|---:|---:|" + ("---:|" if beside else ""),
    ]

    def row(name: str, key: str, fmt: str, goal: str = "") -> None:
        if key not in main:
            return
        cell = fmt.format(main[key])
        side = (f" | {fmt.format(beside[key])}" if key in beside else " | –") if beside else ""
        lines.append(f"| {name} | {cell} | {goal}{side} |")

    if main.get("build_s") is not None:
        row(f"store {main['items']:,} items (fingerprint + insert, in-process)", "build_s", "{:.0f} s")
    row("start-up, index built from the store", "cold_start_s", "{:.1f} s", "≤ 20 s")
    row("start-up, index mapped from its snapshot", "warm_start_s", "{:.1f} s", "≤ 2 s")
    row("token sidecar written, after the start from the snapshot (rows below wait)", "sidecar_s", "{:.0f} s")
    row("`match:batch` lookups/s (100 × 1 KB per request)", "lookups_per_s", "{:,.0f}", "≥ 10,000")
    row("`match:batch` lookups/s, first 10 s after start", "warm_up_lookups_per_s", "{:,.0f}")
    row("same queries in-process, library, in-memory index", "library_qps", "{:,.0f}")
    row(f"`/v1/match` p50 at {args.rate:.0f} req/s", "p50_ms", "{:.1f} ms")
    row(f"`/v1/match` p99 at {args.rate:.0f} req/s", "p99_ms", "{:.1f} ms", "≤ 10 ms")
    what = f"at {args.post_rate:g}/s while {args.rate:.0f} req/s of `/v1/match` run"
    row(f"`POST /v1/banks/B/items` p50, linking included, {what}", "post_p50_ms", "{:.1f} ms", "≤ 20 ms")
    row(f"`POST /v1/banks/B/items` p99, {what}", "post_p99_ms", "{:.1f} ms", "≤ 100 ms")
    row("`POST /v1/banks/B/items` slowest", "post_max_ms", "{:.0f} ms")
    if "post_slowest" in main:
        slowest = ", ".join(f"#{i}: {ms:.0f}" for i, ms in main["post_slowest"])
        lines.append(f"| the five slowest posts (number in the order sent: ms) | {slowest} | |")
    row("`/v1/match` p50 meanwhile", "match_during_posts_p50_ms", "{:.1f} ms")
    row("`/v1/match` p99 meanwhile", "match_during_posts_p99_ms", "{:.1f} ms")
    if "fresh_s" in main:
        fresh, other_fresh = main["fresh_s"], main["fresh_other_s"]
        lines.append(
            f"| new item matchable through the worker that stored it, median / max of 20 | "
            f"{statistics.median(fresh) * 1000:.0f} / {max(fresh) * 1000:.0f} ms | ≤ 5,000 ms |"
            + (" – |" if beside else "")
        )
        lines.append(
            "| new item matchable on another instance (same database), median / max of 20 | "
            f"{statistics.median(other_fresh) * 1000:.0f} / {max(other_fresh) * 1000:.0f} ms | ≤ 5,000 ms |"
            + (" – |" if beside else "")
        )
        lines.append(
            f"| memory of all {args.workers} workers after start (PSS) / of a 1-worker instance (RSS) | "
            f"{main['rss_start'] / 2**30:.2f} / {main['one_worker'] / 2**30:.2f} GiB | ≤ 1.3× "
            f"({main['rss_start'] / main['one_worker']:.2f}×) |" + (" – |" if beside else "")
        )
    if "churn_s" in main:
        lines.append(
            f"| resident memory before / after {args.churn:,} add+remove ({main['churn_s']:.0f} s) | "
            f"{main['rss_before'] / 2**30:.2f} / {main['rss_after'] / 2**30:.2f} GiB | flat "
            f"({(main['rss_after'] - main['rss_before']) / 2**20:+.0f} MiB) |" + (" – |" if beside else "")
        )
    if "posts" in main:
        lines.append("")
        lines.append(
            f"{main['posts']} items posted; {main['posts_linked']} of the {(main['posts'] + 1) // 2} "
            "versions of banked items among them were found in a family with a banked item afterwards."
        )
    if "batch_matched" in main:
        lines.append(
            f"{main['batch_matched']:,} of the batch lookups found a banked item (half the queries hold a "
            "40-word excerpt)."
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "copytrace-bench.db"))
    ap.add_argument("--copy-from", help="copy this store (left unchanged) to --db first")
    ap.add_argument("--beside-db", help="a second, smaller store measured in a column beside")
    ap.add_argument("--beside-items", type=int, default=100_000)
    ap.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS), help="what to measure (all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--post-rate", type=float, default=5.0, help="item POSTs per second (5)")
    ap.add_argument("--churn", type=int, default=3000)
    ap.add_argument(
        "--library-items", type=int, default=0, help="also match in-process on an index of this many (0: not)"
    )
    ap.add_argument("--src", help="run the server from this source tree (another revision's src/)")
    ap.add_argument(
        "--no-sidecar-wait",
        action="store_true",
        help="measure at once after start, while a worker writes the snapshot's token sidecar",
    )
    args = ap.parse_args()
    if args.src:  # the servers started below inherit it; this process has imported copytrace already
        os.environ["PYTHONPATH"] = args.src

    texts = corpus(args.data)
    chain = Bigrams(texts)
    if args.copy_from:
        print(f"copying {args.copy_from} to {args.db}", file=sys.stderr)
        for journal in ("-wal", "-shm"):  # a run before left its own: SQLite would replay it into the copy
            Path(args.db + journal).unlink(missing_ok=True)
        shutil.copyfile(args.copy_from, args.db)
        shutil.rmtree(Path(args.db).with_suffix(".snapshots"), ignore_errors=True)
        os.sync()  # the copy written back first: a post's commit (fsync) would wait behind it
    rows = set(args.rows)
    main_figures = measure(args, args.db, args.items, rows, chain, texts)
    beside = None
    if args.beside_db:
        beside = measure(args, args.beside_db, args.beside_items, rows & set(BESIDE_ROWS), chain, texts)
    print()
    print("\n".join(table(args, main_figures, beside)))
    print(json.dumps({"main": main_figures, "beside": beside}))


if __name__ == "__main__":
    main()
