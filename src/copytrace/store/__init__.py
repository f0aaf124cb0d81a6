"""Persistence of banks and items (SQLAlchemy + Alembic): no index is made here (``copytrace.banks``)."""

from .store import BankInfo, ItemRecord, Store, default_url

__all__ = ["BankInfo", "ItemRecord", "Store", "default_url"]
