"""The bank store: banks and items in SQL, through SQLAlchemy, with Alembic migrations applied on open.

Any SQLAlchemy URL works; a plain path means an SQLite file.  The default is ``$COPYTRACE_DB``, else
``$XDG_DATA_HOME/copytrace/copytrace.db``.  SQLite runs in WAL mode with ``synchronous=FULL``, so an item
is on disk once the call that added it returns.  Adding items is one transaction: all are stored or none.
The items of a call are read (and, by a generator, fingerprinted) before that transaction starts, so the
write lock is held only for the inserts; another writer waits up to ``busy_timeout`` seconds for it.
Bank names and item ids must have the form ``copytrace.names`` defines.

This is persistence only: it knows banks, items and their stored fingerprints, links and phrases, and no
index.  Finding an item's links when it is added, choosing banks for a search and building, caching and
pruning index snapshots is the bank layer's (``copytrace.banks``), whose ``Store`` adds them to this one.
A store that opens fine may still hold rows this version cannot use (a fingerprint written by an older or
hostile writer): the readers hand such a row to ``on_bad`` (default ``quarantine``: one warning on the
``copytrace.store`` logger naming its bank and id) and go on, instead of failing every search.

Every change runs in one transaction that first raises the store's ``generation`` (the row lock this takes
orders concurrent writers), then writes the change, one row per touched item in the ``changes`` feed that
running indexes follow (``copytrace.store.feed``), and one row in the audit log naming the ``actor``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.orm import Session, sessionmaker

from ..errors import (
    DuplicateItemError,
    ParameterMismatchError,
    StoreError,
    UnknownBankError,
    UnknownItemError,
)
from ..fingerprints.fingerprint import FingerprintParams, fingerprint
from ..names import check_bank_name, check_item_id
from . import tables
from .audit_log import audit
from .bulk_rows import fingerprint_strings, insert_rows
from .feed import changes_since
from .items import BankInfo, ItemReader, ItemRecord, quarantine
from .schema import check as check_schema
from .schema import engine_state, sqlite_state

log = logging.getLogger("copytrace.store")

BANKS, ITEMS, CHANGES, STATE = tables.banks, tables.items, tables.changes, tables.store_state
_GENERATION_SQL = f"SELECT generation FROM {STATE.name} WHERE id = 1"  # Store.generation

_BATCH = 2000
_ITEM_COLUMNS = (
    "item_id",
    "text",
    "fingerprint",
    "labels",
    "metadata",
    "links",
    "phrase",
    "bank_id",
    "added_at",
)
_CHANGE_COLUMNS = ("generation", "op", "bank", "item_id")
DEFAULT_BUSY_TIMEOUT = 10.0
"""Seconds an SQLite writer waits for another writer's lock before the store reports itself busy."""


class _NoChangeError(Exception):
    """Raised inside a write transaction to roll it back when there turned out to be nothing to change."""


def _bump(conn: Connection) -> int:
    """Start a change: raise the generation (locking the row until commit) and return the new value.

    It is the first statement of every write transaction, so that SQLite takes its write lock at once and
    PostgreSQL writers commit generations in order: a reader that sees generation g has seen all below g.
    """
    return int(
        conn.execute(
            update(STATE)
            .where(STATE.c.id == 1)
            .values(generation=STATE.c.generation + 1)
            .returning(STATE.c.generation)
        ).scalar_one()
    )


def _change(conn: Connection, generation: int, op: str, bank: str, item_id: str | None = None) -> None:
    """Record one change in the feed, in the caller's transaction."""
    conn.execute(insert(CHANGES).values(generation=generation, op=op, bank=bank, item_id=item_id))


def default_url() -> str:
    """``$COPYTRACE_DB``, else an SQLite file under ``$XDG_DATA_HOME/copytrace``."""
    env = os.environ.get("COPYTRACE_DB")
    if env:
        return env
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(base / "copytrace" / "copytrace.db")


