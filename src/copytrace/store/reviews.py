"""Reviewers' decisions on matches (confirmed / false positive / note), stored with an audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from ..errors import StoreError
from .audit_log import audit
from .models import ReviewRow
from .sessions import Sessions

DECISIONS = ("confirmed", "false_positive", "note")


@dataclass(frozen=True)
class Review:
    id: int
    at: datetime
    actor: str
    bank: str
    item_id: str
    query_sha256: str
    decision: str
    note: str
    score: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "bank": self.bank,
            "item_id": self.item_id,
            "query_sha256": self.query_sha256,
            "decision": self.decision,
            "note": self.note,
            "score": self.score,
        }


def _review(r: ReviewRow) -> Review:
    return Review(r.id, r.at, r.actor, r.bank, r.item_id, r.query_sha256, r.decision, r.note, r.score)


def record_review(
    store: Sessions,
    *,
    bank: str,
    item_id: str,
    query_sha256: str,
    decision: str,
    note: str = "",
    score: float | None = None,
    actor: str,
) -> Review:
    """Store a decision and its audit entry in one transaction."""
    if decision not in DECISIONS:
        raise StoreError(f"unknown decision {decision!r}: one of {', '.join(DECISIONS)}")
    with store.session() as s, s.begin():
        row = ReviewRow(
            at=datetime.now(UTC),
            actor=actor,
            bank=bank,
            item_id=item_id,
            query_sha256=query_sha256,
            decision=decision,
            note=note,
            score=score,
        )
        s.add(row)
        s.flush()
        audit(
            s,
            actor,
            "review",
            bank,
            item_id,
            decision=decision,
            note=note,
            query_sha256=query_sha256,
            review_id=row.id,
        )
        return _review(row)


def reviews_of(store: Sessions, bank: str, item_id: str) -> list[Review]:
    """Every decision recorded on an item, oldest first."""
    with store.session() as s:
        stmt = (
            select(ReviewRow)
            .where(ReviewRow.bank == bank, ReviewRow.item_id == item_id)
            .order_by(ReviewRow.id)
        )
        return [_review(r) for r in s.scalars(stmt)]
