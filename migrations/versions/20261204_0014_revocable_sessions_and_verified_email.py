"""users carry a session token (revocable sessions) and when their email was verified

`session_token` is the alternative id that sessions and remember-me cookies carry: changing it
ends every session of the account (logout, password change). Existing users each get a random one.
`email_verified_at` is when the user opened the link sent to the address; money moves only for
verified accounts. Accounts made before verification existed are taken as verified at their
creation, as they were trusted until now.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 19:10:00
"""

import secrets

import sqlalchemy as sa
from alembic import op

import app.db


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('email_verified_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('session_token', sa.String),
                     sa.column('email_verified_at', sa.DateTime(timezone=True)),
                     sa.column('created_at', sa.DateTime(timezone=True)))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(
            users.update().where(users.c.id == user_id).values(session_token=secrets.token_urlsafe(16))
        )
    connection.execute(users.update().values(email_verified_at=users.c.created_at))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('session_token', existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
        batch_op.drop_column('session_token')
