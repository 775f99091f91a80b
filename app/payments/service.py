"""Settlement money steps: charge served members, record outcomes, refund, pay out. No Flask here.

Network calls never happen inside these functions. The caller (payments.jobs) follows one
pattern for every external call: `begin_*` takes the row lock, checks the status, counts the
attempt and leases the row for a while (written and committed *before* the call); the call goes
out with the idempotency key stored on the row; `record_*` writes the result (committed *after*
the call). A crash anywhere leaves a row that the next sweep retries with the same key, so the
provider replays instead of charging twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.bids.models import Award
from app.payments import ledger
from app.payments.gateway import ChargeResult
from app.payments.models import Payment, PaymentStatus, Payout, PayoutStatus
from app.pools.models import Commitment, Pool

LEASE = timedelta(minutes=2)  # how long one worker owns an attempt before another may retry it
ACTION_GRACE = timedelta(hours=48)  # how long a member has to authenticate a payment on-session
TERMINAL = (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.REFUNDED)


def charge_key(pool_id: int, commitment_id: int) -> str:
    return f"pool-{pool_id}-commitment-{commitment_id}-charge"


def open_charges(session: Session, *, pool: Pool, award: Award, gateway: str, now: datetime) -> int:
    """Write a pending payment for every award line that has none yet (pool locked by the caller)."""
    existing = set(session.scalars(select(Payment.commitment_id).where(Payment.pool_id == pool.id)))
    created = 0
    for line in award.lines:
        if line.commitment_id in existing:
            continue
        session.add(
            Payment(
                pool_id=pool.id,
                commitment_id=line.commitment_id,
                member_id=line.member_id,
                amount_minor=line.amount_minor,
                currency=pool.currency,
                gateway=gateway,
                idempotency_key=charge_key(pool.id, line.commitment_id),
                created_at=now,
                updated_at=now,
            )
        )
        created += 1
    session.flush()
    return created


def _lock_payment(session: Session, payment_id: int) -> Payment | None:
    query = select(Payment).where(Payment.id == payment_id).with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def card_to_charge(session: Session, payment_id: int) -> tuple[str | None, bool]:
    """(customer ref, whether the card must still be chosen) for a pending payment's next attempt."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING or payment.payment_method_ref is not None:
        return None, False
    commitment = commitment_for(session, payment)
    member = session.get(User, payment.member_id)
    needed = commitment.payment_method_ref is None and member is not None and member.payment_customer_ref is not None
    return (member.payment_customer_ref if member else None), needed


def fix_card(session: Session, *, payment_id: int, card_ref: str | None) -> None:
    """Pin the card every attempt of this payment sends (only the first choice counts)."""
    payment = _lock_payment(session, payment_id)
    if payment is not None and payment.payment_method_ref is None:
        payment.payment_method_ref = card_ref or commitment_for(session, payment).payment_method_ref


def begin_charge(session: Session, *, payment_id: int, now: datetime) -> Payment | None:
    """Lease a pending payment for one charge attempt; None when it is final or someone else holds it."""
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING:
        return None
    if payment.next_attempt_at is not None and payment.next_attempt_at > now:
        return None
    if payment.payment_method_ref is None:
        payment.payment_method_ref = commitment_for(session, payment).payment_method_ref
    payment.attempts += 1
    payment.next_attempt_at = now + LEASE
    payment.updated_at = now
    return payment


def record_charge(session: Session, *, payment_id: int, result: ChargeResult, now: datetime) -> Payment | None:
    """Store a charge outcome once; later deliveries of the same outcome change nothing."""
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.status in TERMINAL:
        return payment
    payment.gateway_ref = result.payment_ref or payment.gateway_ref
    payment.updated_at = now
    if result.status == "succeeded":
        _mark_succeeded(session, payment, now)
    elif result.status == "requires_action":
        payment.status, payment.action_url = PaymentStatus.REQUIRES_ACTION, result.action_url
        payment.action_expires_at = payment.action_expires_at or now + ACTION_GRACE
        payment.failure_code, payment.failure_message = result.failure_code, result.failure_message
    elif result.status == "failed":
        payment.status = PaymentStatus.FAILED
        payment.failure_code, payment.failure_message = result.failure_code, result.failure_message
    else:  # "processing": not final; look again after the lease
        payment.next_attempt_at = now + LEASE
    return payment


def _mark_succeeded(session: Session, payment: Payment, now: datetime) -> None:
    payment.status, payment.action_url, payment.next_attempt_at = PaymentStatus.SUCCEEDED, None, None
    ledger.post(
        session,
        pool_id=payment.pool_id,
        key=f"payment-{payment.id}-captured",
        currency=payment.currency,
        memo=f"member {payment.member_id} paid for commitment {payment.commitment_id}",
        now=now,
        legs=[(ledger.ESCROW, payment.amount_minor), (ledger.MEMBER_PAYMENTS, -payment.amount_minor)],
    )


def record_unavailable(session: Session, *, payment_id: int, now: datetime) -> None:
    """The gateway could not be reached: keep the payment pending, to retry after the lease."""
    payment = _lock_payment(session, payment_id)
    if payment is not None and payment.status == PaymentStatus.PENDING:
        payment.next_attempt_at, payment.updated_at = now + LEASE, now


def expire_action(session: Session, *, payment_id: int, now: datetime) -> bool:
    """Give up on a payment the member did not authenticate in time; True when it was dropped."""
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.REQUIRES_ACTION:
        return False
    if payment.action_expires_at is not None and payment.action_expires_at > now:
        return False
    payment.status, payment.failure_code, payment.updated_at = PaymentStatus.FAILED, "authentication_expired", now
    payment.failure_message = "The payment was not authenticated within the grace window."
    return True


