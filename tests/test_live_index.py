"""The service's live index under faults: a stored item it cannot index (quarantined, the service goes on),
queries that do not wait for each other, readiness only once caught up, a lagging or failing follower
reported by ``/health`` (issue #14, items 1, 2 and 6)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from copytrace import DEFAULT_PARAMS, Index, fingerprint
from copytrace.banks import Store
from copytrace.banks.build import build_snapshot, origin, read_ahead, stored_batches, stored_phrases
from copytrace.banks.live import IndexNotReadyError, LiveIndex
from copytrace.fingerprints.keys import PUBLIC_KEY
from copytrace.index.phrase_rules import item_phrase
from copytrace.index.snapshot_build import SnapshotBuilder
from copytrace.service import ServiceConfig, create_app
from copytrace.store import ItemRecord
from copytrace.store.api_keys import create_key
from copytrace.store.feed import Change
from copytrace.store.models import BankRow, ChangeRow, ItemRow, StoreStateRow

from .postgres import create_database
from .test_store import _delete_store

OVERFLOW = "ctw1:n1:k5:w4:public:AICAgICAIA"  # 0 hashes over 2**40 tokens


def _insert_raw(db: str, bank: str, item_id: str, stored: str) -> None:
    """Store an item as an old store or a bad import left it: straight into the tables, unchecked."""
    with Store(db) as store, store.session() as s, s.begin():
        generation = s.execute(
            update(StoreStateRow)
            .where(StoreStateRow.id == 1)
            .values(generation=StoreStateRow.generation + 1)
            .returning(StoreStateRow.generation)
        ).scalar_one()
        bank_id = s.scalar(select(BankRow.id).where(BankRow.name == bank))
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
        s.execute(insert(ChangeRow).values(generation=generation, op="add", bank=bank, item_id=item_id))


def _admin(db: str) -> dict[str, str]:
    with Store(db) as store:
        return {"Authorization": f"Bearer {create_key(store, 'ops', 'admin')[1]}"}


def _ids(client: TestClient, h: dict[str, str], text: str) -> set[str]:
    r = client.post("/v1/match", json={"text": text, "all_versions": True}, headers=h)
    assert r.status_code == 200, r.text
    return {m["item_id"] for m in r.json()["matches"]}


def _listed(client: TestClient) -> set[str]:
    return {q["id"] for q in client.get("/health").json()["quarantine"]["listed"]}


POISONS = [
    pytest.param(OVERFLOW, id="token-count-overflow"),
    pytest.param("ctw1:n1:k5:w4:public:%%%", id="not-base64"),
    pytest.param("ctw1:n1:k0:w4:public:", id="k0"),
    pytest.param("not a fingerprint", id="garbage"),
    pytest.param(str(fingerprint("one two three four five six seven eight nine ten", k=7)), id="other-k"),
]


@pytest.mark.parametrize("poison", POISONS)
def test_a_poison_item_is_quarantined_and_the_service_goes_on(
    db_url: str, tmp_path: Path, text_000: str, text_001: str, poison: str
) -> None:
    h = _admin(db_url)
    with Store(db_url) as store:
        store.create_bank("p", DEFAULT_PARAMS)
        store.add_items("p", [ItemRecord("000", fingerprint(text_000), text_000)])
    _insert_raw(db_url, "p", "bad-at-build", poison)
    config = ServiceConfig(db=db_url, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap"))
    with TestClient(create_app(config)) as c:
        assert c.app.state.ctx.live.wait_ready(120)  # type: ignore[attr-defined]
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["quarantine"]["items"] == 1 and _listed(c) == {"bad-at-build"}
        assert "quarantined" in health.json()["problems"][0]
        # the follower meets one too, and later writes become matchable
        _insert_raw(db_url, "p", "bad-while-running", poison)
        assert c.post("/v1/banks/p/items", json={"id": "001", "text": text_001}, headers=h).status_code == 201
        assert _ids(c, h, text_001) == {"000", "001"}
        assert _listed(c) == {"bad-at-build", "bad-while-running"}
        assert c.get("/health").json()["index"]["items"] == 2
    # a restart from the snapshot still names both (one from beside the snapshot, one replayed)
    with TestClient(create_app(config)) as c:
        assert c.app.state.ctx.live.wait_ready(120)  # type: ignore[attr-defined]
        assert _listed(c) == {"bad-at-build", "bad-while-running"}
        assert _ids(c, h, text_001) == {"000", "001"}
        # removing a quarantined item clears it
        assert c.delete("/v1/banks/p/items/bad-at-build", headers=h).status_code == 200
        assert _listed(c) == {"bad-while-running"}


class _Gated(LiveIndex):
    """The real live index, made to wait before applying each batch of changes while ``gate`` is clear,
    and to fail each catch-up while ``failing`` is set: the faults are the test's, the code is real."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()
        self.failing = threading.Event()

    def _apply(self, changes: list[Change]) -> None:
        if not self.gate.is_set():
            self.waiting.set()
            assert self.gate.wait(30)
        super()._apply(changes)

    def _replay(self, after: int, upto: int) -> None:
        if self.failing.is_set():
            raise RuntimeError("injected fault")
        super()._replay(after, upto)


