"""The bank store: banks and items in SQL, through SQLAlchemy, with Alembic migrations applied on open.

Any SQLAlchemy URL works; a plain path means an SQLite file.  The default is ``$COPYTRACE_DB``, else
``$XDG_DATA_HOME/copytrace/copytrace.db``.  SQLite runs in WAL mode with ``synchronous=FULL``, so an item
is on disk once the call that added it returns.  Adding items is one transaction: all are stored or none.
The items of a call are read (and, by a generator, fingerprinted) before that transaction starts, so the
write lock is held only for the inserts; another writer waits up to ``busy_timeout`` seconds for it.
Bank names and item ids must have the form ``copytrace.names`` defines.

A store that opens fine may still hold rows this version cannot use (a fingerprint written by an older or
hostile writer): ``build_index`` skips such an item with one warning on the ``copytrace.store`` logger
naming its bank and id, instead of failing every search.

The index is derived from the store: ``build_index`` reads the stored fingerprints (no text is
re-fingerprinted) and gives the index a ``text_lookup`` into the store for item spans.

Every change runs in one transaction that first raises the store's ``generation`` (the row lock this takes
orders concurrent writers), then writes the change, one row per touched item in the ``changes`` feed that
running indexes follow (``copytrace.store.feed``), and one row in the audit log naming the ``actor``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Text,
    bindparam,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

from ..cache_dir import private_folder, remove_orphans
from ..errors import (
    CopytraceError,
    DuplicateItemError,
    FingerprintFormatError,
    ParameterMismatchError,
    StoreError,
    UnknownBankError,
    UnknownItemError,
)
from ..fingerprint import Fingerprint, FingerprintParams
from ..fingerprint_batch import FingerprintBatch, parse_many
from ..index import Index
from ..index.match import DEFAULT_MATCH_PARAMS, MatchParams
from ..index.snapshot_build import SnapshotBuilder
from ..keys import Key, as_key
from ..names import check_bank_name, check_item_id
from ..phrases import PhraseFingerprint, PhraseParams
from .audit_log import audit
from .batches import fingerprint_batches
from .families import VersionFinder, count_families, link_new_items
from .models import BankRow, ChangeRow, ItemRow, StoreStateRow
from .schema import check as check_schema
from .schema import engine_state, sqlite_state

log = logging.getLogger("copytrace.store")

_BATCH = 2000
DEFAULT_BUSY_TIMEOUT = 10.0
"""Seconds an SQLite writer waits for another writer's lock before the store reports itself busy."""
_TEXT_OF_ITEM = (
    select(ItemRow.text)
    .join(BankRow)
    .where(BankRow.name == bindparam("bank"), ItemRow.item_id == bindparam("item_id"))
)


def quarantine(bank: str, item_id: str, exc: CopytraceError) -> None:
    """Report a stored item that cannot be used (its fingerprint does not parse or index) and is skipped."""
    log.warning("skipped item %r of bank %r: its stored fingerprint cannot be used: %s", item_id, bank, exc)


def _parse_stored(bank: str, item_id: str, fp: str) -> Fingerprint:
    try:
        return Fingerprint.parse(fp)
    except FingerprintFormatError as exc:
        raise FingerprintFormatError(
            f"item {item_id!r} of bank {bank!r}: its stored fingerprint cannot be read: {exc}"
        ) from exc


class _NoChangeError(Exception):
    """Raised inside a write transaction to roll it back when there turned out to be nothing to change."""


def _bump(s: Session) -> int:
    """Start a change: raise the generation (locking the row until commit) and return the new value.

    It is the first statement of every write transaction, so that SQLite takes its write lock at once and
    PostgreSQL writers commit generations in order: a reader that sees generation g has seen all below g.
    """
    return int(
        s.execute(
            update(StoreStateRow)
            .where(StoreStateRow.id == 1)
            .values(generation=StoreStateRow.generation + 1)
            .returning(StoreStateRow.generation)
        ).scalar_one()
    )


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


