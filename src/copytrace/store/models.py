"""The tables of the bank store.  Changes to them are Alembic migrations in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that reads back timezone-aware in UTC on every database (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class BankRow(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    params: Mapped[str] = mapped_column(String(100))
    # a phrase bank: every item is matched as a phrase (copytrace.phrases)
    phrases: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    items: Mapped[list[ItemRow]] = relationship(back_populates="bank", cascade="all, delete-orphan")


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("bank_id", "item_id", name="uq_items_bank_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(1000))
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    fingerprint: Mapped[str] = mapped_column(Text)
    labels: Mapped[list[str]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # ids of the items of the bank this one is a version of, found when it was added
    # (copytrace.banks.linking)
    links: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # the item's phrase fingerprint, when it is matched as a phrase (copytrace.phrases)
    phrase: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    bank: Mapped[BankRow] = relationship(back_populates="items")


class StoreStateRow(Base):
    """One row: ``generation`` grows with every change to banks or items, and ``store_id`` is a random name
    given when the store was made; together they say which state of which store a derived index holds."""

    __tablename__ = "store_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    store_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


_BIGID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only


class ChangeRow(Base):
    """One change to banks or items, in the transaction that made it: the feed running indexes follow.

    ``generation`` is the store generation the change's transaction set; ``op`` is ``add`` (item added or
    replaced), ``remove`` (item removed), ``create_bank`` or ``drop_bank``.
    """

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, index=True)
    op: Mapped[str] = mapped_column(String(16))
    bank: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class ApiKeyRow(Base):
    """An API key: its public id, role, and a salted SHA-256 of its secret (the secret is never stored)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditRow(Base):
    """Who changed what, when: written in the same transaction as the change."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(_BIGID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    bank: Mapped[str | None] = mapped_column(String(200), nullable=True)
    item_id: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReviewRow(Base):
    """A reviewer's decision on one match: the query is kept as its SHA-256 only."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_item", "bank", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(200))
    bank: Mapped[str] = mapped_column(String(200))
    item_id: Mapped[str] = mapped_column(String(1000))
    query_sha256: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
