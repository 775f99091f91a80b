"""Settlement end to end on the database: charged only on success, exactly once, held until delivery.

The Stripe cases run the real stripe SDK against the local fake (tests/fakes/fake_stripe.py).
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.bids import award
from app.bids.models import Award, AwardLine
from app.errors import Conflict, NotFound
from app.notifications.models import Notification
from app.payments import escrow, jobs, ledger, on_request, settlement
from app.payments.models import LedgerEntry, Payment, PaymentStatus, Payout
from app.payments.offline import OfflineGateway
from app.payments.rules import EscrowTerms
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolStatus
from app.reputation.scores import price_factors
from tests import factories

TERMS = EscrowTerms()  # 5 % fee, 14-day window


def awarded_pool(session, now, members=((4, "12.00"), (3, "11.00")), price="10.005"):
    pool = factories.open_pool(session, now=now, min_quantity=2)
    made = [factories.commitment(session, pool=pool, now=now, quantity=q, max_unit_price=m) for q, m in members]
    factories.bid(session, pool=pool, now=now, curve=((1, price),))
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    return pool, made


def ledger_total(session, pool_id):
    return session.scalar(select(func.sum(LedgerEntry.amount_minor)).where(LedgerEntry.pool_id == pool_id))


def test_settling_charges_each_served_member_once_for_exactly_their_line(session, now):
    pool, made = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)  # a re-run changes nothing
    payments = list(session.scalars(select(Payment)))
    lines = {line.commitment_id: line.amount_minor for line in session.scalars(select(AwardLine))}
    assert {p.commitment_id: p.amount_minor for p in payments} == lines == {made[0].id: 4002, made[1].id: 3002}
    assert all(p.status == PaymentStatus.SUCCEEDED and p.attempts == 1 for p in payments)
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED
    assert ledger_total(session, pool.id) == 0
    assert ledger.balance(session, pool.id, ledger.ESCROW) == 4002 + 3002


def test_payments_and_award_lines_name_the_pool_and_member_of_their_commitment(session, now):
    """Those columns are copies without foreign keys of their own (migration 0013): they must agree."""
    pools = [awarded_pool(session, now)[0] for _ in range(2)]
    jobs.settle_awarded_pools(session, OfflineGateway(), now=now)
    rows = [
        *session.execute(select(Payment.pool_id, Payment.member_id, Payment.commitment_id)),
        *session.execute(
            select(Award.pool_id, AwardLine.member_id, AwardLine.commitment_id).join(Award, AwardLine.award)
        ),
    ]
    assert len(rows) == 2 * 2 * len(pools)
    for pool_id, member_id, commitment_id in rows:
        commitment = session.get(Commitment, commitment_id)
        assert (pool_id, member_id) == (commitment.pool_id, commitment.member_id)


def test_nobody_pays_more_than_they_authorised(session, now):
    pool, _ = awarded_pool(session, now, members=((7, "3.3333"), (1, "9")), price="3.3333")
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    for payment in session.scalars(select(Payment)):
        commitment = session.get(Commitment, payment.commitment_id)
        ceiling = commitment.quantity * commitment.max_unit_price * 100
        assert payment.amount_minor <= ceiling


def confirm_every_line(session, pool, now):
    """Each charged member confirms their own delivery."""
    for line in escrow.lines_of(session, pool.id):
        member = session.get(User, line.member_id)
        escrow.confirm_delivery(session, pool_id=pool.id, actor=member, terms=TERMS, now=now)
    session.commit()


def test_delivery_pays_the_vendor_once_minus_the_fee(session, now):
    pool, _ = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    confirm_every_line(session, pool, now)
    for _ in range(2):
        jobs.pay_out_pending(session, OfflineGateway(), now=now)
    statement = ledger.statement(session, pool.id)
    gross = 4002 + 3002
    fee = 200 + 150  # each line's 5 %, half-even: 40.02 → 2.00, 30.02 → 1.50
    assert statement.balances == {
        "escrow": 0,
        "member_payments": -gross,
        "platform_fee": fee,
        "vendor_payable": 0,
        "vendor_payouts": gross - fee,
    }
    assert session.scalar(select(func.count()).select_from(Payout)) == 1  # one batch for the vendor
    assert session.get(Pool, pool.id).status == PoolStatus.COMPLETED


def test_delivery_cannot_be_confirmed_before_settlement(session, now):
    pool, made = awarded_pool(session, now)
    with pytest.raises(NotFound):  # no charged line yet
        escrow.confirm_delivery(session, pool_id=pool.id, actor=made[0].member, terms=TERMS, now=now)
    with pytest.raises(NotFound):  # and the organiser may not confirm for members of a pool delivered to them
        escrow.confirm_delivery(session, pool_id=pool.id, actor=pool.organiser, terms=TERMS, now=now)


def test_escrow_is_released_after_the_dispute_window(session, now):
    pool, _ = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    assert jobs.release_due_escrow(session, OfflineGateway(), now=now + timedelta(days=13), terms=TERMS) == 0
    assert jobs.release_due_escrow(session, OfflineGateway(), now=now + timedelta(days=15), terms=TERMS) == 2
    assert session.get(Pool, pool.id).status == PoolStatus.COMPLETED


def test_a_dispute_holds_the_members_money_and_a_refund_returns_it(session, now):
    pool, made = awarded_pool(session, now)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    dispute = escrow.open_dispute(session, pool_id=pool.id, actor=made[0].member, reason="not_as_described",
                                  message="Half the panels were cracked", terms=TERMS, now=now)  # fmt: skip
    session.commit()
    later = now + timedelta(days=30)
    assert jobs.release_due_escrow(session, OfflineGateway(), now=later, terms=TERMS) == 1  # the other line only
    vendor = session.get(User, dispute.vendor_id)
    escrow.answer_dispute(session, dispute_id=dispute.id, actor=vendor, answer="refund", message="Sorry!",
                          terms=TERMS, now=later)  # fmt: skip
    session.commit()
    jobs.refund_due(session, OfflineGateway(), now=later)
    jobs.pay_out_pending(session, OfflineGateway(), now=later)
    balances = ledger.statement(session, pool.id).balances
    assert balances["escrow"] == 0 and balances["refunds"] == 4002
    assert balances["vendor_payouts"] + balances["platform_fee"] == 3002
    assert session.get(Pool, pool.id).status == PoolStatus.COMPLETED


def test_an_unserved_member_is_never_charged(session, now):
    pool, made = awarded_pool(session, now, members=((4, "12"), (3, "5")), price="10")
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    assert session.scalar(select(func.count(Payment.id)).where(Payment.commitment_id == made[1].id)) == 0
    assert session.get(Commitment, made[1].id).status == CommitmentStatus.UNSERVED


# Stripe, through the real SDK against the local fake ---------------------------------------------


def with_cards(session, gateway, fake, made, cards):
    """Save a card for each commitment, as the member's browser and Stripe's webhook would."""
    for commitment, card in zip(made, cards, strict=True):
        on_request.prepare_card(session, gateway, commitment_id=commitment.id)
        session.refresh(commitment)
        commitment.payment_method_ref = fake.complete_setup(commitment.payment_ref, card)
    session.commit()


def customer_of(session, commitment):
    session.refresh(commitment.member)
    return commitment.member.payment_customer_ref


def test_a_declined_member_gets_a_grace_window_then_is_dropped_told_and_the_rest_pay_the_same_price(
    session, now, gateway, fake_stripe
):
    pool, made = awarded_pool(session, now)
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa", "pm_card_chargeDeclined"])
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    group = f"pool-{pool.id}"
    assert fake_stripe.succeeded_charges(customer_of(session, made[0]), group) == 1
    declined = session.scalar(select(Payment).where(Payment.commitment_id == made[1].id))
    assert declined.status == PaymentStatus.DECLINED
    assert declined.action_expires_at == now + TERMS.decline_grace  # 72 hours to pay with another card
    assert session.get(Pool, pool.id).status == PoolStatus.AWARDED  # the price holds while the member may pay

    def told():
        kinds = session.scalars(select(Notification.kind).where(Notification.user_id == made[1].member_id))
        return sorted(kind for kind in kinds if kind != "awarded")

    assert told() == ["card_declined:0"]
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(hours=1))
    assert told() == ["card_declined:0"]  # reminded once a day, not at every sweep
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(hours=25))
    assert told() == ["card_declined:0", "card_declined:1"]
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(hours=73))
    assert session.get(Commitment, made[1].id).status == CommitmentStatus.PAYMENT_FAILED
    email = session.scalar(select(Notification.email_due).where(
        Notification.user_id == made[1].member_id, Notification.kind == "payment_failed"))  # fmt: skip
    assert email is True and "charged" not in told()  # told in the inbox and by email
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED
    assert session.scalar(select(Award.unit_price)) == Decimal("10.005")
    assert ledger.balance(session, pool.id, ledger.ESCROW) == 4002


def test_a_declined_member_who_pays_with_another_card_in_time_is_charged_once(session, now, gateway, fake_stripe):
    pool, made = awarded_pool(session, now)
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa", "pm_card_chargeDeclined"])
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    member = made[1].member
    setup = gateway.start_card_setup(customer_ref=customer_of(session, made[1]), idempotency_key="another-card")
    fake_stripe.complete_setup(setup.setup_ref, "pm_card_mastercard")  # the member saved a good card
    with pytest.raises(Conflict):  # a member whose payment went through has nothing to pay again
        on_request.retry_declined(session, gateway, pool_id=pool.id, member=made[0].member, now=now)
    with pytest.raises(NotFound):  # and someone with no line in the pool has no payment at all
        on_request.retry_declined(session, gateway, pool_id=pool.id, member=pool.organiser, now=now)
    paid = on_request.retry_declined(session, gateway, pool_id=pool.id, member=member, now=now + timedelta(hours=2))
    assert paid.status == PaymentStatus.SUCCEEDED and paid.idempotency_key.endswith("-card-2")
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(hours=2))
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED
    assert fake_stripe.succeeded_charges(customer_of(session, made[1]), f"pool-{pool.id}") == 1
    assert ledger.balance(session, pool.id, ledger.ESCROW) == 4002 + 3002


def test_authentication_required_waits_for_the_member_then_settles(session, now, gateway, fake_stripe):
    pool, made = awarded_pool(session, now)
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa", "pm_card_authenticationRequired"])
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    waiting = session.scalar(select(Payment).where(Payment.commitment_id == made[1].id))
    assert waiting.status == PaymentStatus.REQUIRES_ACTION and waiting.action_url
    assert session.get(Pool, pool.id).status == PoolStatus.AWARDED  # the pool waits, nothing is lost
    fake_stripe.complete_authentication(waiting.gateway_ref)
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(hours=1))
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED
    assert fake_stripe.succeeded_charges(customer_of(session, made[1]), f"pool-{pool.id}") == 1


def test_an_unauthenticated_payment_is_dropped_after_the_grace_window(session, now, gateway, fake_stripe):
    pool, made = awarded_pool(session, now)
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa", "pm_card_authenticationRequired"])
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(days=3))
    assert session.get(Commitment, made[1].id).status == CommitmentStatus.PAYMENT_FAILED
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED


def test_an_outage_leaves_the_charge_pending_and_a_retry_charges_once(session, now, make_stripe_gateway, fake_stripe):
    gateway = make_stripe_gateway(max_network_retries=0)
    pool, made = awarded_pool(session, now, members=((2, "12"),))
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa"])
    fake_stripe.fail_next("payment_intents.create", "server_error")
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    assert session.scalar(select(Payment.status)) == PaymentStatus.PENDING
    assert session.get(Pool, pool.id).status == PoolStatus.AWARDED
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(minutes=5))
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED
    assert fake_stripe.succeeded_charges(customer_of(session, made[0]), f"pool-{pool.id}") == 1


def test_a_connection_dropped_after_the_charge_never_charges_twice(session, now, make_stripe_gateway, fake_stripe):
    gateway = make_stripe_gateway(max_network_retries=0)
    pool, made = awarded_pool(session, now, members=((2, "12"),))
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa"])
    fake_stripe.fail_next("payment_intents.create", "drop_after_commit")
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now + timedelta(minutes=5))
    assert fake_stripe.succeeded_charges(customer_of(session, made[0]), f"pool-{pool.id}") == 1
    assert session.scalar(select(Payment.status)) == PaymentStatus.SUCCEEDED
    assert ledger_total(session, pool.id) == 0


def test_a_rate_limited_charge_is_retried_by_the_sdk(session, now, gateway, fake_stripe):
    pool, made = awarded_pool(session, now, members=((2, "12"),))
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa"])
    fake_stripe.fail_next("payment_intents.create", "rate_limited")
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED


def test_the_vendor_is_paid_by_one_transfer_for_its_released_lines(session, now, gateway, fake_stripe):
    pool, made = awarded_pool(session, now, members=((2, "12"),))
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa"])
    award = session.scalar(select(Award))
    profile = session.get(User, award.vendor_id).vendor_profile
    profile.payout_account_id = gateway.create_connected_account(
        user_id=award.vendor_id, email="v@example.com", idempotency_key="vendor-account"
    )
    profile.payouts_enabled = True  # as account.updated reports once onboarding is done
    session.commit()
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    confirm_every_line(session, pool, now)
    jobs.pay_out_pending(session, gateway, now=now)
    jobs.pay_out_pending(session, gateway, now=now)
    transfers = [r for r in fake_stripe.requests_for("transfers.create") if r.status == 200]
    assert len({r.idempotency_key for r in transfers}) == 1
    assert session.get(Pool, pool.id).status == PoolStatus.COMPLETED


def test_a_vendor_without_a_payout_account_waits_without_losing_the_payout(session, now, gateway, fake_stripe):
    pool, made = awarded_pool(session, now, members=((2, "12"),))
    with_cards(session, gateway, fake_stripe, made, ["pm_card_visa"])
    jobs.settle_pool(session, gateway, pool_id=pool.id, now=now)
    confirm_every_line(session, pool, now)
    assert jobs.pay_out_pending(session, gateway, now=now) == 0
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED
    assert ledger.balance(session, pool.id, ledger.VENDOR_PAYABLE) > 0


def test_the_sweeper_settles_pools_in_batches_and_one_bad_payment_holds_back_only_its_own_pool(session, now):
    pools = [awarded_pool(session, now)[0] for _ in range(4)]
    bad = pools[1]
    line = session.scalars(select(AwardLine).join(Award).where(Award.pool_id == bad.id)).first()
    line.amount_minor = 0  # a corrupt line: the gateway refuses the amount
    session.commit()

    assert jobs.settle_awarded_pools(session, OfflineGateway(), now=now) == 3

    statuses = dict(session.execute(select(Pool.id, Pool.status)).all())
    assert [statuses[p.id] for p in pools] == [
        PoolStatus.SETTLED,
        PoolStatus.AWARDED,
        PoolStatus.SETTLED,
        PoolStatus.SETTLED,
    ]
    for pool in pools:
        assert ledger_total(session, pool.id) == 0
    paid = session.execute(select(Payment.pool_id, Payment.status, Payment.attempts)).all()
    assert all(
        status == PaymentStatus.SUCCEEDED and attempts == 1 for pool_id, status, attempts in paid if pool_id != bad.id
    )
    assert {status for pool_id, status, _ in paid if pool_id == bad.id} == {
        PaymentStatus.PENDING,
        PaymentStatus.SUCCEEDED,
    }
    told = session.scalars(select(Notification.pool_id).where(Notification.kind == "charged")).all()
    assert sorted(told) == sorted(p.id for p in pools if p.id != bad.id for _ in range(2))  # each member once


def test_an_offline_charge_is_written_with_its_payment_and_posting_in_one_transaction(session, now):
    pool, made = awarded_pool(session, now)
    charge_now = partial(jobs._call_charge, OfflineGateway())
    assert (
        settlement.start_settlement(
            session, pool_ids=[pool.id], gateway="offline", cards={}, now=now, charge_now=charge_now
        )
        == []
    )
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 4  # two captures, two legs each
    session.rollback()  # a crash before the commit: neither the charges nor their records happened
    assert session.scalars(select(Payment)).all() == [] and ledger_total(session, pool.id) is None

    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)

    payments = session.scalars(select(Payment)).all()
    assert sorted(p.commitment_id for p in payments) == sorted(c.id for c in made)
    # Born final: succeeded at the first attempt, written once, no lease left behind.
    assert all(
        (p.status, p.attempts, p.next_attempt_at, p.updated_at) == (PaymentStatus.SUCCEEDED, 1, None, p.created_at)
        for p in payments
    )
    assert ledger.balance(session, pool.id, ledger.ESCROW) == 4002 + 3002


def test_an_offline_charge_without_an_answer_is_leased_and_retried_with_the_same_key(session, now):
    pool, _ = awarded_pool(session, now)
    asked: list[str] = []

    def no_answer(request):
        asked.append(request.idempotency_key)
        return None

    settlement.start_settlement(session, pool_ids=[pool.id], gateway="offline", cards={}, now=now, charge_now=no_answer)
    session.commit()
    pending = session.scalars(select(Payment)).all()
    assert {(p.status, p.attempts) for p in pending} == {(PaymentStatus.PENDING, 1)}
    assert all(p.next_attempt_at > now for p in pending) and ledger_total(session, pool.id) is None

    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)  # the lease still holds
    assert session.get(Pool, pool.id).status == PoolStatus.AWARDED

    later = now + timedelta(minutes=5)
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=later)
    payments = session.scalars(select(Payment).execution_options(populate_existing=True)).all()
    assert sorted(p.idempotency_key for p in payments) == sorted(asked)
    assert {(p.status, p.attempts) for p in payments} == {(PaymentStatus.SUCCEEDED, 2)}
    assert session.get(Pool, pool.id).status == PoolStatus.SETTLED
    assert ledger.balance(session, pool.id, ledger.ESCROW) == 4002 + 3002 and ledger_total(session, pool.id) == 0


@pytest.mark.postgres
def test_a_pool_another_worker_is_settling_is_skipped_not_waited_for(session, engine, now):
    """Two schedulers sweeping the same list settle different pools at once (SKIP LOCKED)."""
    busy, free = (awarded_pool(session, now)[0] for _ in range(2))
    with Session(engine) as other, other.begin():
        other.execute(select(Pool).where(Pool.id == busy.id).with_for_update())  # another worker holds it
        session.execute(text("SET lock_timeout = '3s'"))  # a wait would fail the test, not hang it
        try:
            started = time.monotonic()
            assert jobs.settle_pools(session, OfflineGateway(), [busy.id, free.id], now=now) == 1
            assert time.monotonic() - started < 2  # no wait for the held pool
        finally:
            session.execute(text("RESET lock_timeout"))
        statuses = dict(session.execute(select(Pool.id, Pool.status).where(Pool.id.in_([busy.id, free.id]))).all())
        assert statuses == {busy.id: PoolStatus.AWARDED, free.id: PoolStatus.SETTLED}
        assert session.scalar(select(func.count(Payment.id)).where(Payment.pool_id == busy.id)) == 0
    assert jobs.settle_pools(session, OfflineGateway(), [busy.id], now=now) == 1  # released: the next sweep
    assert session.get(Pool, busy.id).status == PoolStatus.SETTLED