@dataclass(frozen=True)
class BankSelection:
    """Which banks an index with parameters ``wanted`` can search, and which others it must leave out."""

    wanted: str
    searched: list[str]
    left_out: dict[str, str]  # bank name -> the parameter string it was made with

    def why_left_out(self) -> str:
        """``'keyed' (ctw1:n1:k5:w4:0123456789abcdef: another key), ...`` for a message."""
        wanted_key = self.wanted.rsplit(":", 1)[-1]

        def why(params: str) -> str:
            return "another key" if params.rsplit(":", 1)[-1] != wanted_key else "other parameters"

        return ", ".join(f"{name!r} ({params}: {why(params)})" for name, params in self.left_out.items())

    def nothing_searchable(self) -> ParameterMismatchError:
        """The error for a store none of whose banks can be searched with ``wanted``."""
        return ParameterMismatchError(
            self.wanted,
            self.left_out,
            what="banks",
            message=f"no bank can be searched with {self.wanted}: {self.why_left_out()}; name a bank to "
            "search it with its own k and window (--bank), with the key it was made with (--key-file)",
        )


@dataclass(frozen=True)
class BankInfo:
    name: str
    params: FingerprintParams
    n_items: int
    created_at: datetime
    phrases: bool = False  # a phrase bank: every item is matched as a phrase


@dataclass(frozen=True)
class ItemRecord:
    """One item to store or as stored."""

    item_id: str
    fingerprint: Fingerprint
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    added_at: datetime | None = None
    links: list[str] | None = None  # the bank's items this one is a version of (None: find them when adding)
    phrase: PhraseFingerprint | None = None  # set when the item is matched as a phrase (copytrace.phrases)


def _check_phrases(
    bank: str, phrase_bank: bool, params: FingerprintParams, records: list[ItemRecord]
) -> None:
    """Refuse an item without a phrase for a phrase bank, and a phrase made with another key."""
    want = PhraseParams(key_id=params.key_id)
    for rec in records:
        if rec.phrase is None and phrase_bank:
            raise StoreError(
                f"bank {bank!r} is a phrase bank: item {rec.item_id!r} has no phrase fingerprint "
                "(add it from its text, or as a phrase fingerprint)"
            )
        if rec.phrase is not None and rec.phrase.params != want:
            raise ParameterMismatchError(want, rec.phrase.params, what=f"phrase of item {rec.item_id!r}")


def _usable_phrases(
    phrases: Iterable[tuple[str, str, PhraseFingerprint]], params: FingerprintParams
) -> list[tuple[str, str, PhraseFingerprint]]:
    """The phrases made with the key of ``params`` (others are logged and left out)."""
    want = PhraseParams(key_id=params.key_id)
    out = []
    for bank, item_id, fp in phrases:
        if fp.params == want:
            out.append((bank, item_id, fp))
        else:
            quarantine(bank, item_id, ParameterMismatchError(want, fp.params, what="phrase"))
    return out


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


