"""Embedded and server storage of banks and items (SQLAlchemy + Alembic)."""

from .store import BankInfo, ItemRecord, Store, default_url

__all__ = ["BankInfo", "ItemRecord", "Store", "default_url"]