def to_url(db: str) -> str:
    """A SQLAlchemy URL for ``db``: URLs pass through, a path becomes an SQLite file URL."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite file URL, None for other URLs and in-memory databases."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :].split("?", 1)[0])


def _check_phrases(bank: str, phrase_bank: bool, records: list[ItemRecord]) -> None:
    """Refuse an item without a phrase for a phrase bank."""
    for rec in records:
        if rec.phrase is None and phrase_bank:
            raise StoreError(
                f"bank {bank!r} is a phrase bank: item {rec.item_id!r} has no phrase fingerprint "
                "(add it from its text, or as a phrase fingerprint)"
            )


def _sqlite_pragmas(busy_timeout: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout={max(0, round(busy_timeout * 1000))}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return on_connect


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("copytrace.store").joinpath("migrations")))
    return cfg


__all__ = ["DEFAULT_BUSY_TIMEOUT", "BankInfo", "ItemRecord", "Store", "default_url", "quarantine", "to_url"]


class Store(ItemReader):
    """Banks and items in a SQL database.

    ``create=False`` refuses to create a store (a missing SQLite file, an empty database): a mistyped path
    is then an error naming it instead of a new, empty store.  ``migrate=False`` refuses a store of an older
    schema instead of upgrading it (for commands that only read: they never change a store).  Whatever they
    say, a database that holds other tables than a copytrace store's, or a store made by a newer copytrace,
    is refused with a ``StoreError`` and left as it is (``copytrace.store.schema``).  ``busy_timeout`` is
    how long an SQLite writer waits for another one's lock before the call fails with "database is locked".
    """

    def __init__(
        self,
        db: str | None = None,
        *,
        create: bool = True,
        migrate: bool = True,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.url = to_url(db or default_url())
        self.busy_timeout = busy_timeout
        path = _sqlite_file(self.url)
        if path is not None and path.exists():  # looked at before the connections' pragmas write to it
            check_schema(str(path), sqlite_state(path), create=create, migrate=migrate)
        elif path is not None:
            if not create:
                raise StoreError(
                    f"no store at {path}: check --db or $COPYTRACE_DB (a store is created by the first "
                    "'copytrace bank add' or 'bank import')"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store at {path}: {exc.strerror}") from exc
        try:
            self.engine: Engine = create_engine(self.url, pool_pre_ping=True)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {self.url}: {exc.__class__.__name__}: {exc}") from exc
        try:
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas(busy_timeout))
            self._session: sessionmaker[Session] | None = None  # made by the first ``session()``
            self._open_schema(create=create, migrate=migrate)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(f"cannot open the store at {self.url}: {exc.__class__.__name__}: {exc}") from exc
        except StoreError:
            self.engine.dispose()
            raise

    def _open_schema(self, *, create: bool, migrate: bool) -> None:
        with self.engine.begin() as conn:
            if check_schema(self.url, engine_state(conn), create=create, migrate=migrate):
                self._upgrade(conn)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is there already); a database that is
        not a copytrace store, or a store of a newer schema, is a ``StoreError``."""
        with self.engine.begin() as conn:
            if check_schema(self.url, engine_state(conn), create=True, migrate=True):
                self._upgrade(conn)

    def _upgrade(self, conn: Any) -> None:
        from alembic import command

        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def session(self) -> Session:
        """A new ORM session on the store (for the modules that keep keys and reviews; the store's own
        reads and writes are Core statements, so a command that only adds or reads items never imports
        SQLAlchemy's ORM)."""
        if self._session is None:
            from sqlalchemy.orm import sessionmaker

            from . import models  # noqa: F401  (the mapped classes, for the session's queries)

            self._session = sessionmaker(self.engine, expire_on_commit=False)
        return self._session()

    # ------------------------------------------------------------------------------------------- banks
    def create_bank(
        self, name: str, params: FingerprintParams, *, phrases: bool = False, actor: str | None = None
    ) -> bool:
        """Create a bank whose items are fingerprinted with ``params``; False if it exists with them.

        ``phrases`` makes it a phrase bank: every item added must carry its phrase fingerprint
        (``ItemRecord.phrase``) and is matched as a phrase.  An existing bank of the other kind is a
        ``StoreError``.  Raises ``InvalidNameError`` for a name of a form ``copytrace.names`` does not allow.
        """
        check_bank_name(name)
        try:
            with self.engine.begin() as conn:
                generation = _bump(conn)
                row = conn.execute(
                    select(BANKS.c.params, BANKS.c.phrases).where(BANKS.c.name == name)
                ).one_or_none()
                if row is not None:
                    if row.params != str(params):
                        raise ParameterMismatchError(row.params, str(params), what=f"bank {name!r}")
                    if bool(row.phrases) != phrases:
                        kind = "a phrase bank" if row.phrases else "not a phrase bank"
                        raise StoreError(f"bank {name!r} exists and is {kind}: use another name")
                    raise _NoChangeError
                conn.execute(
                    insert(BANKS).values(
                        name=name, params=str(params), phrases=phrases, created_at=datetime.now(UTC)
                    )
                )
                _change(conn, generation, "create_bank", name)
                audit(conn, actor, "create_bank", name, params=str(params), phrases=phrases)
                return True
        except _NoChangeError:
            return False

    def banks(self) -> list[BankInfo]:
        b = BANKS.c
        with self.engine.connect() as conn:
            per_bank = conn.execute(select(ITEMS.c.bank_id, func.count()).group_by(ITEMS.c.bank_id))
            counts: dict[int, int] = {int(bank_id): int(n) for bank_id, n in per_bank}
            rows = conn.execute(select(b.id, b.name, b.params, b.created_at, b.phrases).order_by(b.name))
            return [
                BankInfo(
                    r.name,
                    FingerprintParams.parse(r.params),
                    counts.get(r.id, 0),
                    r.created_at,
                    bool(r.phrases),
                )
                for r in rows
            ]

    def bank_param_strings(self, names: Iterable[str] | None = None) -> dict[str, str]:
        """Each bank's parameter string as stored (of ``names`` only, when given), without parsing it."""
        stmt = select(BANKS.c.name, BANKS.c.params)
        if names is not None:
            stmt = stmt.where(BANKS.c.name.in_(list(names)))
        with self.engine.connect() as conn:
            return {name: p for name, p in conn.execute(stmt)}

    def bank_params(self) -> dict[str, FingerprintParams]:
        """Each bank's fingerprint parameters, without counting items."""
        with self.engine.connect() as conn:
            return {
                name: FingerprintParams.parse(p)
                for name, p in conn.execute(select(BANKS.c.name, BANKS.c.params))
            }

    def phrase_banks(self) -> set[str]:
        """Names of the phrase banks (``create_bank(..., phrases=True)``): one small query."""
        with self.engine.connect() as conn:
            return set(conn.scalars(select(BANKS.c.name).where(BANKS.c.phrases.is_(True))))

    def bank(self, name: str) -> BankInfo:
        """One bank, with the count of its own items (not every bank's)."""
        b = BANKS.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(b.id, b.name, b.params, b.created_at, b.phrases).where(b.name == name)
            ).one_or_none()
            if row is None:
                raise UnknownBankError(name)
            n_items = conn.scalar(select(func.count()).select_from(ITEMS).where(ITEMS.c.bank_id == row.id))
            return BankInfo(
                row.name, FingerprintParams.parse(row.params), n_items or 0, row.created_at, bool(row.phrases)
            )

    def delete_bank(self, name: str, *, actor: str | None = None) -> int:
        """Delete a bank and its items; returns how many items went with it.

        The database file keeps its size until ``vacuum``.
        """
        with self.engine.begin() as conn:
            generation = _bump(conn)
            bank_id = self._bank_id(conn, name)
            n = conn.scalar(select(func.count()).select_from(ITEMS).where(ITEMS.c.bank_id == bank_id)) or 0
            conn.execute(delete(ITEMS).where(ITEMS.c.bank_id == bank_id))
            conn.execute(delete(BANKS).where(BANKS.c.id == bank_id))
            _change(conn, generation, "drop_bank", name)
            audit(conn, actor, "delete_bank", name, items=int(n))
        return int(n)

    def vacuum(self) -> tuple[int, int] | None:
        """Give the space of deleted rows back to the operating system.

        SQLite: runs ``VACUUM`` (it waits for other writers, as a write does) and truncates the write-ahead
        log; returns the bytes of the database file and its log before and after.  Other databases: None,
        nothing done, as they reuse the space themselves (PostgreSQL's autovacuum; ``VACUUM FULL`` gives
        it back to the system but locks the table while it runs: the operator's choice, not this call's).
        """
        if self.engine.dialect.name != "sqlite":
            return None
        path = _sqlite_file(self.url)

        def size() -> int:
            files = () if path is None else (path, path.with_name(path.name + "-wal"))
            return sum(f.stat().st_size for f in files if f.exists())

        before = size()
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return before, size()

    # ------------------------------------------------------------------------------------------- items
    def add_items(
        self,
        bank: str,
        records: Iterable[ItemRecord],
        *,
        replace: bool = False,
        create: FingerprintParams | None = None,
        actor: str | None = None,
    ) -> int:
        """Store items in one transaction, with the links they carry; returns how many were stored.

        On any error nothing of this call is stored.  ``records`` is read to its end first, outside any
        transaction, so a generator that fingerprints as it goes never holds the store's write lock; the
        transaction then only writes, in bulk INSERTs of ``_BATCH`` rows, each batch first looking up which
        of its ids the bank holds (an error, or with ``replace`` a row to delete).  With ``create``, a bank
        that does not exist yet is created with these parameters in the same transaction, so a failed or
        killed first add leaves no empty bank behind.  Item ids (and with ``create`` the bank name) must
        have the form ``copytrace.names`` allows.  An item without links is stored without any:
        ``copytrace.banks.Store.add_items`` finds them first.
        """
        return self.write_items(bank, records, replace=replace, create=create, actor=actor)[0]

    def write_items(
        self,
        bank: str,
        records: Iterable[ItemRecord],
        *,
        replace: bool = False,
        create: FingerprintParams | None = None,
        actor: str | None = None,
    ) -> tuple[int, int | None]:
        """``add_items``, returning also the generation the change committed (None: nothing changed)."""
        records = list(records)
        for rec in records:
            check_item_id(rec.item_id)
        return self._write_checked(bank, records, replace=replace, create=create, actor=actor)

    def _write_checked(
        self,
        bank: str,
        records: list[ItemRecord],
        *,
        replace: bool,
        create: FingerprintParams | None,
        actor: str | None,
    ) -> tuple[int, int | None]:
        """``write_items`` of ``records`` whose item ids the caller has checked (``check_item_id``).

        The rows go to the database as plain tuples (``bulk_rows.insert_rows``), the fingerprints' strings
        made for the whole call at once (``bulk_rows.fingerprint_strings``): no ORM object or parameter
        dictionary per item."""
        if create is not None:
            check_bank_name(bank)
        seen: set[str] = set()
        for rec in records:
            if rec.item_id in seen:
                raise DuplicateItemError(bank, rec.item_id)
            seen.add(rec.item_id)
        strings = fingerprint_strings([rec.fingerprint for rec in records])
        try:
            with self.engine.begin() as conn:
                return self._write(conn, bank, records, strings, replace=replace, create=create, actor=actor)
        except _NoChangeError:
            return 0, None

    def _write(
        self,
        conn: Connection,
        bank: str,
        records: list[ItemRecord],
        strings: list[str],
        *,
        replace: bool,
        create: FingerprintParams | None,
        actor: str | None,
    ) -> tuple[int, int]:
        """The statements of ``_write_checked``, in the caller's transaction on ``conn``."""
        first_of: dict[FingerprintParams, str] = {}  # each distinct parameter set -> the first item with it
        for rec in records:
            first_of.setdefault(rec.fingerprint.params, rec.item_id)
        ids = [rec.item_id for rec in records]
        added = ids[:20]  # for the audit row
        generation = _bump(conn)
        now = datetime.now(UTC)
        row = conn.execute(
            select(BANKS.c.id, BANKS.c.params, BANKS.c.phrases).where(BANKS.c.name == bank)
        ).one_or_none()
        created = False
        if row is None:
            if create is None:
                raise UnknownBankError(bank)
            made = conn.execute(
                insert(BANKS).values(name=bank, params=str(create), created_at=now).returning(BANKS.c.id)
            )
            bank_id, stored_params, phrase_bank = int(made.scalar_one()), str(create), False
            _change(conn, generation, "create_bank", bank)
            audit(conn, actor, "create_bank", bank, params=str(create))
            created = True
        else:
            bank_id, stored_params, phrase_bank = int(row.id), str(row.params), bool(row.phrases)
            if create is not None and stored_params != str(create):
                raise ParameterMismatchError(stored_params, str(create), what=f"bank {bank!r}")
        params = FingerprintParams.parse(stored_params)
        for p, item_id in first_of.items():
            if p != params:
                raise ParameterMismatchError(params, p, what=f"item {item_id!r} of bank {bank!r}")
        _check_phrases(bank, phrase_bank, records)
        for start in range(0, len(records), _BATCH):
            batch = ids[start : start + _BATCH]
            held = conn.scalars(
                select(ITEMS.c.item_id).where(ITEMS.c.bank_id == bank_id, ITEMS.c.item_id.in_(batch))
            ).all()
            if held and not replace:
                raise DuplicateItemError(bank, held[0])
            if held:
                conn.execute(delete(ITEMS).where(ITEMS.c.bank_id == bank_id, ITEMS.c.item_id.in_(held)))
            rows = [
                (
                    rec.item_id,
                    rec.text,
                    fp,
                    rec.labels,
                    rec.metadata,
                    rec.links or None,
                    None if rec.phrase is None else str(rec.phrase),
                    bank_id,
                    now,
                )
                for rec, fp in zip(
                    records[start : start + _BATCH], strings[start : start + _BATCH], strict=True
                )
            ]
            try:
                insert_rows(conn, ITEMS, _ITEM_COLUMNS, rows)
            except IntegrityError as exc:  # another writer added one of these ids meanwhile
                raise StoreError(f"an item of this call was added to {bank!r} meanwhile: {exc.orig}") from exc
            changes = [(generation, "add", bank, item_id) for item_id in batch]
            insert_rows(conn, CHANGES, _CHANGE_COLUMNS, changes)
        n = len(records)
        if n == 0 and not created:
            raise _NoChangeError
        if n == 1:
            audit(conn, actor, "add_item", bank, added[0], replace=replace)
        elif n > 1:
            audit(conn, actor, "add_items", bank, None, count=n, first_ids=added, replace=replace)
        return n, generation

    def bank_links(self) -> dict[str, list[tuple[str, list[str] | None]]]:
        """Each bank's items as (id, stored links), in the order they were added."""
        out: dict[str, list[tuple[str, list[str] | None]]] = {}
        with self.engine.connect() as conn:
            bank_rows = conn.execute(select(BANKS.c.name, BANKS.c.id).order_by(BANKS.c.name)).all()
            for name, bank_id in bank_rows:
                rows = conn.execute(
                    select(ITEMS.c.item_id, ITEMS.c.links)
                    .where(ITEMS.c.bank_id == bank_id)
                    .order_by(ITEMS.c.id)
                )
                out[name] = [(item_id, links) for item_id, links in rows]
        return out

    def remove_item(self, bank: str, item_id: str, *, actor: str | None = None) -> None:
        with self.engine.begin() as conn:
            self._remove(conn, bank, item_id, actor=actor)

    def _remove(self, conn: Connection, bank: str, item_id: str, *, actor: str | None) -> None:
        generation = _bump(conn)
        bank_id = self._bank_id(conn, bank)
        result = conn.execute(delete(ITEMS).where(ITEMS.c.bank_id == bank_id, ITEMS.c.item_id == item_id))
        if result.rowcount == 0:
            raise UnknownItemError(bank, item_id)
        _change(conn, generation, "remove", bank, item_id)
        audit(conn, actor, "remove_item", bank, item_id)

    def warm_up(self) -> None:
        """Compile the statements that adding, replacing and removing an item run, by running them in a
        transaction that is rolled back (nothing is stored, the generation does not move), and the reading
        of the change feed that applies them to a live index.

        SQLAlchemy compiles a statement the first time a process runs it and then reuses the compiled form
        (its ``compiled_cache``): the first item a service worker stored paid 20-60 ms compiling the
        statements of an add at 1,000,000 items, among the slowest posts.  A worker calls this before it
        serves.  On SQLite the rolled-back transaction holds the write lock for a few milliseconds, and fails
        with "database is locked" at once if another writer holds it."""
        bank = item_id = "copytrace warm-up"  # a name no bank can have (``check_bank_name``)
        text = "copytrace compiles the statements of a change before it stores the first one"
        record = ItemRecord(item_id, fingerprint(text), text)
        strings = fingerprint_strings([record.fingerprint])
        params = record.fingerprint.params
        self.bank_param_strings([bank])  # what an add reads first (``copytrace.banks.Store.add_items``)
        for _ in changes_since(self, 0, 0):  # what a live index reads to apply the change (none here)
            pass
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.connect() as conn:
            if sqlite:  # another writer's lock (a bulk import) fails it at once instead of holding a start
                conn.exec_driver_sql("PRAGMA busy_timeout=0")
                conn.commit()
            transaction = conn.begin()
            try:
                for again in (False, True):  # stored, then stored again in its place
                    self._write(conn, bank, [record], strings, replace=again, create=params, actor=bank)
                self._remove(conn, bank, item_id, actor=bank)
            finally:
                transaction.rollback()
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout={max(0, round(self.busy_timeout * 1000))}")
                    conn.commit()

    # ------------------------------------------------------------------------------------------- state
    def generation(self) -> int:
        """A number that grows with every change to banks or items.

        Read with the driver's own cursor, the statement written once: ``/health`` reads it on every call,
        and through SQLAlchemy (the statement built, its compiled form looked up, a result made) a read took
        about five times the CPU (SQLite, ``docs/benchmarks.md``, service).  A driver's error is raised as
        SQLAlchemy's, as every other read raises it, and the connection it came on is dropped."""
        dialect = self.engine.dialect
        with self.engine.connect() as conn:  # a connection that fails to open raises SQLAlchemy's error
            try:
                cursor = conn.connection.cursor()
                try:
                    cursor.execute(_GENERATION_SQL)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except dialect.loaded_dbapi.Error as exc:
                conn.invalidate(exc)
                base = dialect.loaded_dbapi.Error
                raise DBAPIError.instance(_GENERATION_SQL, None, exc, base, dialect=dialect) from exc
        return int(row[0] or 0) if row is not None else 0

    @property
    def store_id(self) -> str:
        """A random name the store got when it was made: it tells a store from one made at the same URL
        after it was deleted (whose generations start again from 0)."""
        return self.identity()[0]

    def identity(self) -> tuple[str, int]:
        """The store id and generation, read together: what a snapshot derived from the store records."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(STATE.c.store_id, STATE.c.generation).where(STATE.c.id == 1)
            ).one_or_none()
        if row is None or not row[0]:
            raise StoreError(f"the store at {self.url} has no store id: it was damaged; restore a backup")
        return str(row[0]), int(row[1])
