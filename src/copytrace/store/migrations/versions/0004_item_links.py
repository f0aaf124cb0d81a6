"""Copy-family links: each item names the banked items it is a version of (``copytrace.index.families``).

Items already banked are linked here, bank by bank in the order they were added, exactly as ``bank add``
links a new item, so families in an upgraded store are the ones a fresh store of the same items would have.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sys

import sqlalchemy as sa
from alembic import op
from rich.progress import Progress

from copytrace.errors import CopytraceError
from copytrace.fingerprints.fingerprint import Fingerprint, FingerprintParams
from copytrace.index import Index

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("links", sa.JSON, nullable=True))
    conn = op.get_bind()
    banks = list(conn.execute(sa.text("SELECT id, name, params FROM banks ORDER BY id")))
    total = conn.execute(sa.text("SELECT count(*) FROM items")).scalar() or 0
    if not total:
        return
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("links", sa.JSON))
    with Progress(disable=not sys.stderr.isatty(), transient=True) as progress:
        task = progress.add_task("linking versions of banked items", total=total)
        for bank_id, name, params in banks:
            try:
                index = Index.for_params(FingerprintParams.parse(params))
            except CopytraceError:
                continue  # a bank of a version this copytrace cannot read keeps no links
            updates = []
            rows = conn.execute(
                sa.text("SELECT id, item_id, fingerprint FROM items WHERE bank_id = :b ORDER BY id"),
                {"b": bank_id},
            )
            for row_id, item_id, fp in rows:
                progress.advance(task)
                try:
                    index.add(item_id, Fingerprint.parse(fp), bank=name)
                except CopytraceError:
                    continue  # unreadable: quarantined wherever it is read
                links = index.links(item_id, bank=name)
                if links:
                    updates.append({"row_id": row_id, "new_links": links})
            stmt = (
                sa.update(items)
                .where(items.c.id == sa.bindparam("row_id"))
                .values(links=sa.bindparam("new_links", type_=sa.JSON))
            )
            for start in range(0, len(updates), 2000):
                conn.execute(stmt, updates[start : start + 2000])


def downgrade() -> None:
    op.drop_column("items", "links")
