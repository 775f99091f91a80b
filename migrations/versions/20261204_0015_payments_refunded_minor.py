"""payments record how much of them has been refunded

A refund may return part of a payment (a partial refund in Stripe's dashboard, a dispute settled
for less): `refunded_minor` is the running total, so each refund posts exactly what it adds.
Payments refunded before this revision were refunded whole.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:25:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refunded_minor', sa.BigInteger(), nullable=False, server_default='0'))
    payments = sa.table('payments', sa.column('status', sa.String), sa.column('amount_minor', sa.BigInteger),
                        sa.column('refunded_minor', sa.BigInteger))
    op.execute(payments.update().where(payments.c.status == 'refunded').values(refunded_minor=payments.c.amount_minor))
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.alter_column('refunded_minor', server_default=None, existing_type=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('refunded_minor')
