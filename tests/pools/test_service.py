"""Pool and commitment services on the database: invariants the API and web rely on."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bids.service import has_active_bid
from app.errors import PoolNotOpen, ValidationFailed
from app.pools import commitments, lifecycle, service
from app.pools.curves import Point
from app.pools.models import Commitment, CommitmentStatus, Pool
from tests import factories


def active_sum(session, pool_id):
    return session.scalar(
        select(func.coalesce(func.sum(Commitment.quantity), 0)).where(
            Commitment.pool_id == pool_id, Commitment.status == CommitmentStatus.ACTIVE
        )
    )


def test_denormalised_demand_equals_the_sum_of_active_commitments(session, now):
    pool = factories.open_pool(session, now=now)
    members = [factories.user(session, now=now) for _ in range(4)]
    for quantity, member in enumerate(members, start=1):
        commitments.commit(
            session,
            bids_on_pool=has_active_bid,
            pool_id=pool.id,
            member=member,
            points=(Point(quantity, Decimal(9)),),
            now=now,
        )
    commitments.commit(
        session,
        bids_on_pool=has_active_bid,
        pool_id=pool.id,
        member=members[0],
        points=(Point(7, Decimal(9)),),
        now=now,
    )
    commitments.withdraw(session, pool_id=pool.id, member=members[1], now=now)
    session.commit()
    session.refresh(pool)
    assert pool.committed_quantity == active_sum(session, pool.id) == 7 + 3 + 4
    assert pool.member_count == 3


def test_a_rejoining_member_goes_to_the_back_of_the_queue(session, now):
    pool = factories.open_pool(session, now=now)
    first, second = factories.user(session, now=now), factories.user(session, now=now)
    commitments.commit(
        session,
        bids_on_pool=has_active_bid,
        pool_id=pool.id,
        member=first,
        points=(Point(1, Decimal(5)),),
        now=now,
    )
    commitments.commit(
        session,
        bids_on_pool=has_active_bid,
        pool_id=pool.id,
        member=second,
        points=(Point(1, Decimal(5)),),
        now=now + timedelta(minutes=1),
    )
    commitments.withdraw(session, pool_id=pool.id, member=first, now=now + timedelta(minutes=2))
    first_row = commitments.find_commitment(session, pool_id=pool.id, member_id=first.id)
    again, joined = commitments.commit(
        session,
        bids_on_pool=has_active_bid,
        pool_id=pool.id,
        member=first,
        points=(Point(2, Decimal(5)),),
        now=now + timedelta(minutes=3),
    )
    assert joined and again.id == first_row.id  # one row per member per pool, reused
    assert again.joined_at == now + timedelta(minutes=3)
    assert session.scalar(select(func.count(Commitment.id))) == 2


def test_a_pool_past_its_deadline_takes_no_commitments(session, now):
    pool = factories.open_pool(session, now=now)
    with pytest.raises(PoolNotOpen):
        commitments.commit(
            session,
            bids_on_pool=has_active_bid,
            pool_id=pool.id,
            member=factories.user(session, now=now),
            points=(Point(1, Decimal(5)),),
            now=pool.closes_at + timedelta(seconds=1),
        )


def test_publishing_needs_a_closing_time_still_in_the_future(session, now):
    pool = factories.draft_pool(session, now=now, closes_at=now + timedelta(hours=1))
    with pytest.raises(ValidationFailed) as refused:
        lifecycle.publish_pool(session, pool_id=pool.id, actor=pool.organiser, now=now + timedelta(hours=2))
    assert "closes_at" in refused.value.errors


def test_prices_round_trip_exactly(session, now):
    pool = factories.open_pool(session, now=now)
    made = factories.commitment(session, pool=pool, now=now, max_unit_price="0.0001")
    session.expire_all()
    assert session.get(Commitment, made.id).max_unit_price == Decimal("0.0001")


def test_closing_soon_lists_open_pools_by_deadline(session, now):
    later = factories.open_pool(session, now=now, closes_at=now + timedelta(hours=30))
    sooner = factories.open_pool(session, now=now, closes_at=now + timedelta(hours=3))
    factories.open_pool(session, now=now, closes_at=now + timedelta(days=5))
    found = service.search_pools(session, now=now, closing_soon=True)
    assert [p.id for p in found.items] == [sooner.id, later.id]


def test_models_know_their_visibility(session, now):
    pool = factories.draft_pool(session, now=now)
    stranger = factories.user(session, now=now)
    assert pool.is_visible_to(pool.organiser) and not pool.is_visible_to(stranger)
    assert isinstance(session.get(Pool, pool.id), Pool)
