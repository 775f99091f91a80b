"""vendor identity: verification, the payout fingerprint and the identity it links to; pools may admit unverified vendors

Existing vendors are unverified and existing pools admit unverified vendors (their auctions go on
as they were); new pools admit only verified vendors unless the organiser says otherwise.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 05:40:00
"""

import sqlalchemy as sa
from alembic import op

from app.db.types import UtcDateTimeType


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vendor_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verified_at', UtcDateTimeType(), nullable=True))
        batch_op.add_column(sa.Column('verified_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('payout_fingerprint', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('identity_root_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_vendor_profiles_verified_by_users'), 'users', ['verified_by'], ['id'])
        batch_op.create_foreign_key(
            batch_op.f('fk_vendor_profiles_identity_root_id_users'), 'users', ['identity_root_id'], ['id']
        )
        batch_op.create_index(batch_op.f('ix_vendor_profiles_payout_fingerprint'), ['payout_fingerprint'])
        batch_op.create_index(batch_op.f('ix_vendor_profiles_identity_root_id'), ['identity_root_id'])
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('allow_unverified_vendors', sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.alter_column('allow_unverified_vendors', server_default=None, existing_type=sa.Boolean())


def downgrade() -> None:
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_column('allow_unverified_vendors')
    with op.batch_alter_table('vendor_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_profiles_identity_root_id'))
        batch_op.drop_index(batch_op.f('ix_vendor_profiles_payout_fingerprint'))
        batch_op.drop_constraint(batch_op.f('fk_vendor_profiles_identity_root_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_vendor_profiles_verified_by_users'), type_='foreignkey')
        batch_op.drop_column('identity_root_id')
        batch_op.drop_column('payout_fingerprint')
        batch_op.drop_column('verified_by')
        batch_op.drop_column('verified_at')
