"""notifications are the email outbox; their unique key starts with the pool

Every email the application sends is a notification's. The outbox used to keep a rendered copy
of each one in email_messages: two rows per message, written in the same transaction, and when
a pool is awarded or charged, two for every member. A notification now carries its email's
state (email_due, emailed_at, attempts, next attempt, last error), and the sender renders the
email from it as it goes out. Emails still queued at the upgrade stay due: their notification
is found by recipient and time (a user told twice at the same moment gets both again).

The unique key (user_id, pool_id, kind) becomes (pool_id, kind, user_id): it then also answers
"who of this pool was told already", and ix_notifications_pool_id_kind goes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 07:50:00
"""

import sqlalchemy as sa
from alembic import op

import app.db


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_due', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('emailed_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('email_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('email_next_attempt_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('email_error', sa.String(length=500), nullable=True))
    op.execute(
        "UPDATE notifications SET email_due = true WHERE EXISTS ("
        " SELECT 1 FROM email_messages JOIN users ON users.email = email_messages.to_email"
        " WHERE users.id = notifications.user_id AND email_messages.created_at = notifications.created_at"
        " AND email_messages.sent_at IS NULL)"
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('email_due', server_default=None)
        batch_op.alter_column('email_attempts', server_default=None)
        batch_op.drop_constraint('uq_notifications_user_id_pool_id_kind', type_='unique')
        batch_op.create_unique_constraint(op.f('uq_notifications_pool_id_kind_user_id'), ['pool_id', 'kind', 'user_id'])
        batch_op.drop_index('ix_notifications_pool_id_kind')
        batch_op.create_index(
            'ix_notifications_email_due',
            ['id'],
            unique=False,
            postgresql_where=sa.text('email_due'),
            sqlite_where=sa.text('email_due'),
        )
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_email_messages_sent_at_next_attempt_at')
    op.drop_table('email_messages')


def downgrade() -> None:
    op.create_table('email_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('to_email', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', app.db.types.UtcDateTimeType(timezone=True), nullable=False),
    sa.Column('sent_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_messages'))
    )
    with op.batch_alter_table('email_messages', schema=None) as batch_op:
        batch_op.create_index('ix_email_messages_sent_at_next_attempt_at', ['sent_at', 'next_attempt_at'], unique=False)
    # Emails still due are not rendered back into the old outbox: a downgrade loses them.
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_email_due')
        batch_op.create_index('ix_notifications_pool_id_kind', ['pool_id', 'kind'], unique=False)
        batch_op.drop_constraint('uq_notifications_pool_id_kind_user_id', type_='unique')
        batch_op.create_unique_constraint(op.f('uq_notifications_user_id_pool_id_kind'), ['user_id', 'pool_id', 'kind'])
        batch_op.drop_column('email_error')
        batch_op.drop_column('email_next_attempt_at')
        batch_op.drop_column('email_attempts')
        batch_op.drop_column('emailed_at')
        batch_op.drop_column('email_due')
