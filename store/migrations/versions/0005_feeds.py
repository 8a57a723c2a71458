"""subscription feeds: a secret URL per feed, stored as the SHA-256 of its token

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-11
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'feeds',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id', ondelete='CASCADE'), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('what', sa.String(length=16), nullable=False),
        sa.Column('record_id', sa.Integer(), nullable=True),
        sa.Column('from_days', sa.Integer(), nullable=False),
        sa.Column('to_days', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
    )
    op.create_index('ix_feeds_token_hash', 'feeds', ['token_hash'], unique=True)
    op.create_index('ix_feeds_user_id', 'feeds', ['user_id'])


def downgrade() -> None:
    op.drop_index('ix_feeds_user_id', table_name='feeds')
    op.drop_index('ix_feeds_token_hash', table_name='feeds')
    op.drop_table('feeds')
