"""The pool lifecycle: publishing, cancelling and the status transition every step records. No Flask here.

Closing a pool clears its bids, so it lives with the bids (`app.bids.award`); the transitions
are those of docs/domain.md ("The pool lifecycle").

Each transition locks the pool row, checks the state it expects, is idempotent (running it again
changes nothing) and records an AuditEvent with the state before and after.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.accounts.models import User
from app.errors import InvalidTransition, ValidationFailed
from app.pools import rules
from app.pools.fanout import notify_members_of_pools
from app.pools.models import Pool, PoolStatus
from app.pools.service import get_organised_pool_for_update

CLOSED = (
    PoolStatus.AWARDED,
    PoolStatus.FAILED,
    PoolStatus.SETTLED,
    PoolStatus.DISPUTED,
    PoolStatus.COMPLETED,
    PoolStatus.REFUNDED,
)


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
    message = f"The organiser cancelled “{pool.title}”. You were not charged, and nothing will be taken."
    notify_members_of_pools(session, [(pool, message)], "not_charged", now, include_organiser=False)
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


def due_pool_ids(
    session: Session, now: datetime, limit: int, exclude: set[int] | frozenset[int] = frozenset()
) -> list[int]:
    """Open pools past their deadline, oldest deadline first, skipping any another worker holds.

    On PostgreSQL the rows stay locked until the transaction ends; SQLite ignores the lock, so
    there the status check inside close_pool is what prevents double work.
    """
    query = (
        select(Pool.id)
        .where(
            Pool.status == PoolStatus.OPEN,
            Pool.closes_at <= now,
            Pool.attention_note.is_(None),  # left for a person to look at (app.bids.jobs)
            Pool.id.not_in(exclude),
        )
        .order_by(Pool.closes_at, Pool.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))
