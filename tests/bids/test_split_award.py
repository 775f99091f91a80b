"""A split award end to end: two winners at one price, each paid for its own members' lines."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from app.bids import award
from app.bids.models import Award, AwardLine, Bid, BidStatus
from app.notifications.models import Notification
from app.payments import jobs
from app.payments.models import Payment, Payout
from app.payments.offline import OfflineGateway
from app.payments.rules import EscrowTerms, fee_minor
from app.pools.models import AwardMode, PoolStatus
from app.reputation.scores import price_factors
from app.reputation.service import rateable
from tests import factories


def two_short_vendors(session, now, mode=AwardMode.SPLIT):
    """Five members of one unit each; the cheap vendor can supply 3 and the runner-up 3."""
    pool = factories.open_pool(session, now=now, min_quantity=5, award_mode=mode)
    members = [factories.user(session, now=now) for _ in range(5)]
    for member in members:
        factories.commitment(session, pool=pool, now=now, member=member, quantity=1, max_unit_price="10.00")
    cheap = factories.bid(session, pool=pool, now=now, curve=((1, "8.00"),), capacity=3)
    runner_up = factories.bid(session, pool=pool, now=now, curve=((1, "9.00"),), capacity=3)
    return pool, members, cheap, runner_up


def test_two_vendors_short_of_capacity_share_the_pool_at_one_price(session, now):
    pool, members, cheap, runner_up = two_short_vendors(session, now)
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()

    made = session.scalars(select(Award)).one()
    assert (pool.status, made.unit_price, made.served_quantity) == (PoolStatus.AWARDED, Decimal("9.00"), 5)
    assert (made.bid_id, made.vendor_id, made.total_minor) == (cheap.id, cheap.vendor_id, 4500)
    lines = session.scalars(select(AwardLine).order_by(AwardLine.id)).all()
    assert [(line.member_id, line.vendor_id, line.amount_minor) for line in lines] == [
        *[(m.id, cheap.vendor_id, 900) for m in members[:3]],
        *[(m.id, runner_up.vendor_id, 900) for m in members[3:]],
    ]
    assert {bid.status for bid in session.scalars(select(Bid))} == {BidStatus.WON}
    told = session.scalars(select(Notification.message).where(Notification.user_id == members[0].id)).all()
    assert any("shared by 2 vendors" in message for message in told)


def test_the_single_rule_on_the_same_pool_fails_it(session, now):
    pool, _members, _cheap, _runner_up = two_short_vendors(session, now, AwardMode.SINGLE)
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    assert pool.status == PoolStatus.FAILED and session.scalar(select(Award)) is None


def test_each_winner_is_charged_for_paid_and_rated_by_its_own_members(session, now):
    pool, members, cheap, runner_up = two_short_vendors(session, now)
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    payments = session.scalars(select(Payment).order_by(Payment.id)).all()
    assert [p.vendor_id for p in payments] == [cheap.vendor_id] * 3 + [runner_up.vendor_id] * 2

    later = now + EscrowTerms().window + timedelta(days=1)
    jobs.release_due_escrow(session, OfflineGateway(), now=later)
    jobs.pay_out_pending(session, OfflineGateway(), now=later)
    payouts = {p.vendor_id: p for p in session.scalars(select(Payout))}
    fee = EscrowTerms().fee_bps
    assert payouts[cheap.vendor_id].gross_minor == 2700 and payouts[runner_up.vendor_id].gross_minor == 1800
    assert payouts[cheap.vendor_id].fee_minor == fee_minor(2700, fee)

    session.refresh(pool)
    served_by_runner_up = members[4]
    ratees = {party.ratee_id for party in rateable(session, pool, served_by_runner_up)}
    assert runner_up.vendor_id in ratees and cheap.vendor_id not in ratees
    vendor = session.get(type(served_by_runner_up), runner_up.vendor_id)
    assert {party.ratee_id for party in rateable(session, pool, vendor)} == {m.id for m in members[3:]}


def test_the_api_names_every_winner_and_each_viewer_sees_its_lines(client, session, now):
    pool, members, cheap, runner_up = two_short_vendors(session, now)
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()

    organiser = client.get(f"/api/v1/pools/{pool.id}/award", headers=factories.token(session, pool.organiser, now=now))
    body = organiser.get_json()
    assert body["unit_price"] == "9.0000" and body["served_quantity"] == 5 and body["bid_id"] == cheap.id
    assert body["winners"] == [
        {"bid_id": cheap.id, "vendor_id": cheap.vendor_id, "quantity": 3, "total": 2700},
        {"bid_id": runner_up.id, "vendor_id": runner_up.vendor_id, "quantity": 2, "total": 1800},
    ]
    assert [line["vendor_id"] for line in body["served"]] == [cheap.vendor_id] * 3 + [runner_up.vendor_id] * 2

    vendor = session.get(type(pool.organiser), runner_up.vendor_id)
    seen = client.get(f"/api/v1/pools/{pool.id}/award", headers=factories.token(session, vendor, now=now)).get_json()
    assert [line["user_id"] for line in seen["served"]] == [m.id for m in members[3:]]
    member = client.get(f"/api/v1/pools/{pool.id}/award", headers=factories.token(session, members[0], now=now))
    assert [line["user_id"] for line in member.get_json()["served"]] == [members[0].id]


def test_the_pool_page_names_each_winner(client, session, now):
    pool, _members, cheap, runner_up = two_short_vendors(session, now)
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "one or more vendors</strong> at one price" in page  # members learn the rule before joining
    assert "Shared by 2 vendors at one price" in page
    for bid in (cheap, runner_up):
        assert bid.vendor.vendor_profile.legal_name in page


def test_award_mode_is_chosen_at_creation_and_fixed_once_open(client, session, now):
    organiser = factories.user(session, now=now)
    headers = factories.token(session, organiser, now=now)
    made = client.post("/api/v1/pools", json=factories.pool_body(now, award_mode="single"), headers=headers)
    assert made.status_code == 201 and made.get_json()["award_mode"] == "single"
    default = client.post("/api/v1/pools", json=factories.pool_body(now), headers=headers).get_json()
    assert default["award_mode"] == "split"
    wrong = client.post("/api/v1/pools", json=factories.pool_body(now, award_mode="both"), headers=headers)
    assert wrong.status_code == 422 and "award_mode" in wrong.get_json()["errors"]
    pool_id = made.get_json()["id"]
    assert client.post(f"/api/v1/pools/{pool_id}/publish", headers=headers).status_code == 200
    changed = client.patch(f"/api/v1/pools/{pool_id}", json={"award_mode": "split"}, headers=headers)
    assert changed.status_code == 409
    assert client.get(f"/api/v1/pools/{pool_id}", headers=headers).get_json()["award_mode"] == "single"
