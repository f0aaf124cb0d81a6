"""Load-and-fault run (not a test): clients adding, removing and matching against a real ``copytrace serve``
while one of its workers is killed with SIGKILL and poison items are stored (issue #14).

It starts ``copytrace serve --workers N`` on a temporary SQLite store (loopback only), then for ``--seconds``
runs ``--clients`` client threads, each on its own connection: add an item (a generated 100-300-word
document), remove one of its own, or match the text of one of its own.  A fault thread meanwhile

- at a third of the run, kills one worker with SIGKILL (uvicorn's supervisor starts a new one);
- at half the run, posts the poison fingerprint of issue #14.1 through the API, and stores another poison
  item straight into the store's tables, as an old store or a bad import would have it;
- samples ``/health`` every half second (index lag in generations and seconds).

At the end it prints one table: requests and answers by status per operation, acknowledged items lost
(an add answered 201 and not removed since, missing from the store afterwards: must be 0), acknowledged
items not in the index of a worker at the end, the index lag seen, the time the supervisor took to replace
the killed worker, the quarantine ``/health`` reported, and the resident memory of each process before
and after.  Every loop is bounded by the deadline; all traffic is on 127.0.0.1.

    python benchmarks/bench_load_fault.py [--seconds 60] [--clients 8] [--workers 2] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx2
from bench_core import Bigrams, corpus
from sqlalchemy import insert, select, update

import copytrace
from copytrace.banks import Store
from copytrace.store.api_keys import create_key
from copytrace.store.models import BankRow, ChangeRow, ItemRow, StoreStateRow

BANK = "load"
POISON = "ctw1:n1:k5:w4:public:AICAgICAIA"  # issue #14.1: 0 hashes over 2**40 tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def workers(server: int) -> list[int]:
    """The uvicorn worker processes (children of the supervisor that run Python, not its helpers)."""
    out = []
    for pid in children(server):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.resource_tracker" not in cmd:
            out.append(pid)
    return sorted(out)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def insert_raw(db: str, item_id: str, stored: str) -> None:
    """An item written straight into the tables, unchecked, as an old store or a bad import left it."""
    with Store(db) as store, store.session() as s, s.begin():
        generation = s.execute(
            update(StoreStateRow)
            .where(StoreStateRow.id == 1)
            .values(generation=StoreStateRow.generation + 1)
            .returning(StoreStateRow.generation)
        ).scalar_one()
        bank_id = s.scalar(select(BankRow.id).where(BankRow.name == BANK))
        s.execute(
            insert(ItemRow).values(
                bank_id=bank_id,
                item_id=item_id,
                text=None,
                fingerprint=stored,
                labels=[],
                meta={},
                added_at=datetime.now(UTC),
            )
        )
        s.execute(insert(ChangeRow).values(generation=generation, op="add", bank=BANK, item_id=item_id))


class Tally:
    """What the clients saw, shared between threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status: collections.Counter[tuple[str, str]] = collections.Counter()
        self.acknowledged: dict[str, str] = {}  # item id -> text: answered 201, not removed since
        self.uncertain: set[str] = set()  # a request whose answer was lost: stored or not, either is right
        self.missed_own = 0  # a client's own acknowledged item not found by a match

    def count(self, op: str, status: str) -> None:
        with self.lock:
            self.status[(op, status)] += 1


