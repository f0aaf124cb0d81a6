"""Stored items as records, and the readers of them: one item, a bank's items, texts, and every
fingerprint and phrase of some banks streamed in bulk (the input of an index built from the store).

``ItemReader`` is the reading half of ``copytrace.store.store.Store``, kept apart so that each file holds
one concern.  A row that cannot be parsed (a fingerprint written by an older or hostile writer) is handed
to ``on_bad`` (default ``quarantine``: one warning naming its bank and id) and left out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, null, select
from sqlalchemy.engine import Connection, Dialect, Engine

from ..errors import (
    CopytraceError,
    FingerprintFormatError,
    ParameterMismatchError,
    UnknownBankError,
    UnknownItemError,
)
from ..fingerprints.batch import FingerprintBatch, parse_many
from ..fingerprints.fingerprint import Fingerprint, FingerprintParams
from ..fingerprints.phrase import PhraseFingerprint
from . import tables

log = logging.getLogger("copytrace.store")

BANKS, ITEMS = tables.banks, tables.items

_IDS_PER_QUERY = 500
"""Item ids bound in one ``IN`` list (SQLite allows 32,766 variables a statement; PostgreSQL 65,535)."""
_BANK_ID = select(BANKS.c.id).where(BANKS.c.name == bindparam("bank"))
_COLUMN_OF: dict[str, Any] = {}  # ``_column_of``'s statement for each column, by the column's name
_COLUMN_SQL: dict[tuple[str, str, str, int], str] = {}  # its SQL for (dialect, column, mark, number of ids)
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # a positional parameter in each driver's style
_BANK_ID_SQL = (
    f"SELECT {BANKS.name}.id FROM {BANKS.name} WHERE {BANKS.name}.name = ?"  # "?": the driver's mark
)


def _column_statement(column: Any) -> Any:
    """``_column_of``'s statement through SQLAlchemy (built once per column)."""
    stmt = _COLUMN_OF.get(column.key)
    if stmt is None:  # building a statement cost more than running it
        stmt = _COLUMN_OF[column.key] = select(ITEMS.c.item_id, column).where(
            ITEMS.c.bank_id == bindparam("bank_id"),
            ITEMS.c.item_id.in_(bindparam("ids", expanding=True)),
            column.is_not(None),
        )
    return stmt


def _column_sql(dialect: Dialect, name: str, mark: str, n: int) -> str:
    """The SQL of ``_column_of`` for column ``name`` and ``n`` ids, in the driver's parameter style."""
    key = (dialect.name, name, mark, n)
    sql = _COLUMN_SQL.get(key)
    if sql is None:
        t, col = ITEMS.name, dialect.identifier_preparer.quote(name)  # qualified, as SQLAlchemy writes it
        sql = _COLUMN_SQL[key] = (
            f"SELECT {t}.item_id, {t}.{col} FROM {t} WHERE {t}.bank_id = {mark} "
            f"AND {t}.item_id IN ({', '.join([mark] * n)}) AND {t}.{col} IS NOT NULL"
        )
    return sql


