"""The bank store on SQLite: migrations, atomic adds, durability across a crash, the derived index."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import SQLAlchemyError

from copytrace import (
    DEFAULT_PARAMS,
    DuplicateItemError,
    FingerprintFormatError,
    ParameterMismatchError,
    StoreError,
    UnknownBankError,
    UnknownItemError,
    fingerprint,
)
from copytrace.banks import Store
from copytrace.errors import InvalidNameError
from copytrace.fingerprints.fingerprint import FingerprintParams
from copytrace.store import ItemRecord


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """The same contract on every backend: SQLite and a real PostgreSQL."""
    with Store(db_url) as s:
        yield s


def _rec(item_id: str, text: str, **kw: object) -> ItemRecord:
    return ItemRecord(item_id, fingerprint(text), text, **kw)  # type: ignore[arg-type]


def test_schema_is_at_the_newest_migration(store: Store) -> None:
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == "0006"
    Store(store.url).close()  # opening again is a no-op


def test_a_store_of_the_first_schema_is_upgraded_with_its_data(db_url: str, text_000: str) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    from copytrace.store.store import _alembic_config, to_url

    engine = create_engine(to_url(db_url))
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(
            text("INSERT INTO banks (id, name, params, created_at) VALUES (1, 'old', :p, :t)"),
            {"p": "ctw1:n1:k5:w4:public", "t": "2026-11-01 00:00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO items (bank_id, item_id, text, fingerprint, labels, metadata, added_at) "
                "VALUES (1, '000', :x, :f, '[]', '{}', :t)"
            ),
            {"x": text_000, "f": str(fingerprint(text_000)), "t": "2026-11-01 00:00:00"},
        )
    engine.dispose()
    with Store(db_url) as store:
        assert store.get_item("old", "000").text == text_000 and store.generation() == 0
        store.remove_item("old", "000")
        assert store.generation() == 1


def test_built_index_is_cached_until_the_store_changes(
    store: Store, text_000: str, text_001: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPYTRACE_CACHE", str(tmp_path / "cache"))
    store.create_bank("news", DEFAULT_PARAMS)
    store.add_items("news", [_rec("000", text_000)])
    first = store.build_index().match(text_001)
    assert len(list((tmp_path / "cache").glob("index-*.ctidx"))) == 1
    real = store.iter_fingerprints
    monkeypatch.setattr(store, "iter_fingerprints", lambda banks: pytest.fail("rebuilt instead of loaded"))
    assert store.build_index().match(text_001) == first  # loaded, spans from the store's text
    monkeypatch.setattr(store, "iter_fingerprints", real)
    store.add_items("news", [_rec("001", text_001)])
    assert {m.item_id for m in store.build_index().match(text_001, per_family=False)} == {"000", "001"}
    assert len(list((tmp_path / "cache").glob("index-*.ctidx"))) == 1  # the stale one is gone


def test_add_get_remove(store: Store, text_000: str) -> None:
    assert store.create_bank("news", DEFAULT_PARAMS) is True
    assert store.create_bank("news", DEFAULT_PARAMS) is False
    store.add_items("news", [_rec("000", text_000, labels=["glorification"], metadata={"src": "mehr"})])
    got = store.get_item("news", "000")
    assert got.text == text_000 and got.labels == ["glorification"] and got.metadata == {"src": "mehr"}
    assert got.fingerprint == fingerprint(text_000)
    assert [(b.name, b.n_items) for b in store.banks()] == [("news", 1)]
    store.remove_item("news", "000")
    with pytest.raises(UnknownItemError):
        store.remove_item("news", "000")
    with pytest.raises(UnknownBankError):
        store.add_items("nope", [])


def test_a_failing_add_stores_nothing(store: Store, text_000: str, text_001: str) -> None:
    store.create_bank("news", DEFAULT_PARAMS)
    store.add_items("news", [_rec("000", text_000)])
    with pytest.raises(DuplicateItemError):
        store.add_items("news", [_rec("001", text_001), _rec("000", text_000)])
    assert store.bank("news").n_items == 1
    store.add_items("news", [_rec("000", text_001)], replace=True)
    assert store.get_item("news", "000").text == text_001


def test_banks_keep_their_parameters(store: Store, text_000: str) -> None:
    store.create_bank("keyed", FingerprintParams(key_id="0123456789abcdef"))
    with pytest.raises(ParameterMismatchError):
        store.add_items("keyed", [_rec("000", text_000)])
    with pytest.raises(ParameterMismatchError):
        store.create_bank("keyed", DEFAULT_PARAMS)


def test_index_built_from_the_store_has_item_spans(store: Store, text_000: str, text_001: str) -> None:
    store.create_bank("news", DEFAULT_PARAMS)
    store.create_bank("fp", DEFAULT_PARAMS)
    store.add_items("news", [_rec("000", text_000)])
    store.add_items("fp", [ItemRecord("000", fingerprint(text_000), None)])
    index = store.build_index()
    by_bank = {m.bank: m for m in index.match(text_001)}
    news, fp = by_bank["news"], by_bank["fp"]
    s = news.spans[0]
    assert text_000[s.item_start : s.item_end].startswith("We don't sleep")
    assert all(s.item_start is None for s in fp.spans)
    assert [m.bank for m in store.build_index(["fp"]).match(text_001)] == ["fp"]


def test_a_crash_during_an_add_loses_nothing_acknowledged(db_url: str, text_000: str) -> None:
    db = db_url
    script = textwrap.dedent(
        f"""
        import os
        from copytrace import fingerprint, DEFAULT_PARAMS
        from copytrace.banks import Store
        from copytrace.store import ItemRecord
        store = Store({db!r})
        store.create_bank("b", DEFAULT_PARAMS)
        text = open({str(Path(__file__).parent / "golden" / "fingerprints_v1.json")!r}).read()
        store.add_items("b", [ItemRecord("acknowledged", fingerprint(text), text)])
        print("acknowledged", flush=True)
        def records():
            for n in range(5):  # versions of one text: each is linked to all before it
                yield ItemRecord(f"half-{{n}}", fingerprint(text + str(n)), text)
            os._exit(9)  # the process dies in the middle of the transaction
        store.add_items("b", records())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9 and "acknowledged" in proc.stdout
    with Store(db) as store:
        assert [b.n_items for b in store.banks()] == [1]
        assert store.get_item("b", "acknowledged").text