def payments_of(session: Session, pool_id: int) -> list[Payment]:
    """The pool's payments in order."""
    return list(session.scalars(select(Payment).where(Payment.pool_id == pool_id).order_by(Payment.id)))


def held_minor(session: Session, pool_id: int) -> int:
    """What escrow holds for the pool."""
    return ledger.balance(session, pool_id, ledger.ESCROW)


def fee_minor(gross_minor: int, fee_bps: int) -> int:
    """The platform's fee on a payout, rounded half-even to the minor unit."""
    quotient, remainder = divmod(gross_minor * fee_bps, 10_000)
    if remainder * 2 > 10_000 or (remainder * 2 == 10_000 and quotient % 2 == 1):
        quotient += 1
    return quotient


def release_escrow(session: Session, *, pool: Pool, vendor_id: int, fee_bps: int, now: datetime) -> Payout:
    """Move held funds to the vendor (minus the fee) and create the payout to transfer (pool locked)."""
    existing = session.scalar(select(Payout).where(Payout.pool_id == pool.id))
    if existing is not None:
        return existing
    gross = held_minor(session, pool.id)
    fee = fee_minor(gross, fee_bps)
    ledger.post(
        session,
        pool_id=pool.id,
        key=f"pool-{pool.id}-escrow-released",
        currency=pool.currency,
        memo="escrow released to the vendor, less the platform fee",
        now=now,
        legs=[(ledger.ESCROW, -gross), (ledger.VENDOR_PAYABLE, gross - fee), (ledger.PLATFORM_FEE, fee)],
    )
    payout = Payout(
        pool_id=pool.id,
        vendor_id=vendor_id,
        gross_minor=gross,
        fee_minor=fee,
        amount_minor=gross - fee,
        currency=pool.currency,
        idempotency_key=f"pool-{pool.id}-payout",
        created_at=now,
        updated_at=now,
    )
    session.add(payout)
    session.flush()
    return payout


def begin_payout(session: Session, *, pool_id: int, now: datetime) -> Payout | None:
    """Lease the pool's pending payout for one transfer attempt."""
    payout = session.scalar(
        select(Payout).where(Payout.pool_id == pool_id).with_for_update().execution_options(populate_existing=True)
    )
    if payout is None or payout.status != PayoutStatus.PENDING:
        return None
    if payout.next_attempt_at is not None and payout.next_attempt_at > now:
        return None
    payout.attempts, payout.next_attempt_at, payout.updated_at = payout.attempts + 1, now + LEASE, now
    return payout


def record_payout(session: Session, *, pool_id: int, transfer_ref: str, now: datetime) -> Payout | None:
    """Mark the payout transferred (once) and post it to the ledger."""
    payout = session.scalar(
        select(Payout).where(Payout.pool_id == pool_id).with_for_update().execution_options(populate_existing=True)
    )
    if payout is None or payout.status == PayoutStatus.PAID:
        return payout
    payout.status, payout.gateway_ref, payout.updated_at = PayoutStatus.PAID, transfer_ref, now
    ledger.post(
        session,
        pool_id=pool_id,
        key=f"pool-{pool_id}-payout-sent",
        currency=payout.currency,
        memo=f"transferred to vendor {payout.vendor_id}",
        now=now,
        legs=[(ledger.VENDOR_PAYABLE, -payout.amount_minor), (ledger.VENDOR_PAYOUTS, payout.amount_minor)],
    )
    return payout


def begin_refund(session: Session, *, payment_id: int, now: datetime) -> Payment | None:
    """Lease a captured payment for one refund attempt."""
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.SUCCEEDED:
        return None
    if payment.next_attempt_at is not None and payment.next_attempt_at > now:
        return None
    payment.next_attempt_at, payment.updated_at = now + LEASE, now
    return payment


def record_refund(session: Session, *, payment_id: int, refund_ref: str, now: datetime) -> Payment | None:
    """Mark a payment refunded (once) and post the refund out of escrow."""
    payment = _lock_payment(session, payment_id)
    if payment is None or payment.status != PaymentStatus.SUCCEEDED:
        return payment
    payment.status, payment.refund_ref, payment.updated_at = PaymentStatus.REFUNDED, refund_ref, now
    ledger.post(
        session,
        pool_id=payment.pool_id,
        key=f"payment-{payment.id}-refunded",
        currency=payment.currency,
        memo=f"refunded member {payment.member_id}",
        now=now,
        legs=[(ledger.ESCROW, -payment.amount_minor), (ledger.REFUNDS, payment.amount_minor)],
    )
    return payment


def commitment_for(session: Session, payment: Payment) -> Commitment:
    commitment = session.get(Commitment, payment.commitment_id)
    assert commitment is not None
    return commitment


def payout_of(session: Session, pool_id: int) -> Payout | None:
    """The pool's payout, once escrow has been released."""
    return session.scalar(select(Payout).where(Payout.pool_id == pool_id))


def payment_for(session: Session, pool_id: int, commitment_id: int) -> Payment | None:
    """The payment for one commitment, if it was charged."""
    return session.scalar(select(Payment).where(Payment.pool_id == pool_id, Payment.commitment_id == commitment_id))


def payouts_of(session: Session, vendor_id: int) -> dict[int, Payout]:
    """The vendor's payouts by pool."""
    return {p.pool_id: p for p in session.scalars(select(Payout).where(Payout.vendor_id == vendor_id))}
