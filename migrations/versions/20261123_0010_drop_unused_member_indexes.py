"""drop the member_id indexes of payments and award lines: no query reads them

Payments and award lines are always found by pool, award, commitment or id; their member is
joined to users by the users' primary key. Each index was written for every member of every
settled pool and never read.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 06:20:00
"""

from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_member_id')
    with op.batch_alter_table('award_lines', schema=None) as batch_op:
        batch_op.drop_index('ix_award_lines_member_id')


def downgrade() -> None:
    with op.batch_alter_table('award_lines', schema=None) as batch_op:
        batch_op.create_index('ix_award_lines_member_id', ['member_id'], unique=False)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_member_id', ['member_id'], unique=False)
