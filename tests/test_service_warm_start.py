"""What a service worker prepares before it serves, so that the first item posted through it costs what the
next ones do: the store's statements of an add and a removal compiled (``Store.warm_up``), and the index it
mapped from a snapshot given room for new items (``Contents.make_room``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.default import CACHE_MISS
from sqlalchemy.exc import OperationalError

from copytrace import DEFAULT_PARAMS, fingerprint
from copytrace.banks import LiveIndex, Store
from copytrace.banks import live as live_module
from copytrace.fingerprints.keys import PUBLIC_KEY
from copytrace.index import _contents
from copytrace.service import ServiceConfig, create_app
from copytrace.store import ItemRecord
from copytrace.store import Store as Records
from copytrace.store.api_keys import create_key


@contextmanager
def compiled(engine: Engine) -> Iterator[list[str]]:
    """The statements run on ``engine`` meanwhile that SQLAlchemy compiled (not found in its cache)."""
    generated: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if context is not None and getattr(context, "cache_hit", None) is CACHE_MISS:
            generated.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield generated
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_warm_up_compiles_an_add_and_a_removal_and_stores_nothing(tmp_path: Path, text_000: str) -> None:
    with Records(str(tmp_path / "store.db")) as store:  # the store's writes, without the bank layer's linking
        store.create_bank("news", DEFAULT_PARAMS)
        before = (store.generation(), [b.name for b in store.banks()])
        with compiled(store.engine) as generated:
            store.warm_up()
        assert generated  # it compiled them
        assert (store.generation(), [b.name for b in store.banks()]) == before  # rolled back
        with compiled(store.engine) as generated:
            store.add_items("news", [ItemRecord("a", fingerprint(text_000), text_000)])
            store.add_items("news", [ItemRecord("a", fingerprint(text_000), text_000)], replace=True)
            store.remove_item("news", "a")
        assert generated == []
        assert store.generation() == before[0] + 3


def test_the_first_post_through_a_worker_compiles_no_statement_and_copies_no_array(
    tmp_path: Path, text_000: str, state_union: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "store.db")
    with Store(db) as store:
        _, key = create_key(store, "ops", "admin")
        store.create_bank("news", DEFAULT_PARAMS)
        names = sorted(state_union)[:6]
        store.add_items("news", [ItemRecord(n, fingerprint(state_union[n]), state_union[n]) for n in names])
    copied: list[int] = []  # rows of the arrays copied into larger ones
    grown = _contents._grown

    def counted(array: np.ndarray, rows: int) -> np.ndarray:
        if len(array):  # not the empty arrays of a new scratch index (linking the items of one call)
            copied.append(len(array))
        return grown(array, rows)

    monkeypatch.setattr(_contents, "_grown", counted)
    app = create_app(ServiceConfig(db=db, snapshot_dir=str(tmp_path / "snapshots"), poll_seconds=3600))
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        live = app.state.ctx.live
        assert live.wait_ready(120)
        assert live._mapped is not None  # the worker maps the snapshot it built
        assert c.post("/v1/match", json={"text": text_000}).status_code == 200  # the request's own reads
        copied.clear()
        with compiled(app.state.ctx.store.engine) as generated:
            posted = c.post("/v1/banks/news/items", json={"id": "speech", "text": text_000})
            removed = c.delete("/v1/banks/news/items/speech")
        assert (posted.status_code, removed.status_code) == (201, 200)
        assert generated == []
        assert copied == []
        again = c.post("/v1/banks/news/items", json={"id": "speech", "text": text_000})
        assert again.status_code == 201
        assert [m["item_id"] for m in c.post("/v1/match", json={"text": text_000}).json()["matches"]] == [
            "speech"
        ]


def test_warm_up_gives_way_to_another_writer_at_once(tmp_path: Path) -> None:
    """A writer holding SQLite's lock (a bulk import) fails the warm-up at once, not after the store's
    ``busy_timeout`` (an hour here: the test would not end), and the connection keeps that timeout."""
    path = tmp_path / "store.db"
    with Records(str(path), busy_timeout=3600) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(OperationalError, match="locked"):
                store.warm_up()
        finally:
            other.execute("ROLLBACK")
            other.close()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 3_600_000
        store.warm_up()  # the lock is free again


def test_the_first_post_to_a_bank_finds_the_mask_of_its_items_made(
    tmp_path: Path, text_000: str, state_union: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "store.db")
    names = sorted(state_union)
    with Store(db) as store:
        _, key = create_key(store, "ops", "admin")
        for bank, banked in (("news", names[:4]), ("blogs", names[4:8])):
            store.create_bank(bank, DEFAULT_PARAMS)
            store.add_items(
                bank, [ItemRecord(n, fingerprint(state_union[n]), state_union[n]) for n in banked]
            )
    made: list[tuple[str, ...]] = []  # the masks of a bank's items made for the live index meanwhile
    allowed = _contents.Contents.allowed

    def noted(self: _contents.Contents, banks: Any) -> np.ndarray:
        key = None if banks is None else tuple(sorted(set(banks)))
        if key is not None and key not in self.allowed_cache and len(self.names) > 2:  # not a scratch index
            made.append(key)
        return allowed(self, banks)

    monkeypatch.setattr(_contents.Contents, "allowed", noted)
    app = create_app(ServiceConfig(db=db, snapshot_dir=str(tmp_path / "snapshots"), poll_seconds=3600))
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        assert app.state.ctx.live.wait_ready(120)
        assert sorted(made) == [("blogs",), ("news",)]  # made before the worker serves
        made.clear()
        version = state_union[names[1]] + "\nPosted again."
        for bank in ("news", "blogs"):
            assert c.post(f"/v1/banks/{bank}/items", json={"id": "again", "text": version}).status_code == 201
        assert made == []
        body = {"text": version, "all_versions": True, "banks": ["news"]}
        families = {m["item_id"]: m["family_size"] for m in c.post("/v1/match", json=body).json()["matches"]}
        assert families[names[1]] == 2  # the post linked to its banked version


@contextmanager
def lock_held(path: Path) -> Iterator[sqlite3.Connection]:
    """SQLite's write lock on the store at ``path`` held by another connection until it is rolled back."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()


