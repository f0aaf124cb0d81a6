"""A store id: a random name given to a store when it is made, kept for its whole life.

Indexes derived from a store (the CLI's cache, the service's snapshots) record it beside the generation:
a store deleted and made again at the same path starts at generation 1 again, and only its id tells its
snapshots from those of the store it replaced.  Existing stores get an id here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("store_state", sa.Column("store_id", sa.String(32), nullable=True))
    op.execute(
        sa.text("UPDATE store_state SET store_id = :store_id").bindparams(store_id=secrets.token_hex(16))
    )


def downgrade() -> None:
    op.drop_column("store_state", "store_id")