def client(n: int, url: str, h: dict[str, str], chain: Bigrams, deadline: float, tally: Tally) -> None:
    rng = random.Random(n)
    own: list[str] = []
    serial = 0
    with httpx2.Client(base_url=url, headers=h, timeout=30) as c:
        while time.monotonic() < deadline:
            roll = rng.random()
            try:
                if roll < 0.5 or not own:
                    serial += 1
                    item_id = f"c{n}-{serial}"
                    text = chain.document(rng, rng.randrange(100, 301))
                    op = "add"
                    try:
                        r = c.post(f"/v1/banks/{BANK}/items", json={"id": item_id, "text": text})
                    except httpx2.TransportError:
                        with tally.lock:
                            tally.uncertain.add(item_id)
                        raise
                    if r.status_code == 201:
                        own.append(item_id)
                        with tally.lock:
                            tally.acknowledged[item_id] = text
                elif roll < 0.7:
                    item_id = own.pop(rng.randrange(len(own)))
                    op = "remove"
                    try:
                        r = c.delete(f"/v1/banks/{BANK}/items/{item_id}")
                    except httpx2.TransportError:
                        with tally.lock:
                            tally.uncertain.add(item_id)
                            tally.acknowledged.pop(item_id, None)
                        raise
                    if r.status_code == 200:
                        with tally.lock:
                            tally.acknowledged.pop(item_id, None)
                    else:
                        own.append(item_id)
                else:
                    item_id = rng.choice(own)
                    op = "match"
                    with tally.lock:
                        text = tally.acknowledged[item_id]
                    r = c.post("/v1/match", json={"text": text, "limit": 5})
                    if r.status_code == 200 and item_id not in {m["item_id"] for m in r.json()["matches"]}:
                        with tally.lock:
                            tally.missed_own += 1
                tally.count(op, str(r.status_code))
            except httpx2.TransportError as exc:
                tally.count(op, f"conn: {exc.__class__.__name__}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument(
        "--churn",
        type=int,
        default=0,
        help="instead: this many add-then-remove cycles (split among the clients, no faults), printing the "
        "workers' resident memory every tenth of the way",
    )
    ap.add_argument(
        "--malloc-arena-max",
        type=int,
        default=0,
        help="run the server with MALLOC_ARENA_MAX set to this (glibc: fewer per-thread heaps)",
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="copytrace-load-fault-"))
    db = str(tmp / "store.db")
    with Store(db) as store:
        _, key = create_key(store, "load", "admin")
        store.create_bank(BANK, copytrace.DEFAULT_PARAMS)
    h = {"Authorization": f"Bearer {key}"}
    chain = Bigrams(corpus(args.data))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "COPYTRACE_SNAPSHOT_DIR": str(tmp / "snapshots"), "COPYTRACE_POLL_SECONDS": "0.2"}
    if args.malloc_arena_max:
        env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - the server writes to it until the end
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "copytrace.cli.main", "serve", "--db", db, "--port", str(port)),
            *("--workers", str(args.workers), "--log-level", "warning"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        (churn if args.churn else run)(args, server, url, h, db, chain)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        print(f"\n(server log and store kept in {tmp})")


def wait_healthy(url: str, until: float) -> bool:
    while time.monotonic() < until:
        try:
            if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                return True
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    return False


def run(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    url: str,
    h: dict[str, str],
    db: str,
    chain: Bigrams,
) -> None:
    if not wait_healthy(url, time.monotonic() + 120):
        raise SystemExit("copytrace serve did not start")
    deadline = time.monotonic() + 30
    while len(workers(server.pid)) < args.workers and time.monotonic() < deadline:
        time.sleep(0.1)
    before = {pid: rss_mib(pid) for pid in [server.pid, *workers(server.pid)]}
    tally = Tally()
    events: dict[str, object] = {}
    started = time.monotonic()
    end = started + args.seconds
    threads = [
        threading.Thread(target=client, args=(n, url, h, chain, end, tally), name=f"client-{n}")
        for n in range(args.clients)
    ]
    for t in threads:
        t.start()
    lag_generations, lag_seconds, health_codes = 0, 0.0, collections.Counter[int]()
    killed = False
    poisoned = False
    with httpx2.Client(base_url=url, headers=h, timeout=10) as c:
        while time.monotonic() < end:
            now = time.monotonic() - started
            if not killed and now >= args.seconds / 3:
                victim = workers(server.pid)[0]
                os.kill(victim, signal.SIGKILL)
                killed = True
                events["killed"] = victim
                t0 = time.monotonic()
                while time.monotonic() < end:
                    alive = [p for p in workers(server.pid) if p != victim]
                    if len(alive) >= args.workers:
                        events["replaced_in_s"] = round(time.monotonic() - t0, 2)
                        break
                    time.sleep(0.05)
            if not poisoned and now >= args.seconds / 2:
                poisoned = True
                try:
                    r = c.post(f"/v1/banks/{BANK}/items", json={"id": "poison-api", "fingerprint": POISON})
                    events["poison_api"] = f"{r.status_code} {r.text[:80]}"
                except httpx2.TransportError as exc:
                    events["poison_api"] = f"connection: {exc.__class__.__name__}"
                insert_raw(db, "poison-sql", POISON)
                events["poison_sql"] = "stored"
            try:
                r = c.get("/health")
                health_codes[r.status_code] += 1
                body = r.json()
                lag_generations = max(lag_generations, body["lag"]["generations"] or 0)
                lag_seconds = max(lag_seconds, body["lag"]["seconds_since_sync"] or 0.0)
            except (httpx2.TransportError, ValueError):
                health_codes[0] += 1
            time.sleep(0.5)
    for t in threads:
        t.join(60)

    # ------------------------------------------------------------------------------------ afterwards
    with Store(db) as store, store.session() as s:
        bank_id = s.scalar(select(BankRow.id).where(BankRow.name == BANK))
        stored = set(s.scalars(select(ItemRow.item_id).where(ItemRow.bank_id == bank_id)))
    lost = sorted(set(tally.acknowledged) - stored)
    settled = wait_until_caught_up(url, len(stored), time.monotonic() + 30)
    not_matchable = check_matchable(url, h, tally, time.monotonic() + 60)
    health = httpx2.get(f"{url}/health", timeout=10).json()
    after = {pid: rss_mib(pid) for pid in [server.pid, *workers(server.pid)]}

    rows: list[tuple[str, str]] = [
        ("run", f"{args.seconds:g} s, {args.clients} clients, serve --workers {args.workers}, SQLite"),
    ]
    for op in ("add", "remove", "match"):
        by = {s: n for (o, s), n in sorted(tally.status.items()) if o == op}
        answers = ", ".join(f"{s}: {n:,}" for s, n in by.items())
        rows.append((f"{op} requests", f"{sum(by.values()):,} ({answers})"))
    total = sum(tally.status.values())
    errors: collections.Counter[str] = collections.Counter()
    for (_, answer), n in tally.status.items():
        if not answer.startswith("2"):
            errors[answer] += n
    rows += [
        ("requests, all", f"{total:,} ({total / args.seconds:,.0f}/s)"),
        ("errors by status", ", ".join(f"{s}: {n:,}" for s, n in sorted(errors.items())) or "none"),
        (
            "worker killed (SIGKILL)",
            f"pid {events.get('killed')}, replaced in {events.get('replaced_in_s')} s",
        ),
        ("poison via API", str(events.get("poison_api"))),
        ("poison via SQL", str(events.get("poison_sql"))),
        (
            "acknowledged items held at end",
            f"{len(tally.acknowledged):,} (answers lost in the kill, not counted: {len(tally.uncertain)})",
        ),
        ("acknowledged items lost", f"{len(lost)}" + (f" e.g. {lost[:5]}" if lost else "")),
        ("own item not found by match", f"{tally.missed_own}"),
        ("acknowledged items not matchable at end", f"{not_matchable}"),
        ("index caught up at end (both workers)", "yes" if settled else "NO"),
        ("index lag seen (max)", f"{lag_generations} generations, {lag_seconds:.2f} s since sync"),
        ("/health answers", ", ".join(f"{k or 'conn'}: {v}" for k, v in sorted(health_codes.items()))),
        (
            "/health at end",
            f"{health['status']}, quarantined: {[q['id'] for q in health['quarantine']['listed']]}, "
            f"follower restarts {health['follower']['restarts']}",
        ),
        ("RSS before (MiB)", ", ".join(f"{p}: {v:.0f}" for p, v in before.items() if v is not None)),
        ("RSS after (MiB)", ", ".join(f"{p}: {v:.0f}" for p, v in after.items() if v is not None)),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print(json.dumps({"events": events}, default=str), file=sys.stderr)


def churn(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    url: str,
    h: dict[str, str],
    db: str,
    chain: Bigrams,
) -> None:
    """``--churn``: add-then-remove cycles from ``--clients`` connections; the workers' RSS as they go."""
    if not wait_healthy(url, time.monotonic() + 120):
        raise SystemExit("copytrace serve did not start")
    rng = random.Random(0)
    texts = [chain.document(rng, rng.randrange(100, 301)) for _ in range(500)]
    ws = workers(server.pid)
    fresh = {pid: rss_mib(pid) or 0.0 for pid in ws}
    with httpx2.Client(base_url=url, headers=h, timeout=30) as c:
        for i, text in enumerate(texts[:100]):  # a small standing bank, and one warm-up query per worker
            c.post(f"/v1/banks/{BANK}/items", json={"id": f"standing-{i}", "text": text})
        for text in texts[:8]:
            c.post("/v1/match", json={"text": text})
    done = [0]
    lock = threading.Lock()

    def cycles(n: int) -> None:
        with httpx2.Client(base_url=url, headers=h, timeout=30) as c:
            for i in range(args.churn // args.clients):
                item_id = f"churn-{n}-{i}"
                c.post(f"/v1/banks/{BANK}/items", json={"id": item_id, "text": texts[100 + i % 400]})
                c.delete(f"/v1/banks/{BANK}/items/{item_id}")
                with lock:
                    done[0] += 1

    base = {pid: rss_mib(pid) or 0.0 for pid in ws}
    print(f"| cycles | {' | '.join(f'worker {k + 1} RSS (MiB)' for k in range(len(ws)))} |")
    print(f"|---|{'---|' * len(ws)}")
    print(f"| started, no request yet | {' | '.join(f'{fresh[p]:.0f}' for p in ws)} |")
    print(f"| 0 (after 100 adds, 8 matches) | {' | '.join(f'{base[p]:.0f}' for p in ws)} |")
    threads = [threading.Thread(target=cycles, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    step = max(1, args.churn // 10)
    mark = step
    while any(t.is_alive() for t in threads):
        if done[0] >= mark:
            row = " | ".join(f"{rss_mib(p) or 0:.0f} ({(rss_mib(p) or 0) - base[p]:+.0f})" for p in ws)
            print(f"| {done[0]:,} | {row} |", flush=True)
            mark += step
        time.sleep(0.05)
    row = " | ".join(f"{rss_mib(p) or 0:.0f} ({(rss_mib(p) or 0) - base[p]:+.0f})" for p in ws)
    print(f"| {done[0]:,} (end) | {row} |")


def wait_until_caught_up(url: str, n_items: int, until: float) -> bool:
    """Whether ``/health`` shows every stored item indexed (less the quarantined) on 20 answers in a row."""
    in_a_row = 0
    while time.monotonic() < until and in_a_row < 20:
        body = httpx2.get(f"{url}/health", timeout=10).json()
        ok = (
            body["lag"]["generations"] == 0
            and body["index"]["items"] + body["quarantine"]["items"] == n_items
        )
        in_a_row = in_a_row + 1 if ok else 0
        time.sleep(0.05)
    return in_a_row >= 20


def check_matchable(url: str, h: dict[str, str], tally: Tally, until: float) -> int:
    """How many of a sample of 200 acknowledged items a match does not find (several connections, so both
    workers answer)."""
    sample = random.Random(0).sample(sorted(tally.acknowledged), min(200, len(tally.acknowledged)))
    missing = 0
    clients = [httpx2.Client(base_url=url, headers=h, timeout=30) for _ in range(4)]
    try:
        for n, item_id in enumerate(sample):
            if time.monotonic() > until:
                break
            r = clients[n % 4].post("/v1/match", json={"text": tally.acknowledged[item_id], "limit": 5})
            if item_id not in {m["item_id"] for m in r.json().get("matches", [])}:
                missing += 1
    finally:
        for c in clients:
            c.close()
    return missing


if __name__ == "__main__":
    main()