def test_the_migrations_build_exactly_the_models_tables(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext as Context

    from copytrace.store.models import Base

    with Store(db_url) as store, store.engine.connect() as conn:
        diff = compare_metadata(Context.configure(conn), Base.metadata)
    assert diff == []


def test_every_change_is_in_the_feed_and_the_audit_log(store: Store, text_000: str, text_001: str) -> None:
    from copytrace.store.audit_log import audit_entries
    from copytrace.store.feed import changes_since

    start = store.generation()
    store.create_bank("b", FingerprintParams())
    store.add_items("b", [ItemRecord("1", fingerprint(text_000), text_000)], actor="key:ops")
    store.add_items("b", [ItemRecord("2", fingerprint(text_001))])
    store.remove_item("b", "1")
    assert store.create_bank("b", FingerprintParams()) is False  # no change: no generation, no entry
    changes = list(changes_since(store, start, store.generation()))
    assert [(c.op, c.item_id) for c in changes] == [
        ("create_bank", None),
        ("add", "1"),
        ("add", "2"),
        ("remove", "1"),
    ]
    assert changes[1].fingerprint is None and changes[2].fingerprint == str(fingerprint(text_001))
    assert [c.generation for c in changes] == list(range(start + 1, start + 5))
    entries = audit_entries(store, limit=10)
    assert [(e.action, e.item_id) for e in entries] == [
        ("remove_item", "1"),
        ("add_item", "2"),
        ("add_item", "1"),
        ("create_bank", None),
    ]
    assert entries[2].actor == "key:ops" and entries[0].actor.startswith("local")


def test_records_are_read_before_the_write_lock_is_taken(tmp_path: Path, text_000: str) -> None:
    """A slow producer (fingerprinting 40k files) must not hold the lock: another writer gets through."""
    db = str(tmp_path / "s.db")
    with Store(db) as store, Store(db, busy_timeout=0.2) as other:
        store.create_bank("news", DEFAULT_PARAMS)

        def records() -> Iterator[ItemRecord]:
            yield _rec("000", text_000)
            assert other.create_bank("meanwhile", DEFAULT_PARAMS)  # "database is locked" if the lock is held
            yield _rec("001", text_000 + " more")

        assert store.add_items("news", records()) == 2
        assert {b.name: b.n_items for b in store.banks()} == {"meanwhile": 0, "news": 2}


def test_a_bank_is_created_in_the_transaction_of_its_first_items(store: Store, text_000: str) -> None:
    start = store.generation()
    keyed = FingerprintParams(key_id="0123456789abcdef")
    with pytest.raises(ParameterMismatchError):  # a public item for a keyed bank: nothing stored, no bank
        store.add_items("shared", [_rec("000", text_000)], create=keyed)
    assert store.banks() == [] and store.generation() == start
    assert store.add_items("news", [_rec("000", text_000)], create=DEFAULT_PARAMS) == 1
    assert [(b.name, b.n_items) for b in store.banks()] == [("news", 1)]
    assert store.generation() == start + 1  # one change: the bank and its item together
    with pytest.raises(ParameterMismatchError, match="bank 'news'"):
        store.add_items("news", [], create=keyed)


def test_a_first_add_killed_leaves_no_bank(db_url: str, text_000: str) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from copytrace import fingerprint, DEFAULT_PARAMS
        from copytrace.banks import Store
        from copytrace.store import ItemRecord
        store = Store({db_url!r})
        text = {text_000!r}
        def records():
            for n in range(5):
                yield ItemRecord(f"item-{{n}}", fingerprint(text + str(n)), text)
            os._exit(9)
        store.add_items("b", records(), create=DEFAULT_PARAMS)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    with Store(db_url) as store:
        assert store.banks() == []


@pytest.mark.parametrize(
    ("bank", "item_id", "message"),
    [("bad name", "000", "bad bank name"), ("news", "a\x1bb", "bad item id"), ("news", "..", "bad item id")],
    ids=["bank-name", "control-in-id", "dotdot-id"],
)
def test_names_and_ids_are_checked(
    store: Store, text_000: str, bank: str, item_id: str, message: str
) -> None:
    with pytest.raises(InvalidNameError, match=message):
        store.add_items(bank, [_rec(item_id, text_000)], create=DEFAULT_PARAMS)
    with pytest.raises(InvalidNameError, match="bad bank name"):
        store.create_bank("\x1b]0;pwned\x07", DEFAULT_PARAMS)
    assert store.banks() == []


def test_an_unreadable_stored_fingerprint_is_quarantined(
    store: Store, text_000: str, text_001: str, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import update

    from copytrace.store.models import ItemRow

    store.add_items("news", [_rec("000", text_000), _rec("bad", text_001)], create=DEFAULT_PARAMS)
    with store.session() as s, s.begin():
        s.execute(
            update(ItemRow).where(ItemRow.item_id == "bad").values(fingerprint="ctw1:n1:k5:w4:public:!")
        )
    with caplog.at_level("WARNING", logger="copytrace.store"):
        index = store.build_index(cache=False)
    assert [m.item_id for m in index.match(text_001)] == ["000"]
    (record,) = caplog.records
    assert "skipped item 'bad' of bank 'news'" in record.getMessage()
    with pytest.raises(FingerprintFormatError, match="item 'bad' of bank 'news'"):
        store.get_item("news", "bad")


def test_banks_of_other_parameters_are_left_out_of_a_default_index(store: Store, text_000: str) -> None:
    odd = FingerprintParams(k=32, window=1024)
    store.add_items("big", [ItemRecord("x", fingerprint(text_000, k=32, window=1024))], create=odd)
    with pytest.raises(ParameterMismatchError, match="no bank can be searched with ctw1:n1:k5:w4:public"):
        store.build_index()
    store.add_items("news", [_rec("000", text_000)], create=DEFAULT_PARAMS)
    selection = store.banks_for(DEFAULT_PARAMS)
    assert (selection.searched, selection.left_out) == (["news"], {"big": str(odd)})
    assert {m.bank for m in store.build_index().match(text_000)} == {"news"}
    assert {m.bank for m in store.build_index(["big"]).match(text_000)} == {"big"}


def test_a_reading_store_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        Store(str(tmp_path / "missing" / "x.db"), create=False)
    assert not (tmp_path / "missing").exists()


def test_schema_head_is_the_newest_migration() -> None:
    """A store at ``SCHEMA_HEAD`` is opened without Alembic: it must name the newest migration."""
    from alembic.script import ScriptDirectory

    from copytrace.store.schema import SCHEMA_HEAD
    from copytrace.store.store import _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == SCHEMA_HEAD


def test_opening_a_current_store_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = str(tmp_path / "store.db")
    Store(db).close()  # created and migrated
    code = f"import sys; from copytrace.store import Store; Store({db!r}).close(); print('alembic' in sys.modules)"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


SLOGAN = "Death to the occupiers, burn their homes"


def test_phrase_banks_and_phrases_are_stored_and_indexed(store: Store, text_000: str) -> None:
    from copytrace.phrases import phrase_fingerprint

    params = FingerprintParams()
    assert store.create_bank("chants", params, phrases=True)
    assert not store.create_bank("chants", params, phrases=True)
    with pytest.raises(StoreError, match="is a phrase bank"):
        store.create_bank("chants", params)
    with pytest.raises(StoreError, match="phrase bank: item 'a' has no phrase"):
        store.add_items("chants", [_rec("a", text_000)])
    slogan = phrase_fingerprint(SLOGAN)
    store.add_items("chants", [ItemRecord("s", fingerprint(SLOGAN), SLOGAN, phrase=slogan)])
    store.add_items("news", [_rec("000", text_000)], create=params)
    assert store.phrase_banks() == {"chants"}
    assert {b.name: b.phrases for b in store.banks()} == {"chants": True, "news": False}
    assert store.get_item("chants", "s").phrase == slogan
    assert list(store.iter_phrases(["chants", "news"])) == [("chants", "s", slogan)]
    for cache in (True, False):
        index = store.build_index(["chants", "news"], cache=cache)
        found = index.match("so: d3ath t0 the occupiers burn their homes " + text_000[:2000])
        assert sorted((m.item_id, m.kind) for m in found) == [("000", "text"), ("s", "phrase")], cache


def _delete_store(db_url: str) -> None:
    """What ``rm store.db`` does, on either backend: every table gone."""
    if "://" not in db_url:
        for path in Path(db_url).parent.glob(Path(db_url).name + "*"):
            path.unlink()
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def test_a_store_made_again_at_the_same_url_is_not_answered_from_the_old_cache(
    db_url: str, text_000: str, text_001: str, state_union: dict[str, str], tmp_path: Path
) -> None:
    """Deleted and made again, a store starts at the same generation: only its id tells its snapshot from
    the old store's, which held other items."""
    speech = next(iter(state_union.values()))
    with Store(db_url) as store:
        store.add_items("news", [_rec("old", speech)], create=DEFAULT_PARAMS)
        assert [m.item_id for m in store.build_index().match(speech)] == ["old"]  # cached
        old_id, generation = store.identity()
    _delete_store(db_url)
    with Store(db_url) as store:
        store.add_items("news", [_rec("new", text_000)], create=DEFAULT_PARAMS)
        assert store.identity()[1] == generation and store.store_id != old_id
        index = store.build_index()
        assert index.match(speech) == [] and [m.item_id for m in index.match(text_001)] == ["new"]
        cached = list(Path(os.environ["COPYTRACE_CACHE"]).glob(store.snapshots.prefix() + "*.ctidx"))
        assert [p.name for p in cached] == [
            store.snapshots.path(["news"], DEFAULT_PARAMS, 1, store.store_id).name
        ]


@pytest.mark.parametrize("how", ["copied", "linked"])
def test_a_snapshot_of_another_store_at_the_cache_path_is_not_believed(
    tmp_path: Path,
    text_000: str,
    text_001: str,
    state_union: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    speech = next(iter(state_union.values()))
    with Store(str(tmp_path / "a.db")) as a, Store(str(tmp_path / "b.db")) as b:
        a.add_items("news", [_rec("a-item", speech)], create=DEFAULT_PARAMS)
        b.add_items("news", [_rec("b-item", text_000)], create=DEFAULT_PARAMS)
        a.build_index()
        (theirs,) = Path(os.environ["COPYTRACE_CACHE"]).glob(a.snapshots.prefix() + "*.ctidx")
        ours = b.snapshots.path(["news"], DEFAULT_PARAMS, b.generation(), b.store_id)
        if how == "copied":
            shutil.copyfile(theirs, ours)
        else:
            ours.symlink_to(theirs)
        index = b.build_index()
        assert index.match(speech) == [] and [m.item_id for m in index.match(text_001)] == ["b-item"]
        assert "rebuilding the cached index" in caplog.text
        assert ours.is_file() and not ours.is_symlink()
        assert [m.item_id for m in b.build_index().match(text_001)] == ["b-item"]  # the rebuilt one is used


def test_the_cache_is_private_and_its_snapshots_read_only(
    store: Store, text_000: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPYTRACE_CACHE", str(tmp_path / "new" / "cache"))
    store.add_items("news", [_rec("000", text_000)], create=DEFAULT_PARAMS)
    store.build_index()
    assert stat.S_IMODE((tmp_path / "new" / "cache").stat().st_mode) == 0o700
    (snap,) = (tmp_path / "new" / "cache").glob("*.ctidx")
    assert stat.S_IMODE(snap.stat().st_mode) == 0o444


def test_a_cache_folder_others_can_write_to_is_not_used(
    store: Store,
    text_000: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("COPYTRACE_CACHE", str(shared))
    store.add_items("news", [_rec("000", text_000)], create=DEFAULT_PARAMS)
    assert [m.item_id for m in store.build_index().match(text_000)] == ["000"]  # built in memory
    assert list(shared.iterdir()) == []
    assert "other users can write to it (mode 777); chmod 700" in caplog.text


def test_a_generation_that_cannot_be_read_raises_the_store_error_every_read_raises(tmp_path: Path) -> None:
    """``generation`` reads with the driver's cursor: a driver's error still comes as SQLAlchemy's (what
    ``/health`` and the index's follower catch), and the store reads again once it can."""
    db = tmp_path / "store.db"
    with Store(str(db)) as store:
        assert store.generation() == 0
        with sqlite3.connect(db) as raw:
            raw.execute("ALTER TABLE store_state RENAME TO store_state_away")
        with pytest.raises(SQLAlchemyError, match="store_state"):
            store.generation()
        with sqlite3.connect(db) as raw:
            raw.execute("ALTER TABLE store_state_away RENAME TO store_state")
        store.create_bank("news", DEFAULT_PARAMS)
        assert store.generation() == 1
