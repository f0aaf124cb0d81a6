"""Phrases: a bank may be a phrase bank, and an item keeps its phrase fingerprint (``copytrace.phrases``).

``banks.phrases`` says that every item of the bank is matched as a phrase; ``items.phrase`` holds an item's
phrase fingerprint (``ctp1:p1:...``), set for the items of a phrase bank and for items too short for the
long-text evidence rule.  Items banked before phrases existed keep none: re-add a short item (``bank add
--replace``) to have it matched as a phrase.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("banks", sa.Column("phrases", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("items", sa.Column("phrase", sa.Text, nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE (SQLite 3.35+): a batch copy of ``banks`` would drop the table and cascade to items
    op.drop_column("items", "phrase")
    op.drop_column("banks", "phrases")
