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


BATCH = 20  # due pools claimed and closed per transaction


def close_due_pools(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Close every open pool whose deadline has passed; safe to run in several processes at once.

    Pools are claimed and closed in batches, one transaction each. When a batch fails, its pools
    are retried one by one, so one bad pool is logged and skipped without holding back the rest.
    """
    handled, skipped = 0, set[int]()
    while handled + len(skipped) < limit:
        claimed = lifecycle.due_pool_ids(
            session, now, limit=min(BATCH, limit - handled - len(skipped)), exclude=skipped
        )
        if not claimed:
            break
        try:
            handled += lifecycle.close_due(session, pool_ids=claimed, now=now)
            session.commit()
        except Exception:
            session.rollback()
            if len(claimed) == 1:
                log.exception("closing pool %s failed; the next sweep retries it", claimed[0])
                skipped.add(claimed[0])
            else:
                log.warning("closing pools %s together failed; closing them one by one", claimed)
                handled += sum(_close_one(session, pool_id, now, skipped) for pool_id in claimed)
    session.rollback()  # release the empty claim's transaction
    return handled


def _close_one(session: Session, pool_id: int, now: datetime, skipped: set[int]) -> int:
    try:
        closed = lifecycle.close_due(session, pool_ids=[pool_id], now=now)
        session.commit()
        return closed
    except Exception:
        session.rollback()
        log.exception("closing pool %s failed; the next sweep retries it", pool_id)
        skipped.add(pool_id)
        return 0
