"""demand curves: a commitment may take more at lower prices (up to 5 points)

`commitments.smaller_points` holds a curve's points before its last one, as JSON
[[quantity, "max unit price"], ...]; the last point stays in `quantity` and `max_unit_price`.
Existing commitments are one-point curves (an empty list).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 04:20:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('commitments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('smaller_points', sa.JSON(), nullable=False, server_default='[]'))
    with op.batch_alter_table('commitments', schema=None) as batch_op:
        batch_op.alter_column('smaller_points', server_default=None, existing_type=sa.JSON())


def downgrade() -> None:
    with op.batch_alter_table('commitments', schema=None) as batch_op:
        batch_op.drop_column('smaller_points')