class Store:
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
        # How added items find the versions in their bank (copytrace.index.families): a running service
        # sets its live index here; otherwise an index of the bank is built (or loaded from the cache).
        self.find_versions: VersionFinder | None = None
        # The index the last add to a bank linked against, holding that add's items, with the generation
        # that add committed: the next add to the bank reuses it when nothing changed in between.
        self._linking: tuple[str, int, Index] | None = None
        self._linked: tuple[str, Index] | None = None
        self._cache_checked: bool | None = None  # whether the cache folder may be used, once checked
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
            self._session = sessionmaker(self.engine, expire_on_commit=False)
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

    def _s(self) -> Session:
        return self._session()

    def session(self) -> Session:
        """A new ORM session on the store (for the modules that keep keys, audit and reviews)."""
        return self._session()

    # ------------------------------------------------------------------------------------------- banks
    def _bank(self, s: Session, name: str) -> BankRow:
        row = s.scalar(select(BankRow).where(BankRow.name == name))
        if row is None:
            raise UnknownBankError(name)
        return row

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
            with self._s() as s, s.begin():
                generation = _bump(s)
                row = s.scalar(select(BankRow).where(BankRow.name == name))
                if row is not None:
                    if row.params != str(params):
                        raise ParameterMismatchError(row.params, str(params), what=f"bank {name!r}")
                    if bool(row.phrases) != phrases:
                        kind = "a phrase bank" if row.phrases else "not a phrase bank"
                        raise StoreError(f"bank {name!r} exists and is {kind}: use another name")
                    raise _NoChangeError
                s.add(BankRow(name=name, params=str(params), phrases=phrases, created_at=datetime.now(UTC)))
                s.add(ChangeRow(generation=generation, op="create_bank", bank=name))
                audit(s, actor, "create_bank", name, params=str(params), phrases=phrases)
                return True
        except _NoChangeError:
            return False

    def banks(self) -> list[BankInfo]:
        with self._s() as s:
            counts = dict(s.execute(select(ItemRow.bank_id, func.count()).group_by(ItemRow.bank_id)).all())
            return [
                BankInfo(
                    r.name,
                    FingerprintParams.parse(r.params),
                    counts.get(r.id, 0),
                    r.created_at,
                    bool(r.phrases),
                )
                for r in s.scalars(select(BankRow).order_by(BankRow.name))
            ]

    def bank_params(self) -> dict[str, FingerprintParams]:
        """Each bank's fingerprint parameters, without counting items."""
        with self._s() as s:
            return {
                name: FingerprintParams.parse(p)
                for name, p in s.execute(select(BankRow.name, BankRow.params))
            }

    def phrase_banks(self) -> set[str]:
        """Names of the phrase banks (``create_bank(..., phrases=True)``): one small query."""
        with self._s() as s:
            return set(s.scalars(select(BankRow.name).where(BankRow.phrases.is_(True))))

    def bank(self, name: str) -> BankInfo:
        for info in self.banks():
            if info.name == name:
                return info
        raise UnknownBankError(name)

    def delete_bank(self, name: str, *, actor: str | None = None) -> int:
        """Delete a bank and its items; returns how many items went with it.

        The store's cached indexes are deleted with it (``prune_cache``); the database file keeps its size
        until ``vacuum``.
        """
        with self._s() as s, s.begin():
            generation = _bump(s)
            row = self._bank(s, name)
            n = s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.bank_id == row.id)) or 0
            s.execute(delete(ItemRow).where(ItemRow.bank_id == row.id))
            s.delete(row)
            s.add(ChangeRow(generation=generation, op="drop_bank", bank=name))
            audit(s, actor, "delete_bank", name, items=int(n))
        self._prune_cache(generation)
        return int(n)

    def vacuum(self) -> tuple[int, int] | None:
        """Give the space of deleted rows back to the operating system; also ``prune_cache``.

        SQLite: runs ``VACUUM`` (it waits for other writers, as a write does) and truncates the write-ahead
        log; returns the bytes of the database file and its log before and after.  Other databases: None,
        nothing done, as they reuse the space themselves (PostgreSQL's autovacuum; ``VACUUM FULL`` gives
        it back to the system but locks the table while it runs: the operator's choice, not this call's).
        """
        self.prune_cache()
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
        """Store items in one transaction; on any error nothing of this call is stored.

        ``records`` is read to its end first, outside any transaction, so a generator that fingerprints as it
        goes never holds the store's write lock; the transaction then only writes, in bulk INSERTs of
        ``_BATCH`` rows, each batch first looking up which of its ids the bank holds (an error, or with
        ``replace`` a row to delete).  With ``create``, a bank that does not exist yet is created with these
        parameters in the same transaction, so a failed or killed first add leaves no empty bank behind.
        Item ids (and with ``create`` the bank name) must have the form ``copytrace.names`` allows.
        """
        if create is not None:
            check_bank_name(bank)
        records = list(records)
        for rec in records:
            check_item_id(rec.item_id)
        records = self._with_links(bank, create, records, replace)
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        first_of: dict[FingerprintParams, str] = {}  # each distinct parameter set -> the first item with it
        for rec in records:
            check_item_id(rec.item_id)
            if rec.item_id in seen:
                raise DuplicateItemError(bank, rec.item_id)
            seen.add(rec.item_id)
            first_of.setdefault(rec.fingerprint.params, rec.item_id)
            rows.append(
                {
                    "item_id": rec.item_id,
                    "text": rec.text,
                    "fingerprint": str(rec.fingerprint),
                    "labels": list(rec.labels),
                    "meta": dict(rec.metadata),
                    "links": rec.links or None,
                    "phrase": None if rec.phrase is None else str(rec.phrase),
                }
            )
        added = [r["item_id"] for r in rows[:20]]  # for the audit row
        try:
            with self._s() as s, s.begin():
                generation = _bump(s)
                now = datetime.now(UTC)
                row = s.scalar(select(BankRow).where(BankRow.name == bank))
                created = False
                if row is None:
                    if create is None:
                        raise UnknownBankError(bank)
                    row = BankRow(name=bank, params=str(create), created_at=now)
                    s.add(row)
                    s.add(ChangeRow(generation=generation, op="create_bank", bank=bank))
                    audit(s, actor, "create_bank", bank, params=str(create))
                    s.flush()
                    created = True
                elif create is not None and row.params != str(create):
                    raise ParameterMismatchError(row.params, str(create), what=f"bank {bank!r}")
                params = FingerprintParams.parse(row.params)
                for p, item_id in first_of.items():
                    if p != params:
                        raise ParameterMismatchError(params, p, what=f"item {item_id!r} of bank {bank!r}")
                _check_phrases(bank, bool(row.phrases), params, records)
                for start in range(0, len(rows), _BATCH):
                    batch = [{**r, "bank_id": row.id, "added_at": now} for r in rows[start : start + _BATCH]]
                    ids = [r["item_id"] for r in batch]
                    held = s.scalars(
                        select(ItemRow.item_id).where(ItemRow.bank_id == row.id, ItemRow.item_id.in_(ids))
                    ).all()
                    if held and not replace:
                        raise DuplicateItemError(bank, held[0])
                    if held:
                        s.execute(delete(ItemRow).where(ItemRow.bank_id == row.id, ItemRow.item_id.in_(held)))
                    try:
                        s.execute(insert(ItemRow), batch)
                    except IntegrityError as exc:  # another writer added one of these ids meanwhile
                        raise StoreError(
                            f"an item of this call was added to {bank!r} meanwhile: {exc.orig}"
                        ) from exc
                    s.execute(
                        insert(ChangeRow),
                        [{"generation": generation, "op": "add", "bank": bank, "item_id": i} for i in ids],
                    )
                n = len(rows)
                if n == 0 and not created:
                    raise _NoChangeError
                if n == 1:
                    audit(s, actor, "add_item", bank, added[0], replace=replace)
                elif n > 1:
                    audit(s, actor, "add_items", bank, None, count=n, first_ids=added, replace=replace)
        except _NoChangeError:
            self._linked = None
            return 0
        except BaseException:
            self._linked = None  # the linking index holds items that were not stored
            raise
        if self._linked is not None and self._linked[0] == bank:
            self._linking = (bank, generation, self._linked[1])
        self._linked = None
        return n

    def _with_links(
        self, bank: str, create: FingerprintParams | None, records: list[ItemRecord], replace: bool
    ) -> list[ItemRecord]:
        """``records`` with the links of those that have none, found outside any write transaction.
        An item of a phrase bank is a family of its own: it links to nothing."""
        if bank in self.phrase_banks():
            records = [dataclasses.replace(r, links=[]) if r.phrase is not None else r for r in records]
        todo = [r for r in records if r.links is None]
        if not todo:
            return records
        with self._s() as s:
            stored = s.scalar(select(BankRow.params).where(BankRow.name == bank))
        if stored is None and create is None:
            raise UnknownBankError(bank)
        try:
            params = FingerprintParams.parse(stored) if stored is not None else create
        except FingerprintFormatError as exc:
            raise FingerprintFormatError(f"bank {bank!r}: {exc}") from exc
        assert params is not None
        todo = [r for r in todo if r.fingerprint.params == params]  # others are refused when written

        held, self._linking = self._linking, None  # taken: the index is about to change

        def bank_index() -> Index | None:
            if stored is None:
                return None
            assert params is not None
            if held is not None and held[0] == bank and held[1] == self.generation():
                return held[2]  # this process's last add to the bank, and nothing has changed since
            return self._cached_index([bank], params, None, DEFAULT_MATCH_PARAMS)

        items = [(r.item_id, r.fingerprint) for r in todo]
        links, index = link_new_items(bank, params, items, self.find_versions, bank_index)
        self._linked = None if index is None else (bank, index)
        found = iter(links)
        linked = {id(r): next(found) for r in todo}
        return [dataclasses.replace(r, links=linked[id(r)]) if id(r) in linked else r for r in records]

    def family_counts(self) -> dict[str, int]:
        """Number of copy families in each bank, derived from the items' stored links."""
        out: dict[str, int] = {}
        with self._s() as s:
            for name, bank_id in s.execute(select(BankRow.name, BankRow.id).order_by(BankRow.name)):
                rows = s.execute(
                    select(ItemRow.item_id, ItemRow.links)
                    .where(ItemRow.bank_id == bank_id)
                    .order_by(ItemRow.id)
                )
                out[name] = count_families((item_id, links) for item_id, links in rows)
        return out

    def remove_item(self, bank: str, item_id: str, *, actor: str | None = None) -> None:
        with self._s() as s, s.begin():
            generation = _bump(s)
            row = self._bank(s, bank)
            result = s.execute(delete(ItemRow).where(ItemRow.bank_id == row.id, ItemRow.item_id == item_id))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise UnknownItemError(bank, item_id)
            s.add(ChangeRow(generation=generation, op="remove", bank=bank, item_id=item_id))
            audit(s, actor, "remove_item", bank, item_id)

    def get_item(self, bank: str, item_id: str) -> ItemRecord:
        with self._s() as s:
            row = self._bank(s, bank)
            item = s.scalar(select(ItemRow).where(ItemRow.bank_id == row.id, ItemRow.item_id == item_id))
            if item is None:
                raise UnknownItemError(bank, item_id)
            return ItemRecord(
                item.item_id,
                _parse_stored(bank, item_id, item.fingerprint),
                item.text,
                list(item.labels),
                dict(item.meta),
                item.added_at,
                list(item.links or []),
                None if item.phrase is None else PhraseFingerprint.parse(item.phrase),
            )

    def iter_items(self, bank: str, *, with_text: bool = False) -> Iterator[ItemRecord]:
        """Every item of a bank in the order added, streamed (texts only if asked for)."""
        with self._s() as s:
            row = self._bank(s, bank)
            stmt = (
                select(
                    ItemRow.item_id,
                    ItemRow.fingerprint,
                    ItemRow.labels,
                    ItemRow.meta,
                    ItemRow.added_at,
                    ItemRow.text if with_text else null(),
                    ItemRow.links,
                    ItemRow.phrase,
                )
                .where(ItemRow.bank_id == row.id)
                .order_by(ItemRow.id)
                .execution_options(yield_per=5000)
            )
            for item_id, fp, labels, meta, added_at, text, links, phrase in s.execute(stmt):
                yield ItemRecord(
                    item_id,
                    _parse_stored(bank, item_id, fp),
                    text,
                    list(labels),
                    dict(meta),
                    added_at,
                    list(links or []),
                    None if phrase is None else PhraseFingerprint.parse(phrase),
                )

    def text(self, bank: str, item_id: str) -> str | None:
        """The stored text of an item, or None when it was stored as a fingerprint only or is gone.

        Called for every match that gets item spans, so it runs one prepared Core statement on a pooled
        connection (an ORM session per call cost twice the time of the match itself).
        """
        with self.engine.connect() as conn:
            value = conn.execute(_TEXT_OF_ITEM, {"bank": bank, "item_id": item_id}).scalar()
            return None if value is None else str(value)

    def iter_fingerprints(self, banks: Iterable[str]) -> Iterator[tuple[str, str, str, list[str]]]:
        """(bank, item id, fingerprint string, links) of every item of ``banks`` in the order added, streamed.

        The strings are as stored: parse them with ``iter_parsed_fingerprints`` to skip unreadable ones.
        """
        with self._s() as s:
            names = list(banks)
            for name in names:
                self._bank(s, name)
            stmt = (
                select(BankRow.name, ItemRow.item_id, ItemRow.fingerprint, ItemRow.links)
                .join(BankRow)
                .where(BankRow.name.in_(names))
                .order_by(ItemRow.id)
                .execution_options(yield_per=5000)
            )
            for name, item_id, fp, links in s.execute(stmt):
                yield name, item_id, fp, list(links or [])

    def iter_parsed_fingerprints(
        self, banks: Iterable[str]
    ) -> Iterator[tuple[str, str, Fingerprint, list[str]]]:
        """(bank, item id, fingerprint, links) of every item of ``banks``; unreadable ones are skipped and
        logged."""
        for bank, item_id, fp, links in self.iter_fingerprints(banks):
            try:
                parsed = Fingerprint.parse(fp)
            except CopytraceError as exc:
                quarantine(bank, item_id, exc)
                continue
            yield bank, item_id, parsed, links

    def iter_fingerprint_batches(
        self,
        banks: Iterable[str],
        params: FingerprintParams,
        *,
        size: int = 50_000,
        on_bad: Callable[[str, str, CopytraceError], None] = quarantine,
    ) -> Iterator[tuple[list[str], list[str], FingerprintBatch, list[list[str]]]]:
        """(bank names, item ids, fingerprints, links) of the items of ``banks``, ``size`` rows at a time in
        the order added: ``iter_parsed_fingerprints`` in bulk, for building an index of many items.

        Rows are read with Core statements (no ORM objects) and each chunk's fingerprints are parsed by
        ``parse_many`` in one compiled pass.  An item whose stored fingerprint does not parse, or was made
        with other parameters than ``params``, is skipped and logged (``quarantine``); a chunk with no good
        row is not yielded.  Every bank must have been made with ``params``, else ``ParameterMismatchError``
        names it.  ``on_bad(bank, item_id, error)`` is told of each row left out (default: ``quarantine``).
        """
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        names = list(dict.fromkeys(banks))
        with self.engine.connect() as conn:
            stored = dict(
                conn.execute(select(BankRow.name, BankRow.params).where(BankRow.name.in_(names))).all()
            )
            for name in names:
                if name not in stored:
                    raise UnknownBankError(name)
                if stored[name] != str(params):
                    raise ParameterMismatchError(stored[name], str(params), what=f"bank {name!r}")
            stmt = (
                # links as their JSON text: most are null, and decoding each row's JSON was half the time
                select(BankRow.name, ItemRow.item_id, ItemRow.fingerprint, cast(ItemRow.links, Text))
                .join(BankRow)
                .where(BankRow.name.in_(names))
                .order_by(ItemRow.id)
            )
            result = conn.execution_options(stream_results=True, yield_per=size).execute(stmt)
            for rows in result.partitions(size):
                bank_names, item_ids, strings, raw_links = (
                    list(column) for column in zip(*rows, strict=True)
                )
                links = [[] if x is None or x == "null" else list(json.loads(x) or []) for x in raw_links]
                batch, errors = parse_many(strings, params)
                if errors:
                    for i, exc in errors:
                        on_bad(bank_names[i], item_ids[i], exc)
                    bad = {i for i, _ in errors}
                    keep = [i for i in range(len(rows)) if i not in bad]
                    if not keep:
                        continue
                    bank_names = [bank_names[i] for i in keep]
                    item_ids = [item_ids[i] for i in keep]
                    links = [links[i] for i in keep]
                yield bank_names, item_ids, batch, links

    def iter_phrases(
        self, banks: Iterable[str], *, on_bad: Callable[[str, str, CopytraceError], None] = quarantine
    ) -> Iterator[tuple[str, str, PhraseFingerprint]]:
        """(bank, item id, phrase fingerprint) of every item of ``banks`` kept as a phrase, in the order
        added; one whose stored phrase does not parse is handed to ``on_bad`` and left out."""
        names = list(dict.fromkeys(banks))
        stmt = (
            select(BankRow.name, ItemRow.item_id, ItemRow.phrase)
            .join(BankRow)
            .where(BankRow.name.in_(names), ItemRow.phrase.is_not(None))
            .order_by(ItemRow.id)
        )
        with self.engine.connect() as conn:
            for bank, item_id, phrase in conn.execution_options(yield_per=5000).execute(stmt):
                try:
                    yield bank, item_id, PhraseFingerprint.parse(phrase or "")
                except CopytraceError as exc:
                    on_bad(bank, item_id, exc)

    # ------------------------------------------------------------------------------------------- index
    def banks_for(self, params: FingerprintParams) -> BankSelection:
        """The banks made with exactly ``params`` (key, k, window and versions) and the others, left out.

        Compares the stored parameter strings, so a bank of a version this copytrace cannot read is left out
        rather than failing the listing.
        """
        wanted = str(params)
        with self._s() as s:
            stored = list(s.execute(select(BankRow.name, BankRow.params).order_by(BankRow.name)))
        return BankSelection(
            wanted,
            [name for name, p in stored if p == wanted],
            {name: p for name, p in stored if p != wanted},
        )

    def _search_params(self, names: list[str], key: Key) -> FingerprintParams | None:
        """The one parameter set of the named banks; an error naming banks and parameters if there is none."""
        with self._s() as s:
            stmt = select(BankRow.name, BankRow.params).where(BankRow.name.in_(names))
            stored: dict[str, str] = {name: p for name, p in s.execute(stmt)}
        first_bank: dict[str, str] = {}
        for n in names:
            if n not in stored:
                raise UnknownBankError(n)
            first_bank.setdefault(stored[n], n)
        if len(first_bank) > 1:
            (p1, b1), (p2, b2) = list(first_bank.items())[:2]
            raise ParameterMismatchError(
                p1,
                p2,
                what="banks",
                message=f"banks {b1!r} ({p1}) and {b2!r} ({p2}) were made with different parameters and "
                "cannot be searched together: search them one at a time",
            )
        if not first_bank:
            return None
        ((text, bank),) = first_bank.items()
        try:
            params = FingerprintParams.parse(text)
        except FingerprintFormatError as exc:
            raise FingerprintFormatError(f"bank {bank!r}: {exc}") from exc
        if params.key_id != key.key_id:
            ours = dataclasses.replace(params, key_id=key.key_id)
            raise ParameterMismatchError(
                params,
                ours,
                what=f"bank {bank!r}",
                message=f"bank {bank!r} was made with {params}, this search fingerprints with {ours}: "
                "another key; search it with the key it was made with (--key-file)",
            )
        return params

    def build_index(
        self,
        banks: Iterable[str] | None = None,
        *,
        key: Key | str | bytes | None = None,
        match_params: MatchParams = DEFAULT_MATCH_PARAMS,
        cache: bool = True,
    ) -> Index:
        """An index over the items of ``banks`` (default: the banks made with this key, default k and window).

        Named banks must share their parameters and be made with ``key``, else ``ParameterMismatchError``
        names the banks and both parameter strings.  With no bank named, banks made with other parameters
        (key, k, window or version; ``banks_for``) are left out, and when the store has banks but none of
        them can be searched that is a ``ParameterMismatchError`` too.  An item whose stored fingerprint
        cannot be parsed or indexed is skipped with a warning (``quarantine``).  With ``cache``, the index is
        saved under ``$COPYTRACE_CACHE`` (default ``$XDG_CACHE_HOME/copytrace``) for the store's current
        generation and loaded from there until the store changes, so a command starts in a fraction of the
        time a rebuild takes.
        """
        key_ = as_key(key)
        if banks is None:
            selection = self.banks_for(FingerprintParams(key_id=key_.key_id))
            if not selection.searched and selection.left_out:
                raise selection.nothing_searchable()
            names = selection.searched
        else:
            names = list(dict.fromkeys(banks))
        p = self._search_params(names, key_)
        if p is None:  # no bank: an empty index that fingerprints with the key
            return Index(key=key_, match_params=match_params, keep_text=False, text_lookup=self.text)
        return self._cached_index(names, p, key_, match_params, cache=cache)

    def _cached_index(
        self,
        names: list[str],
        p: FingerprintParams,
        key: Key | None,
        match_params: MatchParams,
        *,
        cache: bool = True,
    ) -> Index:
        """The index of ``names`` (made with ``p``), from the cache when the store has not changed since.

        A cached snapshot records the store's id, its generation, the banks and their parameters
        (``origin``) and is used only when all of them are the store's now: a store deleted and made again
        at the same path, or a snapshot of another store copied or linked there, is rebuilt, with one
        warning.  Without ``key`` it matches fingerprints only (``Index.for_params``): enough to link new
        items.
        """
        store_id, generation = self.identity()
        origin = {"store": store_id, "generation": generation, "banks": sorted(names), "params": str(p)}
        path = self._cache_path(names, p, generation, store_id) if cache and self._cache_usable() else None
        if path is not None and os.path.lexists(path):
            try:
                return Index.load(
                    path, key=key, match_params=match_params, text_lookup=self.text, origin=origin
                )
            except (CopytraceError, OSError) as exc:  # unreadable, stale, or pruned meanwhile: rebuild it
                if os.path.lexists(path):
                    log.warning("rebuilding the cached index %s: %s", path.name, exc)
                _discard(path)
        if path is not None:
            try:
                with SnapshotBuilder(path, p, origin=origin) as builder:  # written batch by batch, mapped
                    for bank, ids, batch, links in fingerprint_batches(self, names, p, on_bad=quarantine):
                        builder.add(bank, ids, batch, links)
                    only = self.phrase_banks()
                    for kind in (False, True):
                        builder.add_phrases(
                            [
                                x
                                for x in _usable_phrases(self.iter_phrases(names), p)
                                if (x[0] in only) == kind
                            ],
                            phrase_only=kind,
                        )
                self._prune_cache(generation)
                return Index.load(
                    path, key=key, match_params=match_params, text_lookup=self.text, origin=origin
                )
            except OSError as exc:  # a read-only or full cache is no reason to fail: build in memory
                log.warning("cannot cache the index in %s: %s", path.parent, exc)
        if key is None:
            index = Index.for_params(p, match_params=match_params, text_lookup=self.text)
        else:
            index = Index(
                key=key,
                k=p.k,
                window=p.window,
                match_params=match_params,
                keep_text=False,
                text_lookup=self.text,
            )
        for bank, ids, batch, links in fingerprint_batches(self, names, p, on_bad=quarantine):
            index.add_batch(ids, batch, bank=bank, links=links)
        only = self.phrase_banks()
        for bank, item_id, fp in _usable_phrases(self.iter_phrases(names), p):
            if (bank, item_id) in index:
                index.add_phrases([(bank, item_id, fp)], phrase_only=bank in only)
        return index

    def _cache_dir(self) -> Path:
        return Path(
            os.environ.get("COPYTRACE_CACHE")
            or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copytrace"
        )

    def _cache_usable(self) -> bool:
        """Whether the cache folder is private (``cache_dir.private_folder``), checked once per store
        opened, when the files dead processes left there are also removed."""
        if self._cache_checked is None:
            folder = self._cache_dir()
            self._cache_checked = private_folder(folder)
            if self._cache_checked:
                remove_orphans(folder)
        return self._cache_checked

    def _cache_path(
        self, names: list[str], params: FingerprintParams, generation: int, store_id: str
    ) -> Path:
        digest = hashlib.sha256(f"{self.url}|{sorted(names)}|{params}".encode()).hexdigest()[:12]
        return self._cache_dir() / f"{self._cache_prefix()}{store_id[:12]}-{digest}-g{generation}.ctidx"

    def _cache_prefix(self) -> str:
        """``index-<digest of the store's URL>-``: the start of the name of every index it caches."""
        return f"index-{hashlib.sha256(self.url.encode()).hexdigest()[:12]}-"

    def prune_cache(self) -> int:
        """Delete this store's cached indexes of generations older than the current one, and those of a
        store that was at its URL before (another store id); returns how many.

        Every change raises the generation and an index is cached for one generation, so those files are
        never loaded again.  Indexes are also pruned whenever one is cached and when a bank is deleted.
        """
        return self._prune_cache(self.generation())

    def _prune_cache(self, generation: int) -> int:
        if not self._cache_usable():
            return 0
        ours = f"{self._cache_prefix()}{self.store_id[:12]}-"
        n = 0
        folder = self._cache_dir()
        stale = [
            *folder.glob(f"{self._cache_prefix()}*-g*.ctidx"),
            *folder.glob(f"{self._cache_prefix()}*-g*.npz"),
        ]
        for path in stale:  # and those of the format before, whatever their generation
            tail = path.name.rsplit("-g", 1)[1].removesuffix(".ctidx")
            if path.suffix == ".npz" or not path.name.startswith(ours):
                tail = "0"
            if not tail.isdigit() or int(tail) >= generation:
                continue
            try:
                path.unlink()
                n += 1
            except FileNotFoundError:
                continue  # another process pruned it first
            except OSError as exc:
                log.warning("cannot delete the stale cached index %s: %s", path, exc.strerror)
        return n

    def generation(self) -> int:
        """A number that grows with every change to banks or items."""
        with self._s() as s:
            return int(s.scalar(select(StoreStateRow.generation).where(StoreStateRow.id == 1)) or 0)

    @property
    def store_id(self) -> str:
        """A random name the store got when it was made: it tells a store from one made at the same URL
        after it was deleted (whose generations start again from 0)."""
        return self.identity()[0]

    def identity(self) -> tuple[str, int]:
        """The store id and generation, read together: what a snapshot derived from the store records."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(StoreStateRow.store_id, StoreStateRow.generation).where(StoreStateRow.id == 1)
            ).one_or_none()
        if row is None or not row[0]:
            raise StoreError(f"the store at {self.url} has no store id: it was damaged; restore a backup")
        return str(row[0]), int(row[1])


def _discard(path: Path) -> None:
    """Remove what is at ``path`` (a file, a link, a FIFO) if it can be: it is rebuilt in its place."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc.strerror or exc)
