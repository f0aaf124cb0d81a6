"""The audit log: who changed what and when, written in the transaction of the change, read newest first."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from .sessions import Sessions
from .tables import audit as audit_table

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session


def default_actor() -> str:
    """Who the log names for a change made outside the service: ``local:<user>``."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local"


def audit(
    s: Connection | Session,
    actor: str | None,
    action: str,
    bank: str | None = None,
    item_id: str | None = None,
    **detail: Any,
) -> None:
    """Write one entry in the caller's transaction (so it is stored exactly when the change is), on its
    connection or ORM session."""
    s.execute(
        insert(audit_table).values(
            at=datetime.now(UTC),
            actor=actor or default_actor(),
            action=action,
            bank=bank,
            item_id=item_id,
            detail=detail,
        )
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    bank: str | None
    item_id: str | None
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "bank": self.bank,
            "item_id": self.item_id,
            "detail": self.detail,
        }


def audit_entries(store: Sessions, *, before: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """Up to ``limit`` entries, newest first, older than entry ``before`` when given (for paging)."""
    t = audit_table
    stmt = select(t.c.id, t.c.at, t.c.actor, t.c.action, t.c.bank, t.c.item_id, t.c.detail)
    stmt = stmt.order_by(t.c.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(t.c.id < before)
    with store.engine.connect() as conn:
        return [
            AuditEntry(r.id, r.at, r.actor, r.action, r.bank, r.item_id, dict(r.detail))
            for r in conn.execute(stmt)
        ]
