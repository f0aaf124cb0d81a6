"""What the modules that keep keys, audit, reviews and the change feed need of a store: its engine, for
Core statements (the change feed, the audit log's reads), and new ORM sessions (keys, reviews)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session


class Sessions(Protocol):
    """Anything with an engine that opens ORM sessions on a store (``copytrace.store.Store`` does)."""

    @property
    def engine(self) -> Engine:
        """The store's engine: connections for Core statements."""
        ...

    def session(self) -> Session:
        """A new ORM session on the store."""
        ...
