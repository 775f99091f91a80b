"""trust tallies: each score keeps the trust model's decayed evidence, so a new feedback updates it in O(1)

Existing scores get no tally (tally_as_of null): their next refresh or the nightly recompute builds it.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 05:00:00
"""

import sqlalchemy as sa
from alembic import op

from app.db.types import UtcDateTimeType


revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

COLUMNS = ('tally_pos', 'tally_neg', 'tally_recent_pos', 'tally_recent_neg')


def upgrade() -> None:
    with op.batch_alter_table('reputation_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tally_as_of', UtcDateTimeType(), nullable=True))
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Double(), nullable=False, server_default='0'))
    with op.batch_alter_table('reputation_scores', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.alter_column(name, server_default=None, existing_type=sa.Double())


def downgrade() -> None:
    with op.batch_alter_table('reputation_scores', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
        batch_op.drop_column('tally_as_of')
