"""What the modules that keep keys, audit, reviews and the change feed need of a store: new sessions."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session


class Sessions(Protocol):
    """Anything that opens ORM sessions on a store (``copytrace.store.Store`` does)."""

    def session(self) -> Session:
        """A new ORM session on the store."""
        ...
