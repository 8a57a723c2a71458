"""tombstone pruning: when each tombstone was made, and each collection's pruning horizon

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('collections', sa.Column('pruned_rev', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('tombstones', sa.Column('at', sa.DateTime(), nullable=True))
    # Tombstones made before this migration are dated from it: they age from now.
    tombstones = sa.table('tombstones', sa.column('at', sa.DateTime()))
    op.execute(tombstones.update().values(at=datetime.now(UTC).replace(tzinfo=None)))


def downgrade() -> None:
    op.drop_column('tombstones', 'at')
    op.drop_column('collections', 'pruned_rev')
