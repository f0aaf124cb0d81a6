"""The bank store: banks and items in SQL, through SQLAlchemy, with Alembic migrations applied on open.

Any SQLAlchemy URL works; a plain path means an SQLite file.  The default is ``$COPYTRACE_DB``, else
``$XDG_DATA_HOME/copytrace/copytrace.db``.  SQLite runs in WAL mode with ``synchronous=FULL``, so an item
is on disk once the call that added it returns.  Adding items is one transaction: all are stored or none.

The index is derived from the store: ``build_index`` reads the stored fingerprints (no text is
re-fingerprinted) and gives the index a ``text_lookup`` into the store for item spans.

Every change runs in one transaction that first raises the store's ``generation`` (the row lock this takes
orders concurrent writers), then writes the change, one row per touched item in the ``changes`` feed that
running indexes follow (``copytrace.store.feed``), and one row in the audit log naming the ``actor``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, create_engine, delete, event, func, insert, null, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import (
    CopytraceError,
    DuplicateItemError,
    ParameterMismatchError,
    StoreError,
    UnknownBankError,
    UnknownItemError,
)
from ..fingerprint import Fingerprint, FingerprintParams
from ..index import Index
from ..keys import Key, as_key
from ..match import DEFAULT_MATCH_PARAMS, MatchParams
from .audit_log import audit
from .models import BankRow, ChangeRow, ItemRow, StoreStateRow

_BATCH = 2000
_TEXT_OF_ITEM = (
    select(ItemRow.text)
    .join(BankRow)
    .where(BankRow.name == bindparam("bank"), ItemRow.item_id == bindparam("item_id"))
)


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
    path = Path(db).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class BankInfo:
    name: str
    params: FingerprintParams
    n_items: int
    created_at: datetime


@dataclass(frozen=True)
class ItemRecord:
    """One item to store or as stored."""

    item_id: str
    fingerprint: Fingerprint
    text: str | None = None
    labels: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    added_at: datetime | None = None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("copytrace.store").joinpath("migrations")))
    return cfg


class Store:
    """Banks and items in a SQL database."""

    def __init__(self, db: str | None = None) -> None:
        self.url = to_url(db or default_url())
        try:
            self.engine: Engine = create_engine(self.url, pool_pre_ping=True)
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", _sqlite_pragmas)
            self._session = sessionmaker(self.engine, expire_on_commit=False)
            self.migrate()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open the store at {self.url}: {exc.__class__.__name__}: {exc}") from exc

    def migrate(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is there already)."""
        cfg = _alembic_config()
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.engine.begin() as conn:
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
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

    def create_bank(self, name: str, params: FingerprintParams, *, actor: str | None = None) -> bool:
        """Create a bank whose items are fingerprinted with ``params``; False if it exists with them."""
        if not name or len(name) > 200 or name.strip() != name or "/" in name:
            raise StoreError(f"bad bank name {name!r}: 1-200 characters, no '/', no surrounding spaces")
        try:
            with self._s() as s, s.begin():
                generation = _bump(s)
                row = s.scalar(select(BankRow).where(BankRow.name == name))
                if row is not None:
                    if row.params != str(params):
                        raise ParameterMismatchError(row.params, str(params), what=f"bank {name!r}")
                    raise _NoChangeError
                s.add(BankRow(name=name, params=str(params), created_at=datetime.now(UTC)))
                s.add(ChangeRow(generation=generation, op="create_bank", bank=name))
                audit(s, actor, "create_bank", name, params=str(params))
                return True
        except _NoChangeError:
            return False

    def banks(self) -> list[BankInfo]:
        with self._s() as s:
            counts = dict(s.execute(select(ItemRow.bank_id, func.count()).group_by(ItemRow.bank_id)).all())
            return [
                BankInfo(r.name, FingerprintParams.parse(r.params), counts.get(r.id, 0), r.created_at)
                for r in s.scalars(select(BankRow).order_by(BankRow.name))
            ]

    def bank_params(self) -> dict[str, FingerprintParams]:
        """Each bank's fingerprint parameters, without counting items."""
        with self._s() as s:
            return {
                name: FingerprintParams.parse(p)
                for name, p in s.execute(select(BankRow.name, BankRow.params))
            }

    def bank(self, name: str) -> BankInfo:
        for info in self.banks():
            if info.name == name:
                return info
        raise UnknownBankError(name)

    def delete_bank(self, name: str, *, actor: str | None = None) -> int:
        """Delete a bank and its items; returns how many items went with it."""
        with self._s() as s, s.begin():
            generation = _bump(s)
            row = self._bank(s, name)
            n = s.scalar(select(func.count()).select_from(ItemRow).where(ItemRow.bank_id == row.id)) or 0
            s.execute(delete(ItemRow).where(ItemRow.bank_id == row.id))
            s.delete(row)
            s.add(ChangeRow(generation=generation, op="drop_bank", bank=name))
            audit(s, actor, "delete_bank", name, items=int(n))
            return int(n)

    # ------------------------------------------------------------------------------------------- items
    def add_items(
        self, bank: str, records: Iterable[ItemRecord], *, replace: bool = False, actor: str | None = None
    ) -> int:
        """Store items in one transaction; on any error nothing of this call is stored.

        Rows go in as bulk INSERTs of ``_BATCH``, each batch first looking up which of its ids the bank holds
        (an error, or with ``replace`` a row to delete).
        """
        n = 0
        added: list[str] = []  # the first 20 ids, for the audit row
        try:
            with self._s() as s, s.begin():
                generation = _bump(s)
                row = self._bank(s, bank)
                params = FingerprintParams.parse(row.params)
                now = datetime.now(UTC)
                batch: list[dict[str, Any]] = []

                def flush() -> None:
                    ids = [r["item_id"] for r in batch]
                    if len(set(ids)) != len(ids):
                        raise DuplicateItemError(bank, next(i for i in ids if ids.count(i) > 1))
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
                    added.extend(ids[: max(0, 20 - len(added))])
                    batch.clear()

                for rec in records:
                    if rec.fingerprint.params != params:
                        raise ParameterMismatchError(
                            params, rec.fingerprint.params, what=f"item {rec.item_id!r}"
                        )
                    batch.append(
                        {
                            "bank_id": row.id,
                            "item_id": rec.item_id,
                            "text": rec.text,
                            "fingerprint": str(rec.fingerprint),
                            "labels": list(rec.labels),
                            "meta": dict(rec.metadata),
                            "added_at": now,
                        }
                    )
                    n += 1
                    if len(batch) >= _BATCH:
                        flush()
                if batch:
                    flush()
                if n == 0:
                    raise _NoChangeError
                if n == 1:
                    audit(s, actor, "add_item", bank, added[0], replace=replace)
                else:
                    audit(s, actor, "add_items", bank, None, count=n, first_ids=added, replace=replace)
        except _NoChangeError:
            return 0
        return n

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
                Fingerprint.parse(item.fingerprint),
                item.text,
                list(item.labels),
                dict(item.meta),
                item.added_at,
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
                )
                .where(ItemRow.bank_id == row.id)
                .order_by(ItemRow.id)
                .execution_options(yield_per=5000)
            )
            for item_id, fp, labels, meta, added_at, text in s.execute(stmt):
                yield ItemRecord(item_id, Fingerprint.parse(fp), text, list(labels), dict(meta), added_at)

    def text(self, bank: str, item_id: str) -> str | None:
        """The stored text of an item, or None when it was stored as a fingerprint only or is gone.

        Called for every match that gets item spans, so it runs one prepared Core statement on a pooled
        connection (an ORM session per call cost twice the time of the match itself).
        """
        with self.engine.connect() as conn:
            value = conn.execute(_TEXT_OF_ITEM, {"bank": bank, "item_id": item_id}).scalar()
            return None if value is None else str(value)

    def iter_fingerprints(self, banks: Iterable[str]) -> Iterator[tuple[str, str, str]]:
        """(bank, item id, fingerprint string) of every item of ``banks``, streamed."""
        with self._s() as s:
            names = list(banks)
            for name in names:
                self._bank(s, name)
            stmt = (
                select(BankRow.name, ItemRow.item_id, ItemRow.fingerprint)
                .join(BankRow)
                .where(BankRow.name.in_(names))
                .order_by(ItemRow.id)
                .execution_options(yield_per=5000)
            )
            for name, item_id, fp in s.execute(stmt):
                yield name, item_id, fp

    # ------------------------------------------------------------------------------------------- index
    def build_index(
        self,
        banks: Iterable[str] | None = None,
        *,
        key: Key | str | bytes | None = None,
        match_params: MatchParams = DEFAULT_MATCH_PARAMS,
        cache: bool = True,
    ) -> Index:
        """An index over the items of ``banks`` (default: every bank made with this key).

        Banks made with another key or other parameters cannot share an index: naming one raises
        ``ParameterMismatchError``; when no bank is named they are left out.  With ``cache``, the index is
        saved under ``$COPYTRACE_CACHE`` (default ``$XDG_CACHE_HOME/copytrace``) for the store's current
        generation and loaded from there until the store changes, so a command starts in a fraction of the
        time a rebuild takes.
        """
        key_ = as_key(key)
        infos = {b.name: b for b in self.banks()}
        if banks is None:
            names = [n for n, b in infos.items() if b.params.key_id == key_.key_id]
        else:
            names = list(dict.fromkeys(banks))
            for n in names:
                if n not in infos:
                    raise UnknownBankError(n)
        params = {infos[n].params for n in names}
        if len(params) > 1:
            first, second = sorted(map(str, params))[:2]
            raise ParameterMismatchError(first, second, what="banks")
        p = params.pop() if params else None
        if p is not None and p.key_id != key_.key_id:
            raise ParameterMismatchError(p, f"key {key_.key_id}", what="bank key")
        generation = self.generation()
        path = self._cache_path(names, p, generation) if cache and p is not None else None
        if path is not None and path.exists():
            try:
                return Index.load(path, key=key_, match_params=match_params, text_lookup=self.text)
            except CopytraceError:
                path.unlink(missing_ok=True)  # unreadable: rebuild it
        index = Index(
            key=key_,
            k=p.k if p else 5,
            window=p.window if p else 4,
            match_params=match_params,
            keep_text=False,
            text_lookup=self.text,
        )
        for bank, item_id, fp in self.iter_fingerprints(names):
            index.add(item_id, Fingerprint.parse(fp), bank=bank)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                index.save(path)
                for stale in path.parent.glob(path.name.rsplit("-g", 1)[0] + "-g*.npz"):
                    if stale != path:
                        stale.unlink(missing_ok=True)
            except OSError:
                pass  # a read-only cache is no reason to fail: the index is in memory
        return index

    def _cache_path(self, names: list[str], params: FingerprintParams, generation: int) -> Path:
        base = os.environ.get("COPYTRACE_CACHE") or str(
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "copytrace"
        )
        digest = hashlib.sha256(f"{self.url}|{sorted(names)}|{params}".encode()).hexdigest()[:24]
        return Path(base) / f"index-{digest}-g{generation}.npz"

    def generation(self) -> int:
        """A number that grows with every change to banks or items."""
        with self._s() as s:
            return int(s.scalar(select(StoreStateRow.generation).where(StoreStateRow.id == 1)) or 0)
