"""unlisted pools are found by an unguessable link, not by their id

`pools.link_token` is the secret of a pool's share link (/p/<token>); every existing pool gets one.
`pool_link_grants` records who opened an unlisted pool's link (or an invite to it), so that they,
and only they besides its organiser and parties, may then reach it by id.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 19:40:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

import app.db


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_token', sa.String(length=32), nullable=True))
    pools = sa.table('pools', sa.column('id', sa.Integer), sa.column('link_token', sa.String))
    connection = op.get_bind()
    for (pool_id,) in connection.execute(sa.select(pools.c.id)).all():
        connection.execute(pools.update().where(pools.c.id == pool_id).values(link_token=secrets.token_urlsafe(16)))
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.alter_column('link_token', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_pools_link_token'), ['link_token'])
    op.create_table(
        'pool_link_grants',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pool_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', app.db.types.UtcDateTimeType(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_pool_link_grants_pool_id_pools')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_pool_link_grants_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pool_link_grants')),
        sa.UniqueConstraint('pool_id', 'user_id', name=op.f('uq_pool_link_grants_pool_id_user_id')),
    )


def downgrade() -> None:
    op.drop_table('pool_link_grants')
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_pools_link_token'), type_='unique')
        batch_op.drop_column('link_token')
