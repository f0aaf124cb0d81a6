"""Banks and items.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("params", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("bank_id", sa.Integer, sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_id", sa.String(1000), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("bank_id", "item_id", name="uq_items_bank_item"),
    )
    op.create_index("ix_items_bank_id", "items", ["bank_id"])


def downgrade() -> None:
    op.drop_index("ix_items_bank_id", "items")
    op.drop_table("items")
    op.drop_table("banks")
