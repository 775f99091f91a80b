"""Scheduler jobs of the social layer: send the email outbox, remind members of closing pools.

Both take the scheduler's (session, config, *, now), commit their own work and return a count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import unit_of_work
from app.pools.fanout import notify_pool_members
from app.pools.models import CommitmentStatus, Pool, PoolStatus
from app.social import mail

OUTBOX_BATCH = 200
REMIND_BEFORE = timedelta(hours=24)


def send_outbox(session: Session, config: Mapping[str, Any], *, now: datetime) -> int:
    """Send the due outbox messages through the configured backend; return how many went out."""
    sent = mail.send_pending(session, config, now, limit=OUTBOX_BATCH)
    unit_of_work.commit(session)
    return sent


def remind_closing_soon(session: Session, config: Mapping[str, Any], *, now: datetime) -> int:
    """Tell members of pools closing within a day, in the inbox and by email, once per pool."""
    query = select(Pool).where(
        Pool.status == PoolStatus.OPEN, Pool.closes_at > now, Pool.closes_at <= now + REMIND_BEFORE
    )
    told = 0
    for pool in session.scalars(query.order_by(Pool.closes_at, Pool.id)).all():
        message = f"“{pool.title}” closes within a day. Check your quantity and price."
        told += notify_pool_members(session, pool, "closing_soon", message, now, statuses=[CommitmentStatus.ACTIVE],
                                    include_organiser=False)  # fmt: skip
    unit_of_work.commit(session)
    return told
