"""The tables of the bank store, as SQLAlchemy Core ``Table`` objects: what the store reads and writes.

The store runs Core statements on these tables (``select``/``insert``/``update``/``delete`` on a
connection), so a command that adds or reads items never imports SQLAlchemy's ORM (about a fifth of a
second of start-up, with the mapped classes).  ``copytrace.store.models`` maps ORM classes onto the same
tables for the modules that keep keys and reviews, and its ``Base.metadata`` is this ``metadata``: the
schema is defined once, here.  Changes to it are Alembic migrations in ``migrations/versions`` (a test
checks that the migrations build exactly these tables).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect

__all__ = ["api_keys", "audit", "banks", "changes", "items", "metadata", "reviews", "store_state"]


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that reads back timezone-aware in UTC on every database (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


_BIGID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

metadata = MetaData()

banks = Table(
    "banks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), unique=True, nullable=False),
    Column("params", String(100), nullable=False),
    # a phrase bank: every item is matched as a phrase (copytrace.phrases)
    Column("phrases", Boolean, default=False, server_default=false(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("bank_id", Integer, ForeignKey("banks.id", ondelete="CASCADE"), index=True, nullable=False),
    Column("item_id", String(1000), nullable=False),
    Column("text", Text, nullable=True),
    Column("fingerprint", Text, nullable=False),
    Column("labels", JSON, default=list, nullable=False),
    Column("metadata", JSON, default=dict, nullable=False),
    # ids of the items of the bank this one is a version of, found when it was added
    # (copytrace.banks.linking)
    Column("links", JSON, nullable=True),
    # the item's phrase fingerprint, when it is matched as a phrase (copytrace.phrases)
    Column("phrase", Text, nullable=True),
    Column("added_at", UTCDateTime(), nullable=False),
    UniqueConstraint("bank_id", "item_id", name="uq_items_bank_item"),
)

store_state = Table(
    "store_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("store_id", String(32), nullable=True),
)
"""One row: ``generation`` grows with every change to banks or items, and ``store_id`` is a random name
given when the store was made; together they say which state of which store a derived index holds."""

changes = Table(
    "changes",
    metadata,
    Column("id", _BIGID, primary_key=True),
    Column("generation", BigInteger, index=True, nullable=False),
    Column("op", String(16), nullable=False),
    Column("bank", String(200), nullable=False),
    Column("item_id", String(1000), nullable=True),
)
"""One change to banks or items, in the transaction that made it: the feed running indexes follow.

``generation`` is the store generation the change's transaction set; ``op`` is ``add`` (item added or
replaced), ``remove`` (item removed), ``create_bank`` or ``drop_bank``.
"""

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), unique=True, nullable=False),
    Column("role", String(16), nullable=False),
    Column("key_id", String(32), unique=True, nullable=False),
    Column("salt", String(64), nullable=False),
    Column("digest", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)
"""An API key: its public id, role, and a salted SHA-256 of its secret (the secret is never stored)."""

audit = Table(
    "audit",
    metadata,
    Column("id", _BIGID, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(50), nullable=False),
    Column("bank", String(200), nullable=True),
    Column("item_id", String(1000), nullable=True),
    Column("detail", JSON, default=dict, nullable=False),
)
"""Who changed what, when: written in the same transaction as the change."""

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("bank", String(200), nullable=False),
    Column("item_id", String(1000), nullable=False),
    Column("query_sha256", String(64), nullable=False),
    Column("decision", String(20), nullable=False),
    Column("note", Text, nullable=False),
    Column("score", Float, nullable=True),
    Index("ix_reviews_item", "bank", "item_id"),
)
"""A reviewer's decision on one match: the query is kept as its SHA-256 only."""
