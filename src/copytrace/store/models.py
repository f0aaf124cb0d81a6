"""The tables of the bank store.  Changes to them are Alembic migrations in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class BankRow(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    params: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
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
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    bank: Mapped[BankRow] = relationship(back_populates="items")


class StoreStateRow(Base):
    """One row: ``generation`` grows with every change to banks or items (cache key for derived indexes)."""

    __tablename__ = "store_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
