"""The pool lifecycle: every transition of DESIGN.md section 3, one function each. No Flask here.

Each transition locks the pool row, checks the state it expects, is idempotent (running it again
changes nothing) and records an AuditEvent with the state before and after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.accounts.models import User
from app.bids import rules as bid_rules
from app.bids import service as bids
from app.bids.models import Award, AwardLine, BidStatus
from app.bids.rules import Demand, Outcome
from app.errors import InvalidTransition, ValidationFailed
from app.money import line_amount_minor
from app.pools import rules
from app.pools.models import AwardRule, Commitment, CommitmentStatus, Pool, PoolStatus
from app.pools.service import get_organised_pool_for_update, get_pool_for_update
from app.reputation.scores import price_factors
from app.social.fanout import notify_pool_members

CLOSED = (PoolStatus.AWARDED, PoolStatus.FAILED, PoolStatus.SETTLED, PoolStatus.DISPUTED, PoolStatus.COMPLETED)


def publish_pool(session: Session, *, pool_id: int, actor: User, now: datetime) -> Pool:
    """Open a draft pool to members and vendors; publishing an open pool changes nothing."""
    pool = get_organised_pool_for_update(session, pool_id, actor)
    if pool.status == PoolStatus.OPEN:
        return pool
    if pool.status != PoolStatus.DRAFT:
        raise InvalidTransition(f"A {pool.status} pool cannot be published.")
    if problems := rules.closes_at_errors(pool.closes_at, now):
        raise ValidationFailed("Move the closing time before publishing.", {"closes_at": problems})
    transition(session, pool, PoolStatus.OPEN, actor_id=actor.id, now=now, action="pool.publish")
    pool.published_at = pool.opens_at = now
    return pool


def cancel_pool(session: Session, *, pool_id: int, actor: User, now: datetime) -> Pool:
    """Cancel a draft or open pool: nobody is charged. Cancelling twice changes nothing."""
    pool = get_organised_pool_for_update(session, pool_id, actor)
    if pool.status == PoolStatus.CANCELLED:
        return pool
    if pool.status not in (PoolStatus.DRAFT, PoolStatus.OPEN):
        raise InvalidTransition(f"A {pool.status} pool cannot be cancelled.")
    transition(session, pool, PoolStatus.CANCELLED, actor_id=actor.id, now=now, action="pool.cancel")
    pool.closed_at = now
    return pool


def transition(
    session: Session,
    pool: Pool,
    to: PoolStatus,
    *,
    actor_id: int | None,
    now: datetime,
    action: str,
    extra: dict[str, object] | None = None,
) -> None:
    """Move a locked pool to a new status and record who did it."""
    before = pool.status
    pool.status = to
    pool.updated_at = now
    audit.record(
        session,
        action=action,
        subject=pool,
        actor_id=actor_id,
        now=now,
        pool_id=pool.id,
        before={"status": before},
        after={"status": str(to), **(extra or {})},
    )


def close_pool(session: Session, *, pool_id: int, actor: User | None, now: datetime) -> Pool:
    """Close and clear the pool: award it to the winning bid, or mark it failed. Idempotent.

    `actor` None is the scheduler or an operator's CLI, which only close pools that are due; the
    organiser (or an operator account) may close an open pool early.
    """
    pool = (
        get_pool_for_update(session, pool_id)
        if actor is None
        else get_organised_pool_for_update(session, pool_id, actor)
    )
    if pool.status in CLOSED:
        return pool
    if pool.status != PoolStatus.OPEN:
        raise InvalidTransition(f"A {pool.status} pool cannot be closed.")
    if actor is None and now < pool.closes_at:
        raise InvalidTransition("This pool is not due to close yet.")
    members = _active_commitments(session, pool.id)
    offers = _offers(session, pool)
    demands = [Demand(c.id, c.member_id, c.quantity, c.max_unit_price, (c.joined_at, c.id)) for c in members]
    outcome = bid_rules.clear(demands, offers, min_quantity=pool.min_quantity)
    if outcome is None:
        _fail(session, pool, members, actor, now)
    else:
        fingerprint = bid_rules.fingerprint(demands, offers, pool.min_quantity)
        _award(session, pool, members, outcome, fingerprint, actor, now)
    pool.closed_at = now
    return pool


def _offers(session: Session, pool: Pool) -> list[bid_rules.Offer]:
    """The active bids as clearing offers; under price_and_reputation each carries its vendor's factor."""
    active = bids.active_bids(session, pool.id)
    if pool.award_rule != AwardRule.PRICE_AND_REPUTATION:
        return [bids.offer_of(bid) for bid in active]
    factors = price_factors(session, {bid.vendor_id for bid in active})
    return [bids.offer_of(bid, factors[bid.vendor_id]) for bid in active]


