"""pools bound what one member may commit, and remember pools the scheduler could not close

`max_per_member` is the most one member may commit (an organiser's setting; the default is half
the tipping point, at least 1, which existing pools get too). `close_failures` counts the sweeps
that failed to close a pool and `attention_note` says why once the scheduler stops retrying.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 19:55:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_per_member', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('close_failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('attention_note', sa.String(length=500), nullable=True))
    pools = sa.table('pools', sa.column('min_quantity', sa.Integer), sa.column('max_per_member', sa.Integer))
    op.execute(pools.update().values(max_per_member=(pools.c.min_quantity + 1) / 2))
    op.execute(pools.update().where(pools.c.max_per_member < 1).values(max_per_member=1))
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.alter_column('max_per_member', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('close_failures', server_default=None, existing_type=sa.Integer(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_column('attention_note')
        batch_op.drop_column('close_failures')
        batch_op.drop_column('max_per_member')
