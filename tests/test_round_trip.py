"""app.db.bulk.select_in_one_round_trip: queries sent together, each seeing what the one before waited for."""

from __future__ import annotations

import threading
import time
from datetime import timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Text, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session

from app.audit import AuditEvent
from app.db.bulk import select_in_one_round_trip
from app.pools.models import Pool, PoolStatus
from tests import factories


def test_rows_come_back_as_sqlalchemy_returns_them(session, now):
    pool = factories.open_pool(session, now=now, min_decrement_pct=Decimal("2.5"))
    session.add(AuditEvent(pool_id=pool.id, action="a", subject_type="pool", subject_id=pool.id, created_at=now))
    session.commit()
    terms = select(Pool.id, Pool.closes_at, Pool.min_decrement_pct, Pool.min_vendor_trust).where(Pool.id == pool.id)
    events = (
        select(AuditEvent.action, AuditEvent.after.cast(Text))
        .where(AuditEvent.pool_id == pool.id)
        .order_by(AuditEvent.id)
    )

    got = select_in_one_round_trip(session, (terms, {}), (events, {}))

    assert got == [[tuple(row) for row in session.execute(query)] for query in (terms, events)]
    (_, closes_at, decrement, trust) = got[0][0]
    assert closes_at == pool.closes_at and closes_at.utcoffset() is not None  # aware UTC, as the model's type gives
    assert (decrement, trust) == (Decimal("2.50"), None) and str(decrement) == "2.50"


def test_parameters_go_through_their_columns_types(session, now):
    pool = factories.open_pool(session, now=now, min_decrement_pct=Decimal("2.5"))
    query = select(Pool.id).where(
        Pool.closes_at == bindparam("closes_at", type_=Pool.closes_at.type),
        Pool.min_decrement_pct == bindparam("decrement", type_=Pool.min_decrement_pct.type),
    )
    elsewhere = pool.closes_at.astimezone(timezone(timedelta(hours=-5)))  # the same instant, another zone
    got = select_in_one_round_trip(session, (query, {"closes_at": elsewhere, "decrement": Decimal("2.5")}))
    assert got == [[(pool.id,)]]
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        select_in_one_round_trip(session, (query, {"closes_at": pool.closes_at.replace(tzinfo=None), "decrement": 1}))


def test_constants_written_in_the_query_go_through_their_types_too(session, now):
    """An enum-typed column compared with a constant: the anonymous parameter is processed by its name in the SQL."""
    pool = factories.open_pool(session, now=now)
    query = select(Pool.id, Pool.status).where(Pool.id == pool.id, Pool.status == PoolStatus.OPEN)
    got = select_in_one_round_trip(session, (query, {}))
    assert got == [[(pool.id, PoolStatus.OPEN)]] and type(got[0][0][1]) is PoolStatus


@pytest.mark.postgres
def test_a_query_after_a_lock_sees_what_the_lock_holder_committed(session, engine, now):
    """The second query's snapshot is taken once the first one's lock is granted, not when both were sent."""
    pool = factories.open_pool(session, now=now)
    session.commit()
    lock = select(Pool.id).where(Pool.id == pool.id).with_for_update()
    count = select(func.count(AuditEvent.id)).where(AuditEvent.pool_id == pool.id)
    before = session.scalar(count)
    session.commit()
    seen: list[object] = []
    with Session(engine) as holder, holder.begin():
        holder.execute(lock)  # the lock is held: the batch below must wait for it
        waiter = threading.Thread(target=lambda: seen.append(_locked_count(engine, lock, count)))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive() and seen == []  # waiting on the row lock
        holder.add(AuditEvent(pool_id=pool.id, action="a", subject_type="pool", subject_id=pool.id, created_at=now))
    waiter.join(timeout=10)
    assert seen == [[[(pool.id,)], [(before + 1,)]]]


def _locked_count(engine, lock, count):
    with Session(engine) as other, other.begin():
        other.execute(text("SET LOCAL lock_timeout = '10s'"))  # a broken test fails rather than hangs
        return select_in_one_round_trip(other, (lock, {}), (count, {}))


@pytest.mark.postgres
def test_a_failing_query_raises_sqlalchemys_error_and_the_session_recovers(session, now):
    pool = factories.open_pool(session, now=now)
    session.commit()
    first = select(Pool.id).where(Pool.id == pool.id)
    with pytest.raises(DBAPIError, match="square root"):
        select_in_one_round_trip(session, (first, {}), (select(func.sqrt(-1)), {}))
    session.rollback()
    assert select_in_one_round_trip(session, (first, {})) == [[(pool.id,)]]
