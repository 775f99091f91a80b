"""indexes for batch settlement: notifications by pool and kind; no unused index on payments

Telling a pool's members (award, charge, new best price) first asks who was told already, by pool
and kind: without an index that read scanned every notification ever sent. And every query on
payments goes by id, pool, commitment, member or gateway reference, so the (status,
next_attempt_at) index was written on every lease and every outcome and read by nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 02:50:00
"""

from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_pool_id_kind', ['pool_id', 'kind'], unique=False)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_status_next_attempt_at')


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_pool_id_kind')
