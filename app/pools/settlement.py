"""The lifecycle after the award: charge → settled, delivery → completed, disputes. No Flask here.

Like app.pools.lifecycle, each transition locks the pool, checks the state it expects, changes
nothing when run again, and records an AuditEvent. Money moves through app.payments.service;
the calls to the payment provider happen outside these functions (see app.payments.jobs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import audit
from app.accounts.models import User
from app.bids.service import award_of
from app.errors import InvalidTransition, NotFound
from app.notifications.service import notify
from app.payments import service as payments
from app.payments.gateway import ChargeResult
from app.payments.models import Payment, PaymentStatus, PayoutStatus
from app.pools.commitments import find_commitment
from app.pools.lifecycle import transition
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolStatus
from app.pools.service import get_pool_for_update
from app.social.fanout import notify_members_of_pools


def start_settlement(
    session: Session,
    *,
    pool_ids: Sequence[int],
    gateway: str,
    cards: Mapping[int, str],
    now: datetime,
    charge_now: Callable[[payments.ChargeRequest], ChargeResult | None] | None = None,
) -> list[payments.ChargeLease]:
    """Open a payment per served member of the awarded pools, leased for its first attempt; return the leases.

    With `charge_now` (a gateway inside this database), the payments are charged as they are
    written instead (see payments.open_charges).
    """
    awarded = [pool for pool in _lock(session, pool_ids) if pool.status == PoolStatus.AWARDED]
    return payments.open_charges(session, pools=awarded, gateway=gateway, cards=cards, now=now, charge_now=charge_now)


def _lock(session: Session, pool_ids: Sequence[int]) -> Sequence[Pool]:
    """The pools no other worker holds, locked in id order (one order for every worker: no deadlocks).

    A pool another scheduler is settling right now is skipped, not waited for (SKIP LOCKED on
    PostgreSQL): that worker finishes it, or the next sweep does. Two schedulers sweeping the same
    list then settle different pools at once instead of queueing behind each other.
    """
    query = select(Pool).where(Pool.id.in_(pool_ids)).order_by(Pool.id).with_for_update(skip_locked=True)
    return session.scalars(query.execution_options(populate_existing=True)).all()


def finish_settlement(session: Session, *, pool_ids: Sequence[int], now: datetime) -> int:
    """Settle each awarded pool whose payments are all final, dropping members whose payment failed.

    Return how many pools this call ended the charging of (settled, or failed when nobody paid).
    """
    pools = {pool.id: pool for pool in _lock(session, pool_ids) if pool.status == PoolStatus.AWARDED}
    made: dict[int, list[Any]] = {pool_id: [] for pool_id in pools}
    query = select(Payment.pool_id, Payment.member_id, Payment.status, Payment.amount_minor)
    for row in session.execute(query.where(Payment.pool_id.in_(pools))):
        made[row.pool_id].append(row)
    done = [
        pool
        for pool_id, pool in pools.items()
        if made[pool_id] and all(p.status in payments.TERMINAL for p in made[pool_id])
    ]
    if not done:
        return 0
    done_ids, succeeded = [pool.id for pool in done], Payment.status == PaymentStatus.SUCCEEDED
    for outcome, status in ((succeeded, CommitmentStatus.CHARGED), (~succeeded, CommitmentStatus.PAYMENT_FAILED)):
        with_payment = select(Payment.commitment_id).where(Payment.pool_id.in_(done_ids), outcome)
        session.execute(
            update(Commitment)
            .where(Commitment.pool_id.in_(done_ids), Commitment.id.in_(with_payment.scalar_subquery()))
            .values(status=status, updated_at=now)
            .execution_options(synchronize_session="fetch")
        )
    charged = []
    for pool in done:
        paid = [p for p in made[pool.id] if p.status == PaymentStatus.SUCCEEDED]
        for payment in made[pool.id]:
            if payment.status != PaymentStatus.SUCCEEDED:
                notify(
                    session,
                    user_id=payment.member_id,
                    pool_id=pool.id,
                    kind="payment_failed",
                    now=now,
                    email=True,
                    message=f"Your payment for “{pool.title}” did not go through, so you were dropped from the "
                    "pool and not charged. The price holds for the other members.",
                )
        if not paid:
            pool.outcome_note = "No served member's payment went through, so nobody was charged."
            transition(session, pool, PoolStatus.FAILED, actor_id=None, now=now, action="pool.settle")
            continue
        pool.settled_at = now
        charged.append(pool)
        held = sum(p.amount_minor for p in paid)
        extra: dict[str, object] = {"paid": len(paid), "dropped": len(made[pool.id]) - len(paid), "held_minor": held}
        transition(session, pool, PoolStatus.SETTLED, actor_id=None, now=now, action="pool.settle", extra=extra)
    notify_members_of_pools(
        session,
        [
            (pool, f"You were charged for “{pool.title}”. The money is held until delivery is confirmed.")
            for pool in charged
        ],
        "charged",
        now,
        statuses=[CommitmentStatus.CHARGED],
        include_organiser=False,
    )
    return len(done)


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
