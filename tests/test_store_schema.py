"""Opening a database as a store (``copytrace.store.schema``): another application's database is refused and
left as it was, a store of a newer copytrace says so with both schema versions, a reader never creates or
migrates a store, and every store has an id of its own.  On SQLite and a real PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from copytrace import DEFAULT_PARAMS, StoreError, fingerprint
from copytrace.banks import Store
from copytrace.store import ItemRecord
from copytrace.store.schema import SCHEMA_HEAD
from copytrace.store.store import _alembic_config, to_url


def _tables(db_url: str) -> set[str]:
    engine = create_engine(to_url(db_url))
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _revision(db_url: str) -> str:
    engine = create_engine(to_url(db_url))
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def _files(db_url: str) -> dict[str, str]:
    """The SQLite file and its companions, by name, with the digest of each (nothing for PostgreSQL)."""
    if "://" in db_url:
        return {}
    folder = Path(db_url).parent
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob(Path(db_url).name + "*")}


def _other_application(db_url: str) -> None:
    engine = create_engine(to_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(50))"))
        conn.execute(text("INSERT INTO customers (id, name) VALUES (1, 'Ada')"))
    engine.dispose()


@pytest.mark.parametrize("create", [True, False], ids=["writer", "reader"])
def test_another_applications_database_is_refused_and_left_as_it_was(db_url: str, create: bool) -> None:
    _other_application(db_url)
    before = _files(db_url)
    with pytest.raises(StoreError, match="is not a copytrace store: it holds other tables \\(customers\\)"):
        Store(db_url, create=create)
    assert _tables(db_url) == {"customers"}
    assert _files(db_url) == before  # not even journal_mode=WAL written into its header


def test_an_alembic_database_of_another_application_is_not_taken_for_a_store(db_url: str) -> None:
    _other_application(db_url)
    engine = create_engine(to_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('ae1027a6acf')"))
    engine.dispose()
    with pytest.raises(StoreError, match="not a copytrace store"):
        Store(db_url)
    assert _revision(db_url) == "ae1027a6acf"


def test_a_store_of_a_newer_copytrace_names_both_schemas(db_url: str) -> None:
    Store(db_url).close()
    engine = create_engine(to_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    for create in (True, False):
        with pytest.raises(StoreError) as caught:
            Store(db_url, create=create)
        message = str(caught.value)
        assert "made by a newer copytrace" in message and "0099" in message and SCHEMA_HEAD in message
        assert "Can't locate revision" not in message
    assert _revision(db_url) == "0099"


def _at_schema(db_url: str, revision: str) -> None:
    """A store made by the copytrace whose newest migration was ``revision``."""
    from alembic import command

    engine = create_engine(to_url(db_url))
    with engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_a_reader_neither_creates_nor_migrates_a_store(db_url: str) -> None:
    if "://" not in db_url:
        Path(db_url).touch()  # an empty file: an empty database to SQLite
    with pytest.raises(StoreError, match=r"no store at .*the database is empty"):
        Store(db_url, create=False)
    assert _tables(db_url) == set()
    assert "://" in db_url or Path(db_url).stat().st_size == 0
    _at_schema(db_url, "0005")
    with pytest.raises(StoreError) as caught:
        Store(db_url, create=False, migrate=False)
    assert re.search(r"has schema 0005.*uses schema 0006.*copytrace store upgrade", str(caught.value))
    assert _revision(db_url) == "0005"
    with Store(db_url, create=False) as store:  # a writer migrates it
        assert _revision(db_url) == SCHEMA_HEAD and store.generation() == 0


def test_an_existing_store_gets_an_id_and_keeps_its_items(db_url: str, tmp_path: Path, text_000: str) -> None:
    _at_schema(db_url, "0005")
    engine = create_engine(to_url(db_url))
    with engine.begin() as conn:
        assert "store_id" not in {c["name"] for c in inspect(conn).get_columns("store_state")}
    engine.dispose()
    with Store(db_url) as store:
        store_id = store.store_id
        store.add_items("news", [ItemRecord("000", fingerprint(text_000), text_000)], create=DEFAULT_PARAMS)
        assert re.fullmatch(r"[0-9a-f]{32}", store_id) and store.identity() == (store_id, 1)
    with Store(db_url) as store:
        assert store.store_id == store_id  # kept for the store's life
    with Store(str(tmp_path / "other.db")) as other:
        assert other.store_id != store_id  # a new store gets one of its own
