"""delivery details: a pool may ask members for the address to deliver to, or name a collection point

`pools.needs_address` (members give `commitments.delivery_address` when they join) and
`pools.collection_point`. Both are shown only to the vendor serving the member and the organiser
(the winners' delivery lists). Existing pools ask for nothing.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 03:05:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('needs_address', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('collection_point', sa.String(length=200), nullable=True))
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.alter_column('needs_address', server_default=None, existing_type=sa.Boolean())
    with op.batch_alter_table('commitments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_address', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('commitments', schema=None) as batch_op:
        batch_op.drop_column('delivery_address')
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_column('collection_point')
        batch_op.drop_column('needs_address')
