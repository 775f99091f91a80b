"""Closing pools: awards, failures, idempotency and the due-pool sweeper."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.bids import award as awarding
from app.bids import jobs
from app.bids.models import Award, AwardLine, Bid, BidStatus
from app.errors import InvalidTransition
from app.pools import lifecycle
from app.pools.models import Commitment, CommitmentStatus, Pool, PoolStatus
from app.reputation.scores import price_factors
from tests import factories


def test_closing_awards_the_winner_at_one_uniform_price(session, now):
    pool = factories.open_pool(session, now=now, min_quantity=5)
    rich = factories.commitment(session, pool=pool, now=now, quantity=4, max_unit_price="12.00")
    frugal = factories.commitment(session, pool=pool, now=now, quantity=3, max_unit_price="9.00")
    factories.bid(session, pool=pool, now=now, curve=((1, "11.00"), (7, "10.00")))
    winner = factories.bid(session, pool=pool, now=now, curve=((1, "10.00"), (6, "8.505")))
    awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    award = session.scalar(select(Award))
    assert (award.bid_id, award.unit_price, award.served_quantity) == (winner.id, Decimal("8.5050"), 7)
    # 4 × 8.505 = 34.02; 3 × 8.505 = 25.515 → 25.52 (half-even on the minor unit)
    lines = {line.commitment_id: line.amount_minor for line in session.scalars(select(AwardLine))}
    assert lines == {rich.id: 3402, frugal.id: 2552}
    assert award.total_minor == 3402 + 2552
    assert session.get(Pool, pool.id).status == PoolStatus.AWARDED
    assert session.scalar(select(Bid.status).where(Bid.id == winner.id)) == BidStatus.WON


def test_a_member_whose_maximum_is_below_the_price_is_not_served(session, now):
    pool = factories.open_pool(session, now=now, min_quantity=2)
    served = factories.commitment(session, pool=pool, now=now, quantity=5, max_unit_price="10")
    left_out = factories.commitment(session, pool=pool, now=now, quantity=5, max_unit_price="4")
    factories.bid(session, pool=pool, now=now, curve=((1, "6"),))
    awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    statuses = dict(session.execute(select(Commitment.id, Commitment.status)).all())
    assert statuses == {served.id: CommitmentStatus.SERVED, left_out.id: CommitmentStatus.UNSERVED}


def test_a_pool_that_did_not_tip_fails_and_says_why(session, now):
    pool = factories.open_pool(session, now=now, min_quantity=50)
    factories.commitment(session, pool=pool, now=now, quantity=5)
    factories.bid(session, pool=pool, now=now)
    awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    closed = session.get(Pool, pool.id)
    assert closed.status == PoolStatus.FAILED and "Only 5 of the 50" in closed.outcome_note
    assert session.scalar(select(func.count(Award.id))) == 0


def test_a_pool_without_a_feasible_bid_fails(session, now):
    pool = factories.open_pool(session, now=now, min_quantity=5)
    factories.commitment(session, pool=pool, now=now, quantity=10, max_unit_price="3")
    factories.bid(session, pool=pool, now=now, curve=((1, "5"),))
    awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    assert session.get(Pool, pool.id).outcome_note == "No bid could serve the members at a price they accepted."


def test_closing_twice_changes_nothing_the_second_time(session, now):
    pool = factories.open_pool(session, now=now, min_quantity=1)
    factories.commitment(session, pool=pool, now=now, quantity=2)
    factories.bid(session, pool=pool, now=now)
    for _ in range(2):
        awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
        session.commit()
    assert session.scalar(select(func.count(Award.id))) == 1
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "pool.close")) == 1


def test_a_cancelled_pool_cannot_be_closed(session, now):
    pool = factories.open_pool(session, now=now)
    lifecycle.cancel_pool(session, pool_id=pool.id, actor=pool.organiser, now=now)
    with pytest.raises(InvalidTransition):
        awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)


def test_an_awarded_pool_cannot_be_cancelled(session, now):
    pool = factories.open_pool(session, now=now, min_quantity=1)
    factories.commitment(session, pool=pool, now=now)
    factories.bid(session, pool=pool, now=now)
    awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    with pytest.raises(InvalidTransition):
        lifecycle.cancel_pool(session, pool_id=pool.id, actor=pool.organiser, now=now)


def test_the_scheduler_does_not_close_a_pool_before_its_deadline(session, now):
    pool = factories.open_pool(session, now=now)
    with pytest.raises(InvalidTransition):
        awarding.close_pool(session, pool_id=pool.id, actor=None, now=now, price_factors=price_factors)


def test_the_sweeper_closes_exactly_the_due_pools(session, now):
    due = [factories.open_pool(session, now=now, closes_at=now + timedelta(hours=1)) for _ in range(3)]
    later = factories.open_pool(session, now=now, closes_at=now + timedelta(days=3))
    handled = jobs.close_due_pools(session, now=now + timedelta(hours=2), price_factors=price_factors)
    assert handled == 3
    statuses = dict(session.execute(select(Pool.id, Pool.status)).all())
    assert {statuses[p.id] for p in due} == {PoolStatus.FAILED} and statuses[later.id] == PoolStatus.OPEN
    assert jobs.close_due_pools(session, now=now + timedelta(hours=2), price_factors=price_factors) == 0


def test_the_sweeper_closes_due_pools_in_batches_and_skips_only_a_pool_that_fails(session, now, caplog):
    due = [factories.open_pool(session, now=now, min_quantity=1, closes_at=now + timedelta(hours=1)) for _ in range(5)]
    for pool in due:
        factories.commitment(session, pool=pool, now=now)
        factories.bid(session, pool=pool, now=now)
    broken = session.scalar(select(Bid).where(Bid.pool_id == due[2].id))
    broken.tiers = [{"min_quantity": "many", "unit_price": "1"}]  # corrupt data: clearing this pool raises
    session.commit()

    assert jobs.close_due_pools(session, now=now + timedelta(hours=2), price_factors=price_factors) == 4

    statuses = dict(session.execute(select(Pool.id, Pool.status)).all())
    assert [statuses[p.id] for p in due] == [PoolStatus.AWARDED] * 2 + [PoolStatus.OPEN] + [PoolStatus.AWARDED] * 2
    assert f"closing pool {due[2].id} failed" in caplog.text
    awards = session.scalars(select(Award.pool_id)).all()
    assert sorted(awards) == sorted(p.id for p in due if p is not due[2])  # one award each, none twice
    trail = session.scalars(select(AuditEvent.pool_id).where(AuditEvent.action == "pool.close")).all()
    assert sorted(trail) == sorted(awards)


def test_the_award_fingerprint_is_stable_for_the_same_inputs(session, now):
    from app.bids.rules import Demand, fingerprint

    pool = factories.open_pool(session, now=now, min_quantity=1)
    made = factories.commitment(session, pool=pool, now=now, quantity=2, max_unit_price="150")
    placed = factories.bid(session, pool=pool, now=now)
    awarding.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    from app.bids.service import offer_of

    demand = Demand(made.id, made.member_id, 2, Decimal("150"), (made.joined_at, made.id))
    assert session.scalar(select(Award.fingerprint)) == fingerprint([demand], [offer_of(placed)], 1, pool.award_mode)
