"""columns copied from a commitment carry no foreign key of their own

payments.pool_id, payments.member_id and award_lines.member_id are copies of their commitment's
pool_id and member_id, written from the commitment in the same transaction. The commitment's
own foreign keys (commitment_id → commitments, commitments → pools and users) already vouch
that they exist, and users and pools are never deleted (accounts are deactivated, pools keep
their history). Checking them again cost a key-share lock on the user's or the pool's row per
payment and per award line: three of the twelve foreign-key checks settling a member made.
tests/payments/test_settlement.py checks that the copies agree with their commitment.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 08:10:00
"""

from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint('fk_payments_pool_id_pools', type_='foreignkey')
        batch_op.drop_constraint('fk_payments_member_id_users', type_='foreignkey')
    with op.batch_alter_table('award_lines', schema=None) as batch_op:
        batch_op.drop_constraint('fk_award_lines_member_id_users', type_='foreignkey')


def downgrade() -> None:
    with op.batch_alter_table('award_lines', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_award_lines_member_id_users', 'users', ['member_id'], ['id'])
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_payments_member_id_users', 'users', ['member_id'], ['id'])
        batch_op.create_foreign_key('fk_payments_pool_id_pools', 'pools', ['pool_id'], ['id'])
