"""escrow per served line, batched payouts, disputes per line with a thread, dispute operators

Each payment is now a line with its own escrow: its vendor, its dispute window, what was released
to the vendor (and the fee), what refunds were decided. Payouts become batches of released lines
(pool_id optional, no longer unique). Ledger entries name the line they are about. Disputes and
their messages get tables; pools say whether delivery goes to the organiser; users may be
dispute operators.

Existing data moves with it: a pool's paid-out payout releases each of its captured lines; a
pool-level dispute still open becomes one escalated dispute per held line, so an operator looks
at each.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 21:40:00
"""

import sqlalchemy as sa
from alembic import op

import app.db

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

DAY = 86400


def upgrade() -> None:
    op.create_table('disputes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('pool_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('offer_minor', sa.BigInteger(), nullable=True),
    sa.Column('vendor_due_at', app.db.types.UtcDateTimeType(timezone=True), nullable=False),
    sa.Column('escalate_at', app.db.types.UtcDateTimeType(timezone=True), nullable=False),
    sa.Column('escalation_note', sa.String(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=10), nullable=True),
    sa.Column('refund_minor', sa.BigInteger(), nullable=True),
    sa.Column('resolved_by', sa.Integer(), nullable=True),
    sa.Column('opened_at', app.db.types.UtcDateTimeType(timezone=True), nullable=False),
    sa.Column('escalated_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True),
    sa.Column('resolved_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True),
    sa.Column('updated_at', app.db.types.UtcDateTimeType(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_disputes_payment_id_payments')),
    sa.ForeignKeyConstraint(['pool_id'], ['pools.id'], name=op.f('fk_disputes_pool_id_pools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_disputes')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_disputes_payment_id'))
    )
    with op.batch_alter_table('disputes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_disputes_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_pool_id'), ['pool_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_stage'), ['stage'], unique=False)
        batch_op.create_index(batch_op.f('ix_disputes_vendor_id'), ['vendor_id'], unique=False)
    op.create_table('dispute_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dispute_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', app.db.types.UtcDateTimeType(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dispute_id'], ['disputes.id'], name=op.f('fk_dispute_messages_dispute_id_disputes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispute_messages'))
    )
    with op.batch_alter_table('dispute_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dispute_messages_dispute_id'), ['dispute_id'], unique=False)

    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('line_count', sa.Integer(), nullable=False, server_default='1'))
        batch_op.alter_column('pool_id', existing_type=sa.Integer(), nullable=True)
        batch_op.drop_constraint('uq_payouts_pool_id', type_='unique')
        batch_op.create_index(batch_op.f('ix_payouts_pool_id'), ['pool_id'], unique=False)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vendor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('dispute_until', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('refund_due_minor', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('released_minor', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('fee_minor', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('released_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('released_by', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('payout_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('paid_out_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_payments_payout_id'), ['payout_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_vendor_id'), ['vendor_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_payments_payout_id_payouts'), 'payouts', ['payout_id'], ['id'])
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payment_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_ledger_entries_payment_id'), ['payment_id'], unique=False)
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_to_organiser', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_dispute_operator', sa.Boolean(), nullable=False, server_default=sa.false()))

    _move_existing_money()

    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.drop_column('dispute_resolution')
        batch_op.drop_column('dispute_reason')
        batch_op.drop_column('delivery_confirmed_at')
    for table, column in (('payouts', 'line_count'), ('payments', 'refund_due_minor'), ('payments', 'released_minor'),
                          ('payments', 'fee_minor'), ('pools', 'delivery_to_organiser'),
                          ('users', 'is_dispute_operator')):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, server_default=None)


def _move_existing_money() -> None:
    """Give existing payments their vendor and window, release paid-out pools' lines, and turn open
    pool-level disputes into escalated line disputes."""
    bind = op.get_bind()
    pools = sa.table('pools', sa.column('id'), sa.column('status'), sa.column('settled_at'),
                     sa.column('dispute_reason'), sa.column('dispute_resolution'), sa.column('updated_at'))
    awards = sa.table('awards', sa.column('pool_id'), sa.column('vendor_id'))
    payments = sa.table('payments', sa.column('id'), sa.column('pool_id'), sa.column('member_id'),
                        sa.column('status'), sa.column('amount_minor'), sa.column('refunded_minor'),
                        sa.column('vendor_id'), sa.column('dispute_until'), sa.column('released_minor'),
                        sa.column('released_at'), sa.column('released_by'), sa.column('payout_id'),
                        sa.column('fee_minor'), sa.column('refund_due_minor'), sa.column('paid_out_at'))
    payouts = sa.table('payouts', sa.column('id'), sa.column('pool_id'), sa.column('fee_minor'),
                       sa.column('gross_minor'), sa.column('status'), sa.column('updated_at'))
    disputes = sa.table('disputes', sa.column('id'), sa.column('payment_id'), sa.column('pool_id'),
                        sa.column('member_id'), sa.column('vendor_id'), sa.column('reason'), sa.column('stage'),
                        sa.column('vendor_due_at'), sa.column('escalate_at'), sa.column('escalation_note'),
                        sa.column('opened_at'), sa.column('escalated_at'), sa.column('updated_at'))
    messages = sa.table('dispute_messages', sa.column('dispute_id'), sa.column('author_id'), sa.column('role'),
                        sa.column('body'), sa.column('created_at'))
    vendor_of = dict(bind.execute(sa.select(awards.c.pool_id, awards.c.vendor_id)).all())
    pool_rows = {row.id: row for row in bind.execute(sa.select(pools))}
    payout_of = {row.pool_id: row for row in bind.execute(sa.select(payouts))}
    fee_carried: set[int] = set()  # pools whose fee a line already carries
    for row in bind.execute(sa.select(payments).order_by(payments.c.id)).all():
        pool = pool_rows[row.pool_id]
        values: dict[str, object] = {'vendor_id': vendor_of.get(row.pool_id)}
        if pool.settled_at is not None:
            values['dispute_until'] = pool.settled_at  # an old pool's window is as its pool's was: judged at release
        payout = payout_of.get(row.pool_id)
        held = row.amount_minor - row.refunded_minor
        if payout is not None and row.status == 'succeeded' and held > 0:
            values.update(released_minor=held, released_at=payout.updated_at, released_by='member',
                          payout_id=payout.id, paid_out_at=payout.updated_at if payout.status == 'paid' else None)
            # Spread over the lines, the pool's rounded fee would not add up exactly: its first line carries it.
            values['fee_minor'] = 0 if row.pool_id in fee_carried else payout.fee_minor
            fee_carried.add(row.pool_id)
        if pool.dispute_resolution == 'refund' and row.status == 'succeeded':
            values['refund_due_minor'] = row.amount_minor
        bind.execute(payments.update().where(payments.c.id == row.id).values(**values))
        if (pool.status == 'disputed' and pool.dispute_resolution is None and row.status == 'succeeded'
                and payout is None and held > 0):
            when = pool.updated_at
            dispute_id = bind.execute(disputes.insert().values(
                payment_id=row.id, pool_id=row.pool_id, member_id=row.member_id,
                vendor_id=vendor_of.get(row.pool_id, 0), reason='not_delivered', stage='escalated',
                vendor_due_at=when, escalate_at=when, opened_at=when, escalated_at=when, updated_at=when,
                escalation_note='opened for the whole pool before disputes were per line',
            ).returning(disputes.c.id)).scalar_one()
            bind.execute(messages.insert().values(dispute_id=dispute_id, author_id=None, role='system',
                                                  body=pool.dispute_reason or 'Delivery was disputed.',
                                                  created_at=when))


def downgrade() -> None:
    with op.batch_alter_table('pools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_confirmed_at', app.db.types.UtcDateTimeType(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('dispute_reason', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('dispute_resolution', sa.String(length=10), nullable=True))
        batch_op.drop_column('delivery_to_organiser')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('is_dispute_operator')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_payment_id'))
        batch_op.drop_column('payment_id')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payments_payout_id_payouts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payments_vendor_id'))
        batch_op.drop_index(batch_op.f('ix_payments_payout_id'))
        for column in ('reminded_at', 'paid_out_at', 'payout_id', 'released_by', 'released_at', 'fee_minor', 'released_minor',
                       'refund_due_minor', 'dispute_until', 'vendor_id'):
            batch_op.drop_column(column)
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payouts_pool_id'))
        batch_op.create_unique_constraint('uq_payouts_pool_id', ['pool_id'])
        batch_op.alter_column('pool_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('line_count')
    op.drop_index(op.f('ix_dispute_messages_dispute_id'), table_name='dispute_messages')
    op.drop_table('dispute_messages')
    for index in ('ix_disputes_vendor_id', 'ix_disputes_stage', 'ix_disputes_pool_id', 'ix_disputes_member_id'):
        op.drop_index(op.f(index), table_name='disputes')
    op.drop_table('disputes')
