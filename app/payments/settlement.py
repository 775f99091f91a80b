"""The lifecycle after the award: charge → settled. No Flask here.

Like app.pools.lifecycle, each transition locks the pool, checks the state it expects, changes
nothing when run again, and records an AuditEvent. Money moves through app.payments.service;
the calls to the payment provider happen outside these functions (see app.payments.jobs). What
happens to each charged line after that (delivery, release, disputes) is app.payments.escrow's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.notifications.service import notify
from app.payments import service as payments
from app.payments.gateway import ChargeResult
from app.payments.models import Payment, PaymentStatus
from app.payments.rules import EscrowTerms
from app.pools.fanout import notify_members_of_pools
from app.pools.lifecycle import transition
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolStatus


def start_settlement(
    session: Session,
    *,
    pool_ids: Sequence[int],
    gateway: str,
    cards: Mapping[int, str],
    now: datetime,
    charge_now: Callable[[payments.ChargeRequest], ChargeResult | None] | None = None,
    decline_grace: timedelta = EscrowTerms().decline_grace,
) -> list[payments.ChargeLease]:
    """Open a payment per served member of the awarded pools, leased for its first attempt; return the leases.

    With `charge_now` (a gateway inside this database), the payments are charged as they are
    written instead (see payments.open_charges).
    """
    awarded = [pool for pool in _lock(session, pool_ids) if pool.status == PoolStatus.AWARDED]
    return payments.open_charges(
        session,
        pools=awarded,
        gateway=gateway,
        cards=cards,
        now=now,
        charge_now=charge_now,
        decline_grace=decline_grace,
    )


def _lock(session: Session, pool_ids: Sequence[int]) -> Sequence[Pool]:
    """The pools no other worker holds, locked in id order (one order for every worker: no deadlocks).

    A pool another scheduler is settling right now is skipped, not waited for (SKIP LOCKED on
    PostgreSQL): that worker finishes it, or the next sweep does. Two schedulers sweeping the same
    list then settle different pools at once instead of queueing behind each other.
    """
    query = select(Pool).where(Pool.id.in_(pool_ids)).order_by(Pool.id).with_for_update(skip_locked=True)
    return session.scalars(query.execution_options(populate_existing=True)).all()


def finish_settlement(
    session: Session, *, pool_ids: Sequence[int], now: datetime, window: timedelta = EscrowTerms().window
) -> int:
    """Settle each awarded pool whose payments are all final, dropping members whose payment failed.

    Each charged line may be disputed for `window` from now; after that it is released to the
    vendor (app.payments.escrow). Return how many pools this call ended the charging of (settled,
    or failed when nobody paid).
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
    session.execute(
        update(Payment)
        .where(Payment.pool_id.in_(done_ids), succeeded, Payment.dispute_until.is_(None))
        .values(dispute_until=now + window, updated_at=now)
        .execution_options(synchronize_session=False)
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
            (
                pool,
                f"You were charged for “{pool.title}”. The money is held until you confirm delivery; if you "
                f"open no dispute by {now + window:%d %b %Y}, it is released to the vendor then.",
            )
            for pool in charged
        ],
        "charged",
        now,
        statuses=[CommitmentStatus.CHARGED],
        include_organiser=False,
    )
    return len(done)