def _active_commitments(session: Session, pool_id: int) -> list[Commitment]:
    query = select(Commitment).where(Commitment.pool_id == pool_id, Commitment.status == CommitmentStatus.ACTIVE)
    return list(session.scalars(query.order_by(Commitment.joined_at, Commitment.id)))


def _fail(session: Session, pool: Pool, members: list[Commitment], actor: User | None, now: datetime) -> None:
    pool.outcome_note = (
        f"Only {pool.committed_quantity} of the {pool.min_quantity} {pool.unit} needed were committed."
        if not pool.has_tipped
        else "No bid could serve the members at a price they accepted."
    )
    for commitment in members:
        commitment.status, commitment.updated_at = CommitmentStatus.UNSERVED, now
    for bid in bids.active_bids(session, pool.id):
        bid.status = BidStatus.LOST
    transition(session, pool, PoolStatus.FAILED, actor_id=actor.id if actor else None, now=now, action="pool.close")


def _award(
    session: Session,
    pool: Pool,
    members: list[Commitment],
    outcome: Outcome,
    fingerprint: str,
    actor: User | None,
    now: datetime,
) -> Award:
    award = Award(
        pool_id=pool.id,
        bid_id=outcome.bid_id,
        vendor_id=outcome.vendor_id,
        unit_price=outcome.unit_price,
        served_quantity=outcome.served_quantity,
        total_minor=0,
        fingerprint=fingerprint,
        computed_at=now,
    )
    served = {line.commitment_id: line for line in outcome.served}
    for line in outcome.served:
        amount = line_amount_minor(line.quantity, outcome.unit_price, pool.currency)
        award.lines.append(
            AwardLine(
                commitment_id=line.commitment_id, member_id=line.member_id, quantity=line.quantity, amount_minor=amount
            )
        )
        award.total_minor += amount
    for commitment in members:
        commitment.status = CommitmentStatus.SERVED if commitment.id in served else CommitmentStatus.UNSERVED
        commitment.updated_at = now
    for bid in bids.active_bids(session, pool.id):
        bid.status = BidStatus.WON if bid.id == outcome.bid_id else BidStatus.LOST
    session.add(award)
    pool.outcome_note = None
    session.flush()
    notify_pool_members(
        session,
        pool,
        "awarded",
        f"“{pool.title}” was awarded at {outcome.unit_price.normalize():f} "
        f"{pool.currency} per {pool.unit}. Served members will be charged their share.",
        now,
        statuses=[CommitmentStatus.SERVED, CommitmentStatus.UNSERVED],
    )
    transition(
        session,
        pool,
        PoolStatus.AWARDED,
        actor_id=actor.id if actor else None,
        now=now,
        action="pool.close",
        extra={
            "bid_id": outcome.bid_id,
            "unit_price": str(outcome.unit_price),
            "served_quantity": outcome.served_quantity,
        },
    )
    return award


def due_pool_ids(
    session: Session, now: datetime, limit: int, exclude: set[int] | frozenset[int] = frozenset()
) -> list[int]:
    """Open pools past their deadline, oldest deadline first, skipping any another worker holds.

    On PostgreSQL the rows stay locked until the transaction ends; SQLite ignores the lock, so
    there the status check inside close_pool is what prevents double work.
    """
    query = (
        select(Pool.id)
        .where(Pool.status == PoolStatus.OPEN, Pool.closes_at <= now, Pool.id.not_in(exclude))
        .order_by(Pool.closes_at, Pool.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))
