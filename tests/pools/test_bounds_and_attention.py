"""What one member may commit is bounded, and a pool that cannot close is shown to people, not retried forever."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.audit import AuditEvent
from app.bids import jobs
from app.bids.service import has_active_bid
from app.errors import ValidationFailed
from app.pools import commitments, rules, service
from app.pools.curves import Point
from app.pools.models import Commitment, Pool, PoolStatus
from app.reputation.scores import price_factors
from tests import factories
from tests.web_helpers import log_in


@pytest.mark.parametrize(("tipping_point", "cap"), [(1, 1), (2, 1), (3, 2), (10, 5), (1001, 501)])
def test_by_default_one_member_may_commit_half_the_tipping_point(tipping_point, cap):
    assert rules.default_max_per_member(tipping_point) == cap


def test_a_new_pool_caps_each_member_unless_the_organiser_says_otherwise(session, now):
    organiser = factories.user(session, now=now)
    values = factories.pool_values(now=now, min_quantity=40) | {"max_per_member": None}
    pool = service.create_pool(session, organiser=organiser, values=values, now=now)
    assert pool.max_per_member == 20
    chosen = service.create_pool(session, organiser=organiser, values=values | {"max_per_member": 35}, now=now)
    assert chosen.max_per_member == 35


def test_one_member_cannot_take_over_a_pool_without_a_maximum(client, session, now):
    pool = factories.open_pool(session, now=now, min_quantity=10, max_per_member=None)
    auth = factories.token(session, factories.user(session, now=now), now=now)
    body = {"quantity": 1_000_000, "max_unit_price": "9999"}
    response = client.put(f"/api/v1/pools/{pool.id}/commitment", json=body, headers=auth)
    assert response.status_code == 422 and "at most 5" in response.get_json()["errors"]["quantity"][0]
    assert session.get(Pool, pool.id).committed_quantity == 0


def test_a_line_too_large_for_its_column_is_refused(session, now):
    pool = factories.open_pool(session, now=now, max_per_member=10_000_000)
    member = factories.user(session, now=now)
    with pytest.raises(ValidationFailed) as refused:
        commitments.commit(
            session,
            bids_on_pool=has_active_bid,
            pool_id=pool.id,
            member=member,
            points=(Point(10_000_000, Decimal("9999999999")),),
            now=now,
        )
    assert "at most 10,000,000,000" in refused.value.errors["quantity"][0]


def test_the_per_member_cap_cannot_exceed_the_pools_maximum(client, session, now):
    auth = factories.token(session, factories.user(session, now=now), now=now)
    body = {"title": "Bikes", "category": "bikes", "unit": "bike", "currency": "GBP", "min_quantity": 10,
            "max_quantity": 20, "max_per_member": 30, "closes_at": (now + timedelta(days=3)).isoformat()}  # fmt: skip
    response = client.post("/api/v1/pools", json=body, headers=auth)
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["max_per_member"]


@pytest.fixture
def unclosable(session, now):
    """A due pool whose data (written before the bounds existed) overflows its amount columns."""
    pool = factories.open_pool(session, now=now, min_quantity=1)
    commitment = factories.commitment(session, pool=pool, now=now, quantity=1, max_unit_price="10")
    factories.bid(session, pool=pool, now=now, curve=((1, "9999999999"),), capacity=10_000_000)
    row = session.get(Commitment, commitment.id)
    row.quantity, row.max_unit_price = 10_000_000, Decimal("9999999999")
    session.get(Pool, pool.id).committed_quantity = 10_000_000
    session.get(Pool, pool.id).closes_at = now - timedelta(minutes=1)
    session.commit()
    return pool


def test_a_pool_that_cannot_close_needs_attention_after_three_sweeps(session, unclosable, now):
    for _ in range(jobs.CLOSE_ATTEMPTS + 2):
        assert jobs.close_due_pools(session, now=now, price_factors=price_factors) == 0
    session.expire_all()
    pool = session.get(Pool, unclosable.id)
    assert pool.status == PoolStatus.OPEN and pool.close_failures == jobs.CLOSE_ATTEMPTS
    assert pool.attention_note.startswith("The scheduler could not close this pool")
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.pool_id == pool.id)).all()
    assert actions.count("pool.needs_attention") == 1
    assert [p.id for p in service.pools_needing_attention(session)] == [pool.id]


def test_other_pools_still_close_beside_one_that_cannot(session, unclosable, now):
    fine = factories.open_pool(session, now=now, min_quantity=1)
    factories.commitment(session, pool=fine, now=now, quantity=1, max_unit_price="10")
    session.get(Pool, fine.id).closes_at = now - timedelta(minutes=1)
    session.commit()
    assert jobs.close_due_pools(session, now=now, price_factors=price_factors) == 1
    session.expire_all()
    assert session.get(Pool, fine.id).status != PoolStatus.OPEN


def test_the_organiser_sees_it_and_an_operator_can_hand_it_back(client, session, unclosable, now):
    for _ in range(jobs.CLOSE_ATTEMPTS):
        jobs.close_due_pools(session, now=now, price_factors=price_factors)
    log_in(client, unclosable.organiser.email)
    assert "This pool needs attention" in client.get(f"/pools/{unclosable.id}").get_data(as_text=True)
    service.retry_closing(session, pool_id=unclosable.id, now=now)
    session.commit()
    session.expire_all()
    pool = session.get(Pool, unclosable.id)
    assert (pool.attention_note, pool.close_failures) == (None, 0)
