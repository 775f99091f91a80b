"""Commitment use cases: join a pool, change the commitment, withdraw. No Flask here.

The pool's denormalised demand (`committed_quantity`, `member_count`) changes only here, under
the pool's row lock, so it always equals the sum over active commitments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.accounts.models import User
from app.accounts.service import require_verified
from app.errors import Forbidden, NotFound, PoolNotOpen, ValidationFailed
from app.pools import curves, rules
from app.pools.curves import Point
from app.pools.fanout import notify_pool_members
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolStatus
from app.pools.service import ensure_visible, get_pool_for_update


def find_commitment(session: Session, *, pool_id: int, member_id: int) -> Commitment | None:
    """Return the member's commitment to the pool in any state, or None."""
    return session.scalar(select(Commitment).where(Commitment.pool_id == pool_id, Commitment.member_id == member_id))


def _open_pool_for_update(session: Session, pool_id: int, member: User, now: datetime) -> Pool:
    pool = get_pool_for_update(session, pool_id)
    ensure_visible(session, pool, member)
    if not pool.is_open_at(now):
        state = "closed" if pool.status == PoolStatus.OPEN else pool.status
        raise PoolNotOpen(f"This pool is {state}; commitments can only change while it is open.")
    return pool


def commit(
    session: Session,
    *,
    pool_id: int,
    member: User,
    points: Sequence[Point],
    now: datetime,
    bids_on_pool: Callable[[Session, int, int], bool],
    delivery_address: str | None = None,
) -> tuple[Commitment, bool]:
    """Join (or rejoin) the pool, or change the commitment; return it and whether this was a join.

    `points` is the member's demand curve (app.pools.curves; one point for a plain commitment). The
    pool's limits apply to its largest quantity, and quantity × maximum at every point is bounded.

    `delivery_address` replaces the member's address when given (a change that leaves it out keeps
    it); a pool that delivers to each member (`needs_address`) refuses a commitment without one.

    A vendor may not be served by its own bid: `bids_on_pool(session, pool_id, user_id)` says
    whether the member has an active bid on the pool, asked under the pool's row lock (bids build on
    pools, so the caller passes `app.bids.service.has_active_bid`).
    """
    pool = _open_pool_for_update(session, pool_id, member, now)
    require_verified(member)  # joining authorizes a charge
    if bids_on_pool(session, pool.id, member.id):
        raise Forbidden("You bid on this pool, so you cannot join it; withdraw your bid first.")
    existing = find_commitment(session, pool_id=pool.id, member_id=member.id)
    own = existing.quantity if existing is not None and existing.is_active else 0
    if shape := curves.curve_errors(points):  # the schemas say so first; this holds for every caller
        raise ValidationFailed(shape[0], {"points": shape})
    last, smaller = curves.split_curve(points)
    problems = rules.quantity_errors(
        last.quantity,
        committed_by_others=pool.committed_quantity - own,
        max_quantity=pool.max_quantity,
        max_per_member=pool.max_per_member,
        most_payable=curves.most_payable(points),
    )
    address = (delivery_address or "").strip() or (existing.delivery_address if existing is not None else None)
    errors = {"quantity": problems, "delivery_address": rules.address_errors(address, needed=pool.needs_address)}
    if errors := {field: messages for field, messages in errors.items() if messages}:
        raise ValidationFailed(next(iter(errors.values()))[0], errors)
    before = _snapshot(existing) if existing is not None and existing.is_active else None
    if existing is None:
        existing = Commitment(pool=pool, member=member, created_at=now, quantity=0, max_unit_price=last.max_unit_price)
        session.add(existing)
    if not existing.is_active:
        existing.joined_at = now  # a rejoining member goes to the back of the queue
        existing.status = CommitmentStatus.ACTIVE
        pool.member_count += 1
    tipped_before = pool.has_tipped
    pool.committed_quantity += last.quantity - own
    existing.quantity, existing.max_unit_price, existing.smaller_points = last.quantity, last.max_unit_price, smaller
    existing.updated_at = pool.updated_at = now  # the pool's demand changed (app.web.pools.web caches by it)
    existing.delivery_address = address
    session.flush()
    if pool.has_tipped and not tipped_before:
        notify_pool_members(
            session,
            pool,
            "pool_tipped",
            f"“{pool.title}” reached its tipping point of "
            f"{pool.min_quantity} {pool.unit}: vendors are competing for it.",
            now,
        )
    action = "commitment.change" if before else "commitment.join"
    audit.record(
        session,
        action=action,
        subject=existing,
        actor_id=member.id,
        now=now,
        pool_id=pool.id,
        before=before,
        after=_snapshot(existing),
    )
    return existing, before is None


def withdraw(session: Session, *, pool_id: int, member: User, now: datetime) -> Commitment:
    """Withdraw the member's active commitment while the pool is open."""
    pool = _open_pool_for_update(session, pool_id, member, now)
    commitment = find_commitment(session, pool_id=pool.id, member_id=member.id)
    if commitment is None or not commitment.is_active:
        raise NotFound("You have no commitment to this pool.")
    before = _snapshot(commitment)
    commitment.status = CommitmentStatus.WITHDRAWN
    commitment.updated_at = pool.updated_at = now
    pool.committed_quantity -= commitment.quantity
    pool.member_count -= 1
    audit.record(
        session,
        action="commitment.withdraw",
        subject=commitment,
        actor_id=member.id,
        now=now,
        pool_id=pool.id,
        before=before,
        after=_snapshot(commitment),
    )
    return commitment


def _snapshot(commitment: Commitment) -> dict[str, str | int]:
    snapshot: dict[str, str | int] = {
        "status": commitment.status,
        "quantity": commitment.quantity,
        "max_unit_price": str(commitment.max_unit_price),
    }
    if commitment.smaller_points:
        snapshot["points"] = curves.describe(commitment.points)
    return snapshot
