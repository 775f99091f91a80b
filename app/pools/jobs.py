"""Scheduled pool work: sweepers that find due pools in the database and call the lifecycle.

Each function takes a session and `now`, commits after every pool (so one pool's failure or a
crash loses nothing already done) and returns how many pools it handled.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from app.pools import lifecycle

log = logging.getLogger(__name__)


def close_due_pools(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Close every open pool whose deadline has passed; safe to run in several processes at once."""
    handled, skipped = 0, set[int]()
    while handled + len(skipped) < limit:
        claimed = lifecycle.due_pool_ids(session, now, limit=1, exclude=skipped)
        if not claimed:
            break
        try:
            lifecycle.close_pool(session, pool_id=claimed[0], actor=None, now=now)
            session.commit()
            handled += 1
        except Exception:
            session.rollback()
            log.exception("closing pool %s failed; the next sweep retries it", claimed[0])
            skipped.add(claimed[0])
    session.rollback()  # release the empty claim's transaction
    return handled
