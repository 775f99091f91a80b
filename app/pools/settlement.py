"""The lifecycle after the award: charge → settled, delivery → completed, disputes. No Flask here.

Like app.pools.lifecycle, each transition locks the pool, checks the state it expects, changes
nothing when run again, and records an AuditEvent. Money moves through app.payments.service;
the calls to the payment provider happen outside these functions (see app.payments.jobs).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.accounts.models import User
from app.bids.service import award_of
from app.errors import InvalidTransition, NotFound
from app.notifications.service import notify
from app.payments import service as payments
from app.payments.models import PaymentStatus, PayoutStatus
from app.pools.commitments import find_commitment
from app.pools.lifecycle import transition
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolStatus
from app.pools.service import get_pool_for_update
from app.social.fanout import notify_pool_members


def start_settlement(session: Session, *, pool_id: int, gateway: str, now: datetime) -> list[int]:
    """Write a pending payment per served member of an awarded pool; return the payments to attempt."""
    pool = get_pool_for_update(session, pool_id)
    if pool.status != PoolStatus.AWARDED:
        return []
    award = award_of(session, pool.id)
    assert award is not None, "an awarded pool has an award"
    payments.open_charges(session, pool=pool, award=award, gateway=gateway, now=now)
    return [p.id for p in payments.payments_of(session, pool.id) if p.status == PaymentStatus.PENDING]


def finish_settlement(session: Session, *, pool_id: int, now: datetime) -> bool:
    """Settle the pool once every payment is final, dropping members whose payment failed.

    Return whether this call ended the charging (settled, or failed when nobody paid).
    """
    pool = get_pool_for_update(session, pool_id)
    if pool.status != PoolStatus.AWARDED:
        return False
    made = payments.payments_of(session, pool.id)
    if not made or any(p.status not in payments.TERMINAL for p in made):
        return False
    commitments = {c.id: c for c in session.scalars(select(Commitment).where(Commitment.pool_id == pool.id))}
    for payment in made:
        commitment = commitments[payment.commitment_id]
        ok = payment.status == PaymentStatus.SUCCEEDED
        commitment.status = CommitmentStatus.CHARGED if ok else CommitmentStatus.PAYMENT_FAILED
        commitment.updated_at = now
        if not ok:
            notify(
                session,
                user_id=payment.member_id,
                pool_id=pool.id,
                kind="payment_failed",
                now=now,
                message=f"Your payment for “{pool.title}” did not go through, so you were dropped from the "
                "pool and not charged. The price holds for the other members.",
            )
    paid = [p for p in made if p.status == PaymentStatus.SUCCEEDED]
    dropped = len(made) - len(paid)
    if not paid:
        pool.outcome_note = "No served member's payment went through, so nobody was charged."
        transition(session, pool, PoolStatus.FAILED, actor_id=None, now=now, action="pool.settle")
        return True
    pool.settled_at = now
    session.flush()
    notify_pool_members(
        session,
        pool,
        "charged",
        f"You were charged for “{pool.title}”. The money is held until delivery is confirmed.",
        now,
        statuses=[CommitmentStatus.CHARGED],
        include_organiser=False,
    )
    transition(
        session,
        pool,
        PoolStatus.SETTLED,
        actor_id=None,
        now=now,
        action="pool.settle",
        extra={"paid": len(paid), "dropped": dropped, "held_minor": sum(p.amount_minor for p in paid)},
    )
    return True


def _may_confirm(session: Session, pool: Pool, actor: User) -> bool:
    if pool.is_organised_by(actor) or actor.is_admin:
        return True
    mine = find_commitment(session, pool_id=pool.id, member_id=actor.id)
    return mine is not None and mine.status == CommitmentStatus.CHARGED


def confirm_delivery(session: Session, *, pool_id: int, actor: User, fee_bps: int, now: datetime) -> Pool:
    """The organiser or a charged member confirms delivery: escrow is released to the vendor."""
    pool = get_pool_for_update(session, pool_id)
    if not pool.is_visible_to(actor) or not _may_confirm(session, pool, actor):
        raise NotFound("No such pool.")
    if pool.delivery_confirmed_at is not None:
        return pool
    if pool.status != PoolStatus.SETTLED:
        raise InvalidTransition(f"Delivery can only be confirmed once the pool is settled; it is {pool.status}.")
    pool.delivery_confirmed_at = now
    _release(session, pool, fee_bps, actor_id=actor.id, now=now, action="pool.deliver")
    return pool


def release_after_window(session: Session, *, pool_id: int, window: timedelta, fee_bps: int, now: datetime) -> Pool:
    """Release escrow when the dispute window passed without a dispute (the scheduler's path)."""
    pool = get_pool_for_update(session, pool_id)
    if pool.status != PoolStatus.SETTLED or pool.settled_at is None or pool.settled_at + window > now:
        return pool
    _release(session, pool, fee_bps, actor_id=None, now=now, action="pool.release")
    return pool


def _release(session: Session, pool: Pool, fee_bps: int, *, actor_id: int | None, now: datetime, action: str) -> None:
    award = award_of(session, pool.id)
    assert award is not None
    payout = payments.release_escrow(session, pool=pool, vendor_id=award.vendor_id, fee_bps=fee_bps, now=now)
    audit.record(
        session,
        action=action,
        subject=pool,
        actor_id=actor_id,
        now=now,
        pool_id=pool.id,
        before={"held_minor": payout.gross_minor},
        after={"payout_minor": payout.amount_minor, "fee_minor": payout.fee_minor},
    )


def open_dispute(session: Session, *, pool_id: int, actor: User, reason: str, now: datetime) -> Pool:
    """A charged member or the organiser disputes delivery: the held money stays held."""
    pool = get_pool_for_update(session, pool_id)
    if not pool.is_visible_to(actor) or not _may_confirm(session, pool, actor):
        raise NotFound("No such pool.")
    if pool.status == PoolStatus.DISPUTED:
        return pool
    if pool.status != PoolStatus.SETTLED or payments.payout_of(session, pool.id) is not None:
        raise InvalidTransition("Only a settled pool whose money is still held can be disputed.")
    pool.dispute_reason = reason
    transition(
        session, pool, PoolStatus.DISPUTED, actor_id=actor.id, now=now, action="pool.dispute", extra={"reason": reason}
    )
    return pool


def resolve_dispute(
    session: Session, *, pool_id: int, actor: User, resolution: str, fee_bps: int, now: datetime
) -> Pool:
    """The organiser (or an operator) resolves a dispute: release the money to the vendor, or refund."""
    pool = get_pool_for_update(session, pool_id)
    if not (pool.is_organised_by(actor) or actor.is_admin):
        raise NotFound("No such pool.")
    if pool.status != PoolStatus.DISPUTED:
        raise InvalidTransition(f"Only a disputed pool can be resolved; this one is {pool.status}.")
    if pool.dispute_resolution is not None:
        return pool
    pool.dispute_resolution = resolution
    if resolution == "release":
        _release(session, pool, fee_bps, actor_id=actor.id, now=now, action="pool.resolve")
    else:
        audit.record(
            session,
            action="pool.resolve",
            subject=pool,
            actor_id=actor.id,
            now=now,
            pool_id=pool.id,
            before={"status": pool.status},
            after={"resolution": "refund"},
        )
    return pool


def complete_if_done(session: Session, *, pool_id: int, now: datetime) -> Pool:
    """Complete the pool once its money has left escrow: paid out to the vendor, or refunded."""
    pool = get_pool_for_update(session, pool_id)
    if pool.status not in (PoolStatus.SETTLED, PoolStatus.DISPUTED):
        return pool
    payout = payments.payout_of(session, pool.id)
    refunded = pool.dispute_resolution == "refund" and all(
        p.status != PaymentStatus.SUCCEEDED for p in payments.payments_of(session, pool.id)
    )
    if (payout is not None and payout.status == PayoutStatus.PAID) or refunded:
        pool.completed_at = now
        transition(
            session,
            pool,
            PoolStatus.COMPLETED,
            actor_id=None,
            now=now,
            action="pool.complete",
            extra={"outcome": "refunded" if refunded else "paid_out"},
        )
    return pool
