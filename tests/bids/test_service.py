"""Auction rules on the database: revisions, leads, decrements, soft close, who may bid."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.bids import service
from app.bids.models import Bid, BidStatus
from app.errors import Forbidden, NotFound, PoolNotOpen, ValidationFailed
from app.reputation.scores import trust_of
from tests import factories
from tests.factories import tiers


@pytest.fixture
def pool(session, now):
    opened = factories.open_pool(session, now=now, min_quantity=10, min_decrement_pct=Decimal("2.00"))
    factories.commitment(session, pool=opened, now=now, quantity=40, max_unit_price="10")
    return opened


def place(session, pool, vendor, curve, now, capacity=1000):
    placed = service.place(
        session, trust_of=trust_of, pool_id=pool.id, vendor=vendor, tiers=tiers(*curve), capacity=capacity, now=now
    ).bid
    session.commit()
    return session.get_one(Bid, placed.id)


def test_a_revision_must_beat_the_vendors_previous_price(session, pool, now):
    vendor = factories.vendor(session, now=now)
    place(session, pool, vendor, [(1, "3.20")], now)
    with pytest.raises(service.BidDoesNotImprove) as refused:
        place(session, pool, vendor, [(1, "3.25")], now)
    assert "3.2000" in refused.value.message


def test_a_revision_replaces_the_previous_bid_and_keeps_history(session, pool, now):
    vendor = factories.vendor(session, now=now)
    first = place(session, pool, vendor, [(1, "3.20")], now)
    second = place(session, pool, vendor, [(1, "3.10")], now)
    statuses = dict(session.execute(select(Bid.id, Bid.status)).all())
    assert statuses == {first.id: BidStatus.REPLACED, second.id: BidStatus.ACTIVE}
    assert second.replaces_id == first.id


def test_taking_the_lead_needs_the_minimum_decrement(session, pool, now):
    place(session, pool, factories.vendor(session, now=now), [(1, "5.00")], now)
    challenger = factories.vendor(session, now=now)
    with pytest.raises(service.InsufficientDecrement) as refused:
        place(session, pool, challenger, [(1, "4.95")], now)
    assert "4.9000" in refused.value.message
    assert place(session, pool, challenger, [(1, "4.90")], now).took_lead


def test_a_bid_that_does_not_lead_needs_no_decrement(session, pool, now):
    place(session, pool, factories.vendor(session, now=now), [(1, "5.00")], now)
    trailing = place(session, pool, factories.vendor(session, now=now), [(1, "6.00")], now)
    assert not trailing.took_lead


def test_sealed_auctions_do_not_refuse_close_bids(session, now):
    sealed = factories.open_pool(session, now=now, auction_kind="sealed", min_decrement_pct=Decimal("5"))
    factories.commitment(session, pool=sealed, now=now, quantity=20)
    place(session, sealed, factories.vendor(session, now=now), [(1, "5.00")], now)
    assert place(session, sealed, factories.vendor(session, now=now), [(1, "4.99")], now).took_lead


def test_a_late_lead_extends_the_close_at_most_max_extensions_times(session, now):
    pool = factories.open_pool(
        session, now=now, soft_close_minutes=10, max_extensions=2, min_decrement_pct=Decimal("0")
    )
    factories.commitment(session, pool=pool, now=now, quantity=5)
    first_close = pool.closes_at
    a, b = factories.vendor(session, now=now), factories.vendor(session, now=now)
    prices = iter(["9", "8", "7", "6", "5"])
    for vendor in [a, b, a, b, a]:  # each takes the lead 5 minutes before the (moving) close
        session.refresh(pool)
        place(session, pool, vendor, [(1, next(prices))], pool.closes_at - timedelta(minutes=5))
    session.refresh(pool)
    assert pool.extensions_used == 2
    assert pool.closes_at == first_close + timedelta(minutes=20)
    assert session.scalar(select(func.count(Bid.id)).where(Bid.extended_close)) == 2


def test_an_early_lead_does_not_extend(session, pool, now):
    before = pool.closes_at
    place(session, pool, factories.vendor(session, now=now), [(1, "5")], now)
    session.refresh(pool)
    assert (pool.closes_at, pool.extensions_used) == (before, 0)


def test_only_vendors_bid(session, pool, now):
    with pytest.raises(Forbidden):
        place(session, pool, factories.user(session, now=now), [(1, "5")], now)


def test_the_organiser_cannot_bid_on_their_pool(session, now):
    organiser = factories.vendor(session, now=now)
    pool = factories.open_pool(session, now=now, organiser=organiser)
    with pytest.raises(Forbidden):
        place(session, pool, organiser, [(1, "5")], now)


def test_a_member_cannot_bid_on_their_pool(session, pool, now):
    member = factories.vendor(session, now=now)
    factories.commitment(session, pool=pool, now=now, member=member)
    with pytest.raises(Forbidden):
        place(session, pool, member, [(1, "5")], now)


def test_a_draft_is_not_found_by_bidders(session, now):
    draft = factories.draft_pool(session, now=now)
    with pytest.raises(NotFound):
        place(session, draft, factories.vendor(session, now=now), [(1, "5")], now)


def test_bad_tiers_are_refused_with_field_errors(session, pool, now):
    with pytest.raises(ValidationFailed) as refused:
        place(session, pool, factories.vendor(session, now=now), [(10, "5"), (5, "4")], now)
    assert "tiers" in refused.value.errors
    assert session.scalar(select(func.count(Bid.id))) == 0


def test_capacity_below_the_first_tier_is_refused(session, pool, now):
    with pytest.raises(ValidationFailed) as refused:
        place(session, pool, factories.vendor(session, now=now), [(50, "5")], now, capacity=10)
    assert "capacity" in refused.value.errors


def test_withdrawing_makes_room_for_the_next_leader(session, pool, now):
    leader_vendor = factories.vendor(session, now=now)
    leading = place(session, pool, leader_vendor, [(1, "4")], now)
    place(session, pool, factories.vendor(session, now=now), [(1, "5")], now)
    service.withdraw_bid(session, pool_id=pool.id, bid_id=leading.id, vendor=leader_vendor, now=now)
    session.commit()
    assert service.best_unit_price(session, pool) == Decimal("5")


def test_ranks_follow_the_price_at_current_demand(session, pool, now):
    # At 40 units the tiered bid is cheaper although its first tier is dearer.
    tiered = place(session, pool, factories.vendor(session, now=now), [(1, "6"), (30, "3")], now)
    flat = place(session, pool, factories.vendor(session, now=now), [(1, "4")], now)
    assert service.ranks(pool, [tiered, flat]) == {tiered.id: 1, flat.id: 2}


def test_vendors_see_only_their_own_bids(session, pool, now):
    mine, theirs = factories.vendor(session, now=now), factories.vendor(session, now=now)
    place(session, pool, mine, [(1, "5")], now)
    place(session, pool, theirs, [(1, "4")], now)
    views = service.bids_visible_to(session, pool, mine)
    assert {v.bid.vendor_id for v in views} == {mine.id}
    assert views[0].rank == 2


def test_sealed_auctions_hide_ranks_and_bids_from_everyone_until_the_close(session, now):
    sealed = factories.open_pool(session, now=now, auction_kind="sealed")
    factories.commitment(session, pool=sealed, now=now, quantity=20)
    vendor = factories.vendor(session, now=now)
    place(session, sealed, vendor, [(1, "5")], now)
    place(session, sealed, factories.vendor(session, now=now), [(1, "4")], now)
    assert [v.rank for v in service.bids_visible_to(session, sealed, vendor)] == [None]
    assert service.bids_visible_to(session, sealed, sealed.organiser) == []
    assert service.best_unit_price(session, sealed) is None


def test_each_bid_writes_one_audit_event_naming_the_bid_it_replaces(session, pool, now):
    vendor = factories.vendor(session, now=now)
    first = place(session, pool, vendor, [(1, "3.20")], now)
    second = place(session, pool, vendor, [(1, "3.10")], now)
    events = session.execute(
        select(AuditEvent.subject_id, AuditEvent.actor_id, AuditEvent.before, AuditEvent.after)
        .where(AuditEvent.action == "bid.place")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.subject_id, e.actor_id, e.before) for e in events] == [
        (first.id, vendor.id, None),
        (second.id, vendor.id, {"bid_id": first.id}),
    ]
    # Undercutting yourself while leading does not take the lead: it was already yours.
    assert events[1].after == {
        "tiers": [{"min_quantity": 1, "unit_price": "3.1000"}],
        "capacity": 1000,
        "took_lead": False,
    }


def test_a_revision_changes_only_the_status_of_the_bid_it_replaces(session, pool, now):
    vendor = factories.vendor(session, now=now)
    first = place(session, pool, vendor, [(1, "3.20"), (30, "3.00")], now)
    place(session, pool, vendor, [(1, "2.90")], now + timedelta(seconds=1))
    session.expire_all()
    stored = session.get(Bid, first.id)
    assert (stored.status, stored.tier_list, stored.capacity, stored.created_at, stored.took_lead) == (
        BidStatus.REPLACED,
        first.tier_list,
        1000,
        now,
        True,
    )
    assert first.status == BidStatus.REPLACED  # the caller's copy follows


def test_a_rejected_bid_writes_nothing(session, pool, now):
    vendor = factories.vendor(session, now=now)
    place(session, pool, vendor, [(1, "3.20")], now)
    with pytest.raises(service.BidDoesNotImprove):
        place(session, pool, vendor, [(1, "3.30")], now)
    session.rollback()
    assert session.scalar(select(func.count(Bid.id))) == 1
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "bid.place")) == 1


def test_a_vendor_below_the_pools_minimum_trust_is_refused(session, now):
    pool = factories.open_pool(session, now=now, min_vendor_trust=Decimal("0.500"))
    with pytest.raises(Forbidden) as refused:
        place(session, pool, factories.vendor(session, now=now), [(1, "5")], now)
    assert "trust score of at least 0.500" in refused.value.message


def test_bidding_after_the_close_is_refused(session, pool, now):
    with pytest.raises(PoolNotOpen):
        place(session, pool, factories.vendor(session, now=now), [(1, "5")], pool.closes_at)
