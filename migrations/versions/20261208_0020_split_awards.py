"""split awards: pools choose how they clear, and each award line names the bid and vendor serving it

`pools.award_mode` is `split` (several vendors at one uniform price) or `single` (today's one
winner). Pools that exist keep the rule they were created under: `single`. New pools default to
`split`. `award_lines.bid_id` and `vendor_id` are the winner serving the line; existing lines
take their award's single winner.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 02:45:00
"""

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('award_mode', sa.String(length=8), nullable=False, server_default='single'))
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.alter_column('award_mode', server_default=None, existing_type=sa.String(length=8))
    with op.batch_alter_table('award_lines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('bid_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('vendor_id', sa.Integer(), nullable=True))
    op.execute(
        "UPDATE award_lines SET "
        "bid_id = (SELECT awards.bid_id FROM awards WHERE awards.id = award_lines.award_id), "
        "vendor_id = (SELECT awards.vendor_id FROM awards WHERE awards.id = award_lines.award_id)"
    )
    with op.batch_alter_table('award_lines', schema=None) as batch_op:
        batch_op.alter_column('bid_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('vendor_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_award_lines_bid_id_bids'), 'bids', ['bid_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_award_lines_vendor_id_users'), 'users', ['vendor_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_award_lines_vendor_id'), ['vendor_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('award_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_award_lines_vendor_id'))
        batch_op.drop_constraint(batch_op.f('fk_award_lines_vendor_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_award_lines_bid_id_bids'), type_='foreignkey')
        batch_op.drop_column('vendor_id')
        batch_op.drop_column('bid_id')
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_column('award_mode')
