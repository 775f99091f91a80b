"""review disputes: a ratee flags a feedback; an operator's upheld flag removes it from every score

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-08 05:20:00
"""

import sqlalchemy as sa
from alembic import op

from app.db.types import UtcDateTimeType


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.add_column(sa.Column('removed_at', UtcDateTimeType(), nullable=True))
    op.create_table(
        'feedback_flags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('feedback_id', sa.Integer(), nullable=False),
        sa.Column('flagged_by', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),  # retaliatory, abusive, off_topic
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),  # open, upheld, rejected
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', UtcDateTimeType(), nullable=True),
        sa.Column('created_at', UtcDateTimeType(), nullable=False),
        sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_feedback_flags_decided_by_users')),
        sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], name=op.f('fk_feedback_flags_feedback_id_feedback')),
        sa.ForeignKeyConstraint(['flagged_by'], ['users.id'], name=op.f('fk_feedback_flags_flagged_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_flags')),
        sa.UniqueConstraint('feedback_id', name=op.f('uq_feedback_flags_feedback_id')),
    )
    op.create_index('ix_feedback_flags_status_created_at', 'feedback_flags', ['status', 'created_at'])
    op.create_index(op.f('ix_feedback_flags_flagged_by'), 'feedback_flags', ['flagged_by'])


def downgrade() -> None:
    op.drop_index(op.f('ix_feedback_flags_flagged_by'), table_name='feedback_flags')
    op.drop_index('ix_feedback_flags_status_created_at', table_name='feedback_flags')
    op.drop_table('feedback_flags')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
