"""a team on one server: invitees' own data, resource answers and policies,
private calendar objects, and leads who may read a colleague's diary

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('followup_participants', sa.Column('alarm_minutes', sa.Integer(), nullable=True))
    op.add_column('followup_participants', sa.Column('client_data', sa.Text(), nullable=True))
    op.add_column('followup_resources', sa.Column('partstat', sa.String(length=16), server_default='ACCEPTED',
                                                  nullable=False))
    op.add_column('resources', sa.Column('on_conflict', sa.String(length=16), server_default='allow',
                                         nullable=False))
    op.add_column('calendar_objects', sa.Column('private', sa.Boolean(), server_default=sa.false(),
                                                nullable=False))
    # Objects of private follow-ups stored before this migration are marked, so
    # every read by someone other than the calendar's owner is masked at once.
    objects = sa.table('calendar_objects', sa.column('private', sa.Boolean()), sa.column('followup_id', sa.Integer()))
    followups = sa.table('followups', sa.column('id', sa.Integer()), sa.column('private', sa.Boolean()))
    op.execute(objects.update().where(objects.c.followup_id.in_(
        sa.select(followups.c.id).where(followups.c.private == sa.true()))).values(private=True))
    op.create_table(
        'grants',
        sa.Column('lead_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
        sa.Column('user_id', sa.Integer(), sa.ForeignKey('users.id'), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table('grants')
    op.drop_column('calendar_objects', 'private')
    op.drop_column('resources', 'on_conflict')
    op.drop_column('followup_resources', 'partstat')
    op.drop_column('followup_participants', 'client_data')
    op.drop_column('followup_participants', 'alarm_minutes')