@pytest.fixture
def speeches(tmp_path: Path, state_union: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """An SQLite store with a bank of ten speeches and a snapshot of it, then ten more added after it, as
    while the service was down."""
    db = str(tmp_path / "store.db")
    names = sorted(state_union)[:20]
    with Store(db) as store:
        store.create_bank("speeches", DEFAULT_PARAMS)
        for name in names[:10]:
            store.add_items("speeches", [ItemRecord(name, fingerprint(state_union[name]), state_union[name])])
        first = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap"))
        first.catch_up()  # builds and saves the snapshot
        for name in names[10:]:
            store.add_items("speeches", [ItemRecord(name, fingerprint(state_union[name]), state_union[name])])
    yield db, names


def test_not_ready_until_caught_up_with_the_store_as_of_start(
    tmp_path: Path, speeches: tuple[str, list[str]], state_union: dict[str, str]
) -> None:
    db, names = speeches
    h = _admin(db)
    app = create_app(ServiceConfig(db=db, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap")))
    with TestClient(app) as c:
        ctx = app.state.ctx
        gated = _Gated(ctx.store, PUBLIC_KEY, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap"))
        gated.gate.clear()
        ctx.live = gated
        gated.start()
        try:
            assert gated.waiting.wait(30)  # the snapshot's ten items are loaded; the ten newer wait
            health = c.get("/health")
            assert health.status_code == 503 and health.headers["Retry-After"] == "1"
            body = health.json()
            assert body["status"] == "starting" and body["index"] == {
                "ready": False,
                "items": 10,
                "fingerprints": body["index"]["fingerprints"],
            }
            r = c.post("/v1/match", json={"text": state_union[names[0]]}, headers=h)
            assert r.status_code == 503 and r.headers["Retry-After"] == "1"
            with pytest.raises(IndexNotReadyError):
                gated.match(state_union[names[0]])
            gated.gate.set()
            assert gated.wait_ready(30)
            health = c.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert health.json()["index"]["items"] == 20
            assert names[-1] in _ids(c, h, state_union[names[-1]])
        finally:
            gated.gate.set()
            gated.stop()


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"{what} within 30 s"
        time.sleep(0.02)


@pytest.mark.parametrize("fault", ["lagging", "follower-fails"])
def test_health_is_never_ok_while_the_index_lags_or_its_follower_fails(
    tmp_path: Path, speeches: tuple[str, list[str]], state_union: dict[str, str], fault: str
) -> None:
    db, names = speeches
    app = create_app(ServiceConfig(db=db, poll_seconds=0.1, snapshot_dir=str(tmp_path / "snap")))
    with TestClient(app) as c:
        ctx = app.state.ctx
        gated = _Gated(ctx.store, PUBLIC_KEY, poll_seconds=0.1, max_lag_seconds=0.0)
        ctx.live = gated
        gated.start()
        try:
            assert gated.wait_ready(30)
            assert c.get("/health").json()["status"] == "ok"
            if fault == "lagging":
                gated.gate.clear()
            else:
                gated.failing.set()
            with Store(db) as store:
                store.remove_item("speeches", names[0])
            if fault == "lagging":
                assert gated.waiting.wait(30)
            else:
                _wait(lambda: gated.restarts >= 1, "the follower fails")
            health = c.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            problem = "behind the store" if fault == "lagging" else "RuntimeError: injected fault"
            assert problem in " ".join(health.json()["problems"])
            gated.gate.set()
            gated.failing.clear()
            _wait(lambda: c.get("/health").status_code == 200, "the follower recovers")
            body = c.get("/health").json()
            assert body["status"] == "ok" and body["index"]["items"] == 19
            assert body["follower"] == {"restarts": gated.restarts, "failure": None}
        finally:
            gated.gate.set()
            gated.failing.clear()
            gated.stop()


@pytest.mark.parametrize("change_waiting", [False, True], ids=["queries-only", "a-change-waiting"])
def test_a_slow_query_does_not_hold_up_another(
    tmp_path: Path, text_000: str, text_001: str, monkeypatch: pytest.MonkeyPatch, change_waiting: bool
) -> None:
    """One query is held inside the lookup of a matched item's text; another still completes, with or
    without a change waiting for the index (which then waits for the slow query, not the other way)."""
    store = Store(str(tmp_path / "store.db"))
    store.create_bank("news", DEFAULT_PARAMS)
    store.add_items("news", [ItemRecord("000", fingerprint(text_000), text_000)])
    entered, release = threading.Event(), threading.Event()
    lookup = store.text

    def held_lookup(bank: str, item_id: str) -> str | None:
        if threading.current_thread().name == "slow":
            entered.set()
            assert release.wait(30)
        return lookup(bank, item_id)

    monkeypatch.setattr(store, "text", held_lookup)
    live = LiveIndex(store, PUBLIC_KEY)
    live.catch_up()  # no follower thread: changes are applied by the calls below
    found: dict[str, set[str]] = {}
    done = {name: threading.Event() for name in ("slow", "fast", "change")}

    def query(name: str, text: str) -> None:
        found[name] = {m.item_id for m in live.match(text)}
        done[name].set()

    def change() -> None:
        store.add_items("news", [ItemRecord("001", fingerprint(text_001), text_001)])
        live.catch_up()
        done["change"].set()

    threads = [threading.Thread(target=query, args=("slow", text_000), name="slow")]
    threads[0].start()
    try:
        assert entered.wait(30)
        if change_waiting:
            threads.append(threading.Thread(target=change))
            threads[-1].start()
            _wait(lambda: live._index_lock._writers_waiting == 1, "the change waits for the index")
        threads.append(threading.Thread(target=query, args=("fast", text_001)))
        threads[-1].start()
        assert done["fast"].wait(30), "a query waited for a slow one"
        assert found["fast"] == {"000"}
        assert not done["slow"].is_set() and not done["change"].is_set()
    finally:
        release.set()
        for t in threads:
            t.join(30)
    assert found["slow"] == {"000"}
    if change_waiting:
        assert done["change"].is_set()
        assert {m.item_id for m in live.match(text_001, per_family=False)} == {"000", "001"}
    store.close()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "old format"])
def test_a_damaged_snapshot_is_rebuilt_from_the_store(
    tmp_path: Path,
    speeches: tuple[str, list[str]],
    state_union: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    """A snapshot is a cache: one that does not read whole is set aside with a warning, never trusted, and
    the index is built from the store again (and saved anew)."""
    db, names = speeches
    (snap,) = (tmp_path / "snap").glob("*.ctidx")
    data = snap.read_bytes()
    snap.chmod(0o644)  # snapshots are written read-only
    if damage == "truncated":
        snap.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        snap.write_bytes(data[:48] + bytes(len(data) - 48))  # header zeroed: its checksum fails
    else:
        snap.write_bytes(b"PK\x03\x04" + data[4:])
    with Store(db) as store:
        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap"))
        live.catch_up()
        assert "ignoring unreadable snapshot" in caplog.text
        for name in names:  # the ten of the damaged snapshot and the ten after it
            assert name in {m.item_id for m in live.match(state_union[name])}
    assert list((tmp_path / "snap").glob("*.damaged")) and list((tmp_path / "snap").glob("*.ctidx"))


def test_processes_of_one_server_map_one_snapshot(tmp_path: Path, speeches: tuple[str, list[str]]) -> None:
    """Two live indexes over one store and snapshot directory (two workers) hold the postings of the same
    file, mapped: neither has a private copy."""
    db, _ = speeches
    with Store(db) as store:
        a = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap"))
        b = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap"))
        a.catch_up()
        b.catch_up()
        for live in (a, b):
            assert live._index is not None
            tags = live._index._contents.main.tags
            assert not tags.flags.writeable and not tags.flags.owndata  # a view of the mapped file


def test_a_snapshot_of_a_store_made_again_at_the_same_url_is_not_loaded(
    db_url: str, tmp_path: Path, text_000: str, text_001: str, state_union: dict[str, str]
) -> None:
    """The store deleted and made again starts at the generation of the old one's snapshot: the snapshot
    records the old store's id, so the service builds the new store's index instead of answering from it."""
    speech = next(iter(state_union.values()))
    snap = tmp_path / "snap"
    with Store(db_url) as store:
        store.add_items("news", [ItemRecord("old", fingerprint(speech), speech)], create=DEFAULT_PARAMS)
        LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(snap)).catch_up()  # builds and saves the snapshot
        old_id = store.store_id
    assert len(list(snap.glob("*.ctidx"))) == 1
    _delete_store(db_url)
    with Store(db_url) as store:
        store.add_items("news", [ItemRecord("new", fingerprint(text_000), text_000)], create=DEFAULT_PARAMS)
        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(snap))
        assert live.catch_up() == 1 and store.store_id != old_id
        assert live.match(speech) == [] and [m.item_id for m in live.match(text_001)] == ["new"]
        new_id = store.store_id
    (kept,) = snap.glob("*.ctidx")  # the old store's snapshot is deleted
    assert new_id[:12] in kept.name and old_id[:12] not in "".join(p.name for p in snap.iterdir())


def test_a_snapshot_of_another_store_copied_into_place_is_deleted(
    tmp_path: Path,
    text_000: str,
    text_001: str,
    state_union: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    speech = next(iter(state_union.values()))
    snap = tmp_path / "snap"
    with Store(str(tmp_path / "a.db")) as a, Store(str(tmp_path / "b.db")) as b:
        a.add_items("news", [ItemRecord("a-item", fingerprint(speech), speech)], create=DEFAULT_PARAMS)
        b.add_items("news", [ItemRecord("b-item", fingerprint(text_000), text_000)], create=DEFAULT_PARAMS)
        LiveIndex(a, PUBLIC_KEY, snapshot_dir=str(snap)).catch_up()
        (theirs,) = snap.glob("*.ctidx")
        LiveIndex(b, PUBLIC_KEY, snapshot_dir=str(snap)).catch_up()
        (ours,) = set(snap.glob("*.ctidx")) - {theirs}
        ours.unlink()
        shutil.copyfile(theirs, ours)  # same generation, the name the service looks for
        live = LiveIndex(b, PUBLIC_KEY, snapshot_dir=str(snap))
        live.catch_up()
        assert "deleting snapshot" in caplog.text and "was made from store" in caplog.text
        assert live.match(speech) == [] and [m.item_id for m in live.match(text_001)] == ["b-item"]


def test_a_store_replaced_under_a_running_index_is_noticed_at_the_next_poll(
    postgres_admin_url: str, tmp_path: Path, text_000: str, text_001: str, state_union: dict[str, str]
) -> None:
    db = create_database(postgres_admin_url, f"replaced_{os.getpid()}_{time.monotonic_ns()}")
    speech = next(iter(state_union.values()))
    with Store(db) as store:
        store.add_items("news", [ItemRecord("old", fingerprint(speech), speech)], create=DEFAULT_PARAMS)
        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap"))
        live.catch_up()
        assert [m.item_id for m in live.match(speech)] == ["old"]
        _delete_store(db)
        with Store(db) as other:
            other.add_items(
                "news", [ItemRecord("new", fingerprint(text_000), text_000)], create=DEFAULT_PARAMS
            )
        assert live.catch_up() == 1
        assert live.match(speech) == [] and [m.item_id for m in live.match(text_001)] == ["new"]


_TRUNCATED = textwrap.dedent(
    """
    import logging, os, sys
    from pathlib import Path
    from copytrace.fingerprints.keys import PUBLIC_KEY
    from copytrace.banks.live import LiveIndex
    from copytrace.banks import Store
    logging.basicConfig(level=logging.WARNING)
    db, snap, texts = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
    live = LiveIndex(Store(db), PUBLIC_KEY, snapshot_dir=str(snap))
    live.catch_up()
    (path,) = snap.glob("*.ctidx")
    os.chmod(path, 0o644)
    os.truncate(path, 4096)  # another program cuts the mapped file: its arrays are gone
    live.catch_up()  # the next poll
    for text in texts:
        print(" ".join(m.item_id for m in live.match(Path(text).read_text())), flush=True)
    """
)


def test_a_snapshot_truncated_under_the_index_is_noticed_and_the_index_built_again(
    tmp_path: Path, speeches: tuple[str, list[str]], state_union: dict[str, str]
) -> None:
    """Reading a page cut off a mapped file kills the process (SIGBUS): the follower checks the mapped file
    at every poll and stops using it once it changed, before a query reads it."""
    db, names = speeches
    texts = []
    for name in names[:3]:
        texts.append(tmp_path / f"{name}.txt")
        texts[-1].write_text(state_union[name])
    out = subprocess.run(
        [sys.executable, "-c", _TRUNCATED, db, str(tmp_path / "snap"), *map(str, texts)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found = out.stdout.splitlines()
    assert len(found) == 3 and all(name in line.split() for name, line in zip(names, found, strict=False))
    assert "was changed by another program while mapped (" in out.stderr
    assert list((tmp_path / "snap").glob("*.ctidx.damaged"))


def test_the_service_removes_what_killed_workers_left_in_its_snapshot_folder(
    tmp_path: Path, speeches: tuple[str, list[str]]
) -> None:
    from .test_cache_dir import _killed_writer

    db, _ = speeches
    snap = tmp_path / "snap"
    _killed_writer(snap)
    assert len(list(snap.glob("copytrace-build-*"))) == 1 and len(list(snap.glob("*.tmp"))) == 1
    with Store(db) as store:
        LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(snap)).catch_up()
    assert not list(snap.glob("copytrace-build-*")) and not list(snap.glob("*.tmp"))


def test_a_snapshot_folder_others_can_write_to_is_not_used(
    tmp_path: Path, text_000: str, caplog: pytest.LogCaptureFixture
) -> None:
    snap = tmp_path / "snap"
    snap.mkdir()
    snap.chmod(0o777)
    with Store(str(tmp_path / "s.db")) as store:
        store.add_items("news", [ItemRecord("000", fingerprint(text_000), text_000)], create=DEFAULT_PARAMS)
        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(snap))
        live.catch_up()
        assert [m.item_id for m in live.match(text_000)] == ["000"]  # from an index held in memory
    assert list(snap.iterdir()) == []
    assert (
        f"not using the cache folder {snap} for index snapshots: other users can write to it" in caplog.text
    )


# ------------------------------------------------------------------------------------------- start-up
def test_read_ahead_yields_every_item_in_order_and_raises_where_the_source_failed() -> None:
    def source() -> Iterator[int]:
        yield from range(50)
        raise ValueError("row 50 is unreadable")

    got: list[int] = []
    with pytest.raises(ValueError, match="row 50"):
        for item in read_ahead(source(), depth=2):
            got.append(item)
    assert got == list(range(50))
    assert list(read_ahead(iter(range(7)))) == list(range(7))
    assert list(read_ahead([])) == []


def test_read_ahead_stops_its_thread_when_the_consumer_stops_early() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(1_000_000):
            produced.append(i)
            yield i

    before = {t.ident for t in threading.enumerate()}
    reader = read_ahead(source(), depth=2)
    assert [next(reader) for _ in range(3)] == [0, 1, 2]
    reader.close()
    assert {t.ident for t in threading.enumerate()} <= before  # the reading thread has ended
    assert len(produced) < 10  # it read at most a few items ahead, never the whole source


def test_a_snapshot_built_with_read_ahead_is_the_one_built_batch_after_batch(
    tmp_path: Path, state_union: dict[str, str]
) -> None:
    """``build_snapshot`` reads the next batches in a thread while the builder works, and the phrases in
    another: the file is the one the plain loop writes, and an unreadable row is still reported and left
    out."""
    db = str(tmp_path / "store.db")
    names = sorted(state_union)[:12]
    slogans = {"s1": "stop the steal now", "s2": "they shall not pass", "short": "burn it all down today"}
    with Store(db) as store:
        store.create_bank("speeches", DEFAULT_PARAMS)
        store.create_bank("slogans", DEFAULT_PARAMS, phrases=True)
        for name in names:
            store.add_items("speeches", [ItemRecord(name, fingerprint(state_union[name]), state_union[name])])
        for item_id, text in slogans.items():
            fp = fingerprint(text, allow_short=True)
            bank = "speeches" if item_id == "short" else "slogans"
            phrase = item_phrase(text, fp, phrase_bank=bank == "slogans")
            assert phrase is not None
            store.add_items(bank, [ItemRecord(item_id, fp, text, phrase=phrase)])
    _insert_raw(db, "speeches", "broken", "ctw1:garbage")
    params = DEFAULT_PARAMS
    source = origin("s", 1, "*", params)
    banks = ["speeches", "slogans"]
    with Store(db) as store:
        bad_plain: list[str] = []
        with SnapshotBuilder(tmp_path / "plain.ctidx", params, origin=source) as builder:
            for bank, ids, batch, links in stored_batches(
                store, banks, params, on_bad=lambda b, i, e: bad_plain.append(i), size=5
            ):
                builder.add(bank, ids, batch, links)
            phrases = stored_phrases(store, banks, params, on_bad=lambda b, i, e: bad_plain.append(i))
            assert len(phrases) == 3
            for only in (False, True):
                builder.add_phrases([x for x in phrases if (x[0] == "slogans") == only], phrase_only=only)
        bad_ahead: list[str] = []
        build_snapshot(
            store,
            tmp_path / "ahead.ctidx",
            params,
            banks,
            phrase_banks={"slogans"},
            origin=source,
            on_bad=lambda b, i, e: bad_ahead.append(i),
        )
    assert bad_plain == bad_ahead == ["broken"]
    assert (tmp_path / "ahead.ctidx").read_bytes() == (tmp_path / "plain.ctidx").read_bytes()
    index = Index.load(tmp_path / "ahead.ctidx")
    assert [m.item_id for m in index.match("they said: stop the steal now!")] == ["s1"]


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="SciPy is not installed")
def test_a_live_index_starts_without_importing_scipys_linear_algebra(
    tmp_path: Path, speeches: tuple[str, list[str]], state_union: dict[str, str]
) -> None:
    """Numba's BLAS probe would import all of ``scipy.linalg`` at the first compiled function (a quarter
    of a second of each worker's start): the live index loads Numba's array support with it hidden, and
    matches as before."""
    db, names = speeches
    script = textwrap.dedent(
        f"""
        import sys
        from copytrace.banks import Store
        from copytrace.banks.live import LiveIndex
        from copytrace.fingerprints.keys import PUBLIC_KEY
        store = Store({db!r})
        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir={str(tmp_path / "snap")!r})
        live.start()
        assert live.wait_ready(120)
        found = [m.item_id for m in live.match(sys.stdin.read())]
        live.stop()
        import scipy  # still importable, for any library that wants it
        print(found, "scipy.linalg" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=state_union[names[3]],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split()
    assert out[-1] == "False"
    assert repr(names[3]) in " ".join(out[:-1])


def test_applying_the_first_added_item_loads_no_kernel(tmp_path: Path, state_union: dict[str, str]) -> None:
    """The start loads the kernels that applying an addition runs (parsing its stored fingerprint, adding
    it, merging it), on a scratch index: the first item added through a worker no longer pays for them
    (0.4 s at a million items with linking's, the p99 of the adds)."""
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        store.create_bank("speeches", DEFAULT_PARAMS)
        for name in sorted(state_union)[:5]:
            store.add_items("speeches", [ItemRecord(name, fingerprint(state_union[name]), state_union[name])])
        LiveIndex(store, PUBLIC_KEY, snapshot_dir=str(tmp_path / "snap")).catch_up()  # nothing to replay
    script = textwrap.dedent(
        f"""
        import sys
        import numba.core.dispatcher as dispatcher
        from copytrace import fingerprint
        from copytrace.banks import Store
        from copytrace.banks.live import LiveIndex
        from copytrace.fingerprints.keys import PUBLIC_KEY
        from copytrace.store import ItemRecord
        store = Store({db!r})
        live = LiveIndex(store, PUBLIC_KEY, snapshot_dir={str(tmp_path / "snap")!r})
        live.start()
        assert live.wait_ready(120)
        text = sys.stdin.read()
        store.add_items("speeches", [ItemRecord("new", fingerprint(text), text)])
        loaded = []
        load = dispatcher.Dispatcher._compile_for_args
        def counted(self, *args, **kwargs):
            loaded.append(self.py_func.__name__)
            return load(self, *args, **kwargs)
        dispatcher.Dispatcher._compile_for_args = counted
        live.catch_up()
        applying = list(loaded)
        assert "new" in [m.item_id for m in live.match(text)]
        live.stop()
        print(applying)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=state_union[sorted(state_union)[30]],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout.split("\n")
    applying = [line for line in out if line.strip()][-1]
    # only the hashing of names added to the snapshot's own name table is left to the first addition
    assert applying in ("[]", "['_fnv']")
