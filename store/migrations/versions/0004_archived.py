"""directory records can be archived: kept by the follow-ups that use them,
refused for new ones (every directory table but users)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TABLES = ('resources', 'companies', 'persons', 'sales', 'projects', 'followup_types', 'field_defs')


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column('archived', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_column(table, 'archived')
