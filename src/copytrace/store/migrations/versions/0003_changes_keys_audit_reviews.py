"""The change feed that running indexes follow, API keys, the audit log and reviewers' decisions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("bank", sa.String(200), nullable=False),
        sa.Column("item_id", sa.String(1000), nullable=True),
    )
    op.create_index("ix_changes_generation", "changes", ["generation"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False, unique=True),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("bank", sa.String(200), nullable=True),
        sa.Column("item_id", sa.String(1000), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("bank", sa.String(200), nullable=False),
        sa.Column("item_id", sa.String(1000), nullable=False),
        sa.Column("query_sha256", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=True),
    )
    op.create_index("ix_reviews_item", "reviews", ["bank", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_reviews_item", "reviews")
    op.drop_table("reviews")
    op.drop_table("audit")
    op.drop_table("api_keys")
    op.drop_index("ix_changes_generation", "changes")
    op.drop_table("changes")
