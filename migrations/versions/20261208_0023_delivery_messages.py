"""delivery messages: a thread between each winning vendor of a pool and the members it serves

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 04:40:00
"""

import sqlalchemy as sa
from alembic import op

from app.db.types import UtcDateTimeType


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'delivery_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pool_id', sa.Integer(), nullable=False),
        sa.Column('vendor_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', UtcDateTimeType(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_delivery_messages_author_id_users')),
        sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_delivery_messages_pool_id_pools')),
        sa.ForeignKeyConstraint(['vendor_id'], ['users.id'], name=op.f('fk_delivery_messages_vendor_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_messages')),
    )
    op.create_index('ix_delivery_messages_thread', 'delivery_messages', ['pool_id', 'vendor_id', 'created_at'])
    op.create_index(op.f('ix_delivery_messages_author_id'), 'delivery_messages', ['author_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_delivery_messages_author_id'), table_name='delivery_messages')
    op.drop_index('ix_delivery_messages_thread', table_name='delivery_messages')
    op.drop_table('delivery_messages')
