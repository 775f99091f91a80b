"""The closing sweeper: finds open pools past their deadline and closes them (`app.bids.award`).

It takes a session, `now` and the price-factor lookup, commits after every batch of pools (so one
pool's failure or a crash loses nothing already done) and returns how many pools it closed.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from app import audit, unit_of_work
from app.bids import award
from app.bids.award import PriceFactors
from app.pools.lifecycle import due_pool_ids
from app.pools.models import Pool

log = logging.getLogger(__name__)


BATCH = 20  # due pools claimed and closed per transaction
CLOSE_ATTEMPTS = 3  # sweeps that may fail to close a pool before it is left for a person to look at


def close_due_pools(session: Session, *, now: datetime, price_factors: PriceFactors, limit: int = 500) -> int:
    """Close every open pool whose deadline has passed; safe to run in several processes at once.

    Pools are claimed and closed in batches, one transaction each. When a batch fails, its pools
    are retried one by one, so one bad pool is logged and skipped without holding back the rest.
    """
    handled, skipped = 0, set[int]()
    while handled + len(skipped) < limit:
        claimed = due_pool_ids(session, now, limit=min(BATCH, limit - handled - len(skipped)), exclude=skipped)
        if not claimed:
            break
        try:
            handled += award.close_due(session, pool_ids=claimed, now=now, price_factors=price_factors)
            unit_of_work.commit(session)
        except Exception:
            session.rollback()
            if len(claimed) == 1:
                _failed_to_close(session, claimed[0], now, skipped)
            else:
                log.warning("closing pools %s together failed; closing them one by one", claimed)
                handled += sum(_close_one(session, pool_id, now, skipped, price_factors) for pool_id in claimed)
    session.rollback()  # release the empty claim's transaction
    return handled


def _close_one(session: Session, pool_id: int, now: datetime, skipped: set[int], price_factors: PriceFactors) -> int:
    try:
        closed = award.close_due(session, pool_ids=[pool_id], now=now, price_factors=price_factors)
        unit_of_work.commit(session)
        return closed
    except Exception:
        session.rollback()
        _failed_to_close(session, pool_id, now, skipped)
        return 0


def _failed_to_close(session: Session, pool_id: int, now: datetime, skipped: set[int]) -> None:
    """Count a failed close (the exception being handled); at CLOSE_ATTEMPTS, stop and say why.

    A pool that fails every time (bad data, a bug) would otherwise be retried every 15 s forever; it
    is marked as needing attention instead, with the error, which the organiser's pages and
    `flask pools attention` show, until an operator runs `flask pools retry ID`.
    """
    skipped.add(pool_id)
    error = sys.exc_info()[1]
    note = f"The scheduler could not close this pool: {type(error).__name__}: {error}"[:500]
    failures = session.scalar(
        update(Pool)
        .where(Pool.id == pool_id)
        .values(close_failures=Pool.close_failures + 1)
        .returning(Pool.close_failures)
    )
    if failures is not None and failures >= CLOSE_ATTEMPTS:
        session.execute(update(Pool).where(Pool.id == pool_id).values(attention_note=note))
        pool = session.get_one(Pool, pool_id)
        audit.record(session, action="pool.needs_attention", subject=pool, actor_id=None, now=now, pool_id=pool_id,
                     after={"note": note})  # fmt: skip
        log.error("closing pool %s failed %s times; it needs attention: %s", pool_id, failures, note)
    else:
        log.exception("closing pool %s failed (%s so far); the next sweep retries it", pool_id, failures)
    unit_of_work.commit(session)