def test_a_worker_whose_warm_up_finds_the_lock_held_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The workers of one server warm up at once, each in a transaction that takes SQLite's write lock: the
    one that finds the other's lock held tries again once it is free, and its first post compiles
    nothing (before, it gave up at once and compiled the statements in its first post)."""
    path = tmp_path / "store.db"
    store = Store(str(path))
    with store:
        store.create_bank("news", DEFAULT_PARAMS)
        live = LiveIndex(store, PUBLIC_KEY)
        tries: list[bool] = []  # whether the lock was held at each try
        warm_up = store.warm_up
        with lock_held(path) as other:

            def warm_up_after_the_first_try() -> None:
                tries.append(other.in_transaction)
                if len(tries) == 2:  # the other worker's warm-up is over
                    other.execute("ROLLBACK")
                warm_up()

            monkeypatch.setattr(store, "warm_up", warm_up_after_the_first_try)
            live._warm_up_store()
        monkeypatch.setattr(store, "warm_up", warm_up)
        assert tries == [True, True]
        assert "cannot prepare" not in caplog.text
        with compiled(store.engine) as generated:
            store.warm_up()  # what a first post runs: all compiled already
        assert generated == []


def test_a_start_waits_for_a_lock_held_long_only_so_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A writer that holds the lock throughout (a bulk import) lets the start go on after
    ``_STORE_WARM_UP_WAIT``, not the store's ``busy_timeout`` (an hour here), with a warning."""
    path = tmp_path / "store.db"
    monkeypatch.setattr(live_module, "_STORE_WARM_UP_WAIT", 0.05)
    store = Store(str(path), busy_timeout=3600)
    with store:
        live = LiveIndex(store, PUBLIC_KEY)
        tries: list[int] = []
        warm_up = store.warm_up

        def counted() -> None:
            tries.append(1)
            warm_up()

        monkeypatch.setattr(store, "warm_up", counted)
        with lock_held(path), caplog.at_level("WARNING", logger="copytrace.service"):
            live._warm_up_store()
        assert len(tries) > 1
        assert "cannot prepare the store's statements before serving" in caplog.text


def test_the_first_match_through_a_worker_compiles_no_statement(
    tmp_path: Path, state_union: dict[str, str]
) -> None:
    """A worker looks up a key and matches a banked item's text before it serves: the first request with a
    key and the first match that finds items (reading their texts for the quote pass) compile nothing
    (before, the key's statement and those reading texts were compiled in the worker's first requests)."""
    db = str(tmp_path / "store.db")
    names = sorted(state_union)[:6]
    with Store(db) as store:
        _, key = create_key(store, "ops", "admin")
        store.create_bank("news", DEFAULT_PARAMS)
        store.add_items("news", [ItemRecord(n, fingerprint(state_union[n]), state_union[n]) for n in names])
    app = create_app(ServiceConfig(db=db, snapshot_dir=str(tmp_path / "snapshots"), poll_seconds=3600))
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        assert app.state.ctx.live.wait_ready(120)
        warming = getattr(app.state, "keys_warm_up", None)
        if warming is not None:  # the key lookup runs beside the index's load
            warming.join(60)
        with compiled(app.state.ctx.store.engine) as generated:
            found = c.post("/v1/match", json={"text": state_union[names[3]]})
        assert found.status_code == 200
        assert names[3] in [m["item_id"] for m in found.json()["matches"]]
        assert generated == []