_TEXT_OF_ITEM = (
    select(ITEMS.c.text)
    .join(BANKS)
    .where(BANKS.c.name == bindparam("bank"), ITEMS.c.item_id == bindparam("item_id"))
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


def fingerprint_chunk(
    bank_names: list[str],
    item_ids: list[str],
    raw_links: list[str | None],
    parsed: tuple[FingerprintBatch, list[tuple[int, FingerprintFormatError]]],
    on_bad: Callable[[str, str, CopytraceError], None],
) -> tuple[list[str], list[str], FingerprintBatch, list[list[str]]] | None:
    """A chunk of ``iter_fingerprint_batches`` from its rows and their ``parse_many``: the links decoded from
    their JSON text, and each row whose fingerprint was refused told to ``on_bad`` and left out (None when
    no row is left)."""
    batch, errors = parsed
    links = [[] if x is None or x == "null" else list(json.loads(x) or []) for x in raw_links]
    if errors:
        for i, exc in errors:
            on_bad(bank_names[i], item_ids[i], exc)
        bad = {i for i, _ in errors}
        keep = [i for i in range(len(item_ids)) if i not in bad]
        if not keep:
            return None
        bank_names = [bank_names[i] for i in keep]
        item_ids = [item_ids[i] for i in keep]
        links = [links[i] for i in keep]
    return bank_names, item_ids, batch, links


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


class ItemReader:
    """Reading a store's items with Core statements (mixed into ``Store``, which gives it ``engine``)."""

    engine: Engine

    @staticmethod
    def _bank_id(conn: Connection, name: str) -> int:
        """The row id of bank ``name``; ``UnknownBankError`` for no such bank."""
        bank_id = conn.execute(_BANK_ID, {"bank": name}).scalar()
        if bank_id is None:
            raise UnknownBankError(name)
        return int(bank_id)

    def get_item(self, bank: str, item_id: str) -> ItemRecord:
        t = ITEMS.c
        with self.engine.connect() as conn:
            bank_id = self._bank_id(conn, bank)
            item = conn.execute(
                select(
                    t.item_id, t.fingerprint, t.text, t.labels, t.metadata, t.added_at, t.links, t.phrase
                ).where(t.bank_id == bank_id, t.item_id == item_id)
            ).one_or_none()
            if item is None:
                raise UnknownItemError(bank, item_id)
            return ItemRecord(
                item.item_id,
                _parse_stored(bank, item_id, item.fingerprint),
                item.text,
                list(item.labels),
                dict(item.metadata),
                item.added_at,
                list(item.links or []),
                None if item.phrase is None else PhraseFingerprint.parse(item.phrase),
            )

    def iter_items(self, bank: str, *, with_text: bool = False) -> Iterator[ItemRecord]:
        """Every item of a bank in the order added, streamed (texts only if asked for)."""
        t = ITEMS.c
        with self.engine.connect() as conn:
            bank_id = self._bank_id(conn, bank)
            stmt = (
                select(
                    t.item_id,
                    t.fingerprint,
                    t.labels,
                    t.metadata,
                    t.added_at,
                    t.text if with_text else null(),
                    t.links,
                    t.phrase,
                )
                .where(t.bank_id == bank_id)
                .order_by(t.id)
            )
            rows = conn.execution_options(yield_per=5000).execute(stmt)
            for item_id, fp, labels, meta, added_at, text, links, phrase in rows:
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

    def texts_of(self, bank: str, item_ids: Iterable[str]) -> dict[str, str]:
        """The stored text of each of ``item_ids`` that ``bank`` holds with one (the others are left out),
        read in batches (``_column_of``): a scan worker's quote pass asks for the texts of every candidate
        of a batch of documents at once, at about an eighth of the cost per item of ``text``.
        ``UnknownBankError`` for no such bank."""
        return self._column_of(bank, item_ids, ITEMS.c.text)

    def iter_fingerprints(self, banks: Iterable[str]) -> Iterator[tuple[str, str, str, list[str]]]:
        """(bank, item id, fingerprint string, links) of every item of ``banks`` in the order added, streamed.

        The strings are as stored: parse them with ``iter_parsed_fingerprints`` to skip unreadable ones.
        """
        with self.engine.connect() as conn:
            names = list(banks)
            for name in names:
                self._bank_id(conn, name)
            stmt = (
                select(BANKS.c.name, ITEMS.c.item_id, ITEMS.c.fingerprint, ITEMS.c.links)
                .join(BANKS)
                .where(BANKS.c.name.in_(names))
                .order_by(ITEMS.c.id)
            )
            for name, item_id, fp, links in conn.execution_options(yield_per=5000).execute(stmt):
                yield name, item_id, fp, list(links or [])

    def fingerprints_of(self, bank: str, item_ids: Iterable[str]) -> dict[str, str]:
        """The stored fingerprint string of each of ``item_ids`` that ``bank`` holds (the others are left
        out), read in batches (``_column_of``): adding a few items to a large bank reads those few rows, not
        the bank.  ``UnknownBankError`` for no such bank."""
        return self._column_of(bank, item_ids, ITEMS.c.fingerprint)

    def _column_of(self, bank: str, item_ids: Iterable[str], column: Any) -> dict[str, str]:
        """``column`` of each of ``item_ids`` that ``bank`` holds with a value (the others are left out),
        looked up by the bank's (bank, item id) index in batches of ``_IDS_PER_QUERY``.

        The SQL is written once for each column and number of ids, and run as it is (``exec_driver_sql``):
        a match's quote pass reads its candidates' texts here, and a Core statement's expanding ``IN`` list
        was compiled again at every read (``docs/benchmarks.md``, service)."""
        ids = list(dict.fromkeys(item_ids))
        out: dict[str, str] = {}
        dialect = self.engine.dialect
        mark = _MARKS.get(dialect.paramstyle)
        with self.engine.connect() as conn:
            if mark is None:  # a driver of another parameter style: through SQLAlchemy
                bank_id = self._bank_id(conn, bank)
                for start in range(0, len(ids), _IDS_PER_QUERY):
                    batch = ids[start : start + _IDS_PER_QUERY]
                    rows = conn.execute(_column_statement(column), {"bank_id": bank_id, "ids": batch})
                    out.update((item_id, str(value)) for item_id, value in rows)
                return out
            found = conn.exec_driver_sql(_BANK_ID_SQL.replace("?", mark), (bank,)).first()
            if found is None:
                raise UnknownBankError(bank)
            for start in range(0, len(ids), _IDS_PER_QUERY):
                batch = ids[start : start + _IDS_PER_QUERY]
                sql = _column_sql(dialect, column.name, mark, len(batch))
                rows = conn.exec_driver_sql(sql, (found[0], *batch))
                out.update((item_id, str(value)) for item_id, value in rows)
        return out

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
                conn.execute(select(BANKS.c.name, BANKS.c.params).where(BANKS.c.name.in_(names))).all()
            )
            for name in names:
                if name not in stored:
                    raise UnknownBankError(name)
                if stored[name] != str(params):
                    raise ParameterMismatchError(stored[name], str(params), what=f"bank {name!r}")
            stmt = (
                # links as their JSON text: most are null, and decoding each row's JSON was half the time
                select(BANKS.c.name, ITEMS.c.item_id, ITEMS.c.fingerprint, cast(ITEMS.c.links, Text))
                .join(BANKS)
                .where(BANKS.c.name.in_(names))
                .order_by(ITEMS.c.id)
            )
            result = conn.execution_options(stream_results=True, yield_per=size).execute(stmt)
            for rows in result.partitions(size):
                bank_names, item_ids, strings, raw_links = (
                    list(column) for column in zip(*rows, strict=True)
                )
                chunk = fingerprint_chunk(
                    bank_names, item_ids, raw_links, parse_many(strings, params), on_bad
                )
                if chunk is not None:
                    yield chunk

    def iter_phrases(
        self, banks: Iterable[str], *, on_bad: Callable[[str, str, CopytraceError], None] = quarantine
    ) -> Iterator[tuple[str, str, PhraseFingerprint]]:
        """(bank, item id, phrase fingerprint) of every item of ``banks`` kept as a phrase, in the order
        added; one whose stored phrase does not parse is handed to ``on_bad`` and left out."""
        names = list(dict.fromkeys(banks))
        stmt = (
            select(BANKS.c.name, ITEMS.c.item_id, ITEMS.c.phrase)
            .join(BANKS)
            .where(BANKS.c.name.in_(names), ITEMS.c.phrase.is_not(None))
            .order_by(ITEMS.c.id)
        )
        with self.engine.connect() as conn:
            for bank, item_id, phrase in conn.execution_options(yield_per=5000).execute(stmt):
                try:
                    yield bank, item_id, PhraseFingerprint.parse(phrase or "")
                except CopytraceError as exc:
                    on_bad(bank, item_id, exc)
