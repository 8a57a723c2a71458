"""what a client wrote, kept: an object's text may be the client's own, with the
CRM rendering it was last reconciled with beside it; personal calendars, whose
objects are no follow-up

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-18
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calendar_objects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('base_text', sa.Text(), nullable=True))
        batch_op.alter_column('followup_id', existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='crm', nullable=False))
        batch_op.alter_column('component', existing_type=sa.String(length=16), type_=sa.String(length=64))


def downgrade() -> None:
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.alter_column('component', existing_type=sa.String(length=64), type_=sa.String(length=16))
        batch_op.drop_column('kind')
    with op.batch_alter_table('calendar_objects', schema=None) as batch_op:
        batch_op.alter_column('followup_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('base_text')
