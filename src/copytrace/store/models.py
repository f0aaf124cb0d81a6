"""ORM classes mapped onto the store's tables (``copytrace.store.tables``), for the modules that keep API
keys and reviews and for code that wants row objects.  The store itself reads and writes with Core
statements on the tables and does not import this module.  Changes to the tables are Alembic migrations
in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, relationship

from . import tables
from .tables import UTCDateTime

__all__ = [
    "ApiKeyRow",
    "AuditRow",
    "BankRow",
    "Base",
    "ChangeRow",
    "ItemRow",
    "ReviewRow",
    "StoreStateRow",
    "UTCDateTime",
]


class Base(DeclarativeBase):
    metadata = tables.metadata


class BankRow(Base):
    __table__ = tables.banks

    id: Mapped[int]
    name: Mapped[str]
    params: Mapped[str]
    phrases: Mapped[bool]
    created_at: Mapped[datetime]
    items: Mapped[list[ItemRow]] = relationship(back_populates="bank", cascade="all, delete-orphan")


class ItemRow(Base):
    __table__ = tables.items

    id: Mapped[int]
    bank_id: Mapped[int]
    item_id: Mapped[str]
    text: Mapped[str | None]
    fingerprint: Mapped[str]
    labels: Mapped[list[str]]
    meta: Mapped[dict[str, Any]] = column_property(tables.items.c.metadata)  # the column "metadata"
    links: Mapped[list[str] | None]
    phrase: Mapped[str | None]
    added_at: Mapped[datetime]
    bank: Mapped[BankRow] = relationship(back_populates="items")


class StoreStateRow(Base):
    __table__ = tables.store_state

    id: Mapped[int]
    generation: Mapped[int]
    store_id: Mapped[str | None]


class ChangeRow(Base):
    __table__ = tables.changes

    id: Mapped[int]
    generation: Mapped[int]
    op: Mapped[str]
    bank: Mapped[str]
    item_id: Mapped[str | None]


class ApiKeyRow(Base):
    __table__ = tables.api_keys

    id: Mapped[int]
    name: Mapped[str]
    role: Mapped[str]
    key_id: Mapped[str]
    salt: Mapped[str]
    digest: Mapped[str]
    created_at: Mapped[datetime]
    created_by: Mapped[str]
    revoked_at: Mapped[datetime | None]


class AuditRow(Base):
    __table__ = tables.audit

    id: Mapped[int]
    at: Mapped[datetime]
    actor: Mapped[str]
    action: Mapped[str]
    bank: Mapped[str | None]
    item_id: Mapped[str | None]
    detail: Mapped[dict[str, Any]]


class ReviewRow(Base):
    __table__ = tables.reviews

    id: Mapped[int]
    at: Mapped[datetime]
    actor: Mapped[str]
    bank: Mapped[str]
    item_id: Mapped[str]
    query_sha256: Mapped[str]
    decision: Mapped[str]
    note: Mapped[str]
    score: Mapped[float | None]
