"""Bids, close and award over the JSON API, including bad input and what each caller may see."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.bids.models import Bid
from app.notifications.models import Notification
from app.pools.models import Commitment, Pool
from tests import factories


@pytest.fixture
def pool(session, now):
    opened = factories.open_pool(session, now=now, min_quantity=5)
    factories.commitment(session, pool=opened, now=now, quantity=10, max_unit_price="20")
    return opened


@pytest.fixture
def vendor_auth(session, now):
    vendor = factories.vendor(session, now=now)
    return vendor, factories.token(session, vendor, now=now)


def bid_body(*pairs, capacity=100):
    return {"tiers": [{"min_quantity": q, "unit_price": p} for q, p in pairs], "capacity": capacity}


def test_a_vendor_bids_and_sees_its_rank(client, pool, vendor_auth):
    _, auth = vendor_auth
    created = client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body((1, "12.50"), (10, "11")), headers=auth)
    assert created.status_code == 201
    assert created.get_json()["tiers"] == [
        {"min_quantity": 1, "unit_price": "12.5000"},
        {"min_quantity": 10, "unit_price": "11.0000"},
    ]
    listed = client.get(f"/api/v1/pools/{pool.id}/bids", headers=auth).get_json()
    assert [(b["rank"], b["price_now"]) for b in listed] == [(1, "11.0000")]
    assert client.get(f"/api/v1/pools/{pool.id}").get_json()["best_unit_price"] == "11.0000"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tiers": [], "capacity": 10}, "tiers"),
        ({"capacity": 10}, "tiers"),
        (bid_body((10, "5"), (5, "4")), "tiers"),
        (bid_body((1, "5"), (10, "6")), "tiers"),
        (bid_body((1, "0")), "tiers.0.unit_price"),
        (bid_body((1, "-2")), "tiers.0.unit_price"),
        (bid_body((1, "1.00001")), "tiers.0.unit_price"),
        (bid_body((0, "1")), "tiers.0.min_quantity"),
        (bid_body(*[(n, str(100 - n)) for n in range(1, 22)]), "tiers"),
        (bid_body((50, "5"), capacity=10), "capacity"),
        ({"tiers": "cheap", "capacity": 10}, "tiers"),
        (bid_body((1, "5"), capacity=0), "capacity"),
    ],
)
def test_malformed_bids_are_422_and_store_nothing(client, session, pool, vendor_auth, body, field):
    response = client.post(f"/api/v1/pools/{pool.id}/bids", json=body, headers=vendor_auth[1])
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]
    assert session.scalar(select(func.count(Bid.id))) == 0


def test_a_non_vendor_gets_403(client, session, pool, now):
    member = factories.token(session, factories.user(session, now=now), now=now)
    response = client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body((1, "5")), headers=member)
    assert response.status_code == 403


def test_bidding_on_your_own_pool_is_403(client, session, now):
    organiser = factories.vendor(session, now=now)
    own = factories.open_pool(session, now=now, organiser=organiser)
    response = client.post(
        f"/api/v1/pools/{own.id}/bids", json=bid_body((1, "5")), headers=factories.token(session, organiser, now=now)
    )
    assert response.status_code == 403


@pytest.mark.parametrize(("state", "status"), [("draft", 404), ("cancelled", 409)])
def test_bidding_on_a_pool_that_is_not_open_is_refused(client, session, vendor_auth, now, state, status):
    """A draft is its organiser's alone (404, as when reading it); a cancelled pool is closed (409)."""
    pool = factories.draft_pool(session, now=now)
    if state == "cancelled":
        from app.pools import lifecycle

        lifecycle.cancel_pool(session, pool_id=pool.id, actor=pool.organiser, now=now)
        session.commit()
    response = client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body((1, "5")), headers=vendor_auth[1])
    assert response.status_code == status


def test_a_revision_that_does_not_improve_is_409_with_the_price_to_beat(client, pool, vendor_auth):
    url = f"/api/v1/pools/{pool.id}/bids"
    client.post(url, json=bid_body((1, "10")), headers=vendor_auth[1])
    response = client.post(url, json=bid_body((1, "10")), headers=vendor_auth[1])
    assert response.status_code == 409
    assert response.get_json()["code"] == "bid_does_not_improve" and "10.0000" in response.get_json()["message"]


def test_in_a_sealed_auction_refusals_reveal_nothing_of_others(client, session, now):
    sealed = factories.open_pool(session, now=now, auction_kind="sealed")
    factories.commitment(session, pool=sealed, now=now, quantity=10)
    factories.bid(session, pool=sealed, now=now, curve=((1, "3.00"),))
    vendor = factories.vendor(session, now=now)
    auth = factories.token(session, vendor, now=now)
    url = f"/api/v1/pools/{sealed.id}/bids"
    assert client.post(url, json=bid_body((1, "9")), headers=auth).status_code == 201
    refused = client.post(url, json=bid_body((1, "9.5")), headers=auth).get_json()
    assert "3.00" not in refused["message"]
    assert client.get(f"/api/v1/pools/{sealed.id}").get_json()["best_unit_price"] is None
    assert [b["vendor_id"] for b in client.get(url, headers=auth).get_json()] == [vendor.id]


def test_no_path_reveals_another_vendors_bid(client, session, pool, vendor_auth, now):
    other = factories.bid(session, pool=pool, now=now)
    auth = vendor_auth[1]
    assert client.delete(f"/api/v1/pools/{pool.id}/bids/{other.id}", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/pools/{pool.id}/bids/999999", headers=auth).status_code == 404
    assert other.id not in [b["id"] for b in client.get(f"/api/v1/pools/{pool.id}/bids", headers=auth).get_json()]


def test_withdrawing_your_bid(client, session, pool, vendor_auth):
    placed = client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body((1, "5")), headers=vendor_auth[1])
    bid_id = placed.get_json()["id"]
    assert client.delete(f"/api/v1/pools/{pool.id}/bids/{bid_id}", headers=vendor_auth[1]).status_code == 204
    assert session.get(Bid, bid_id).status == "withdrawn"


def test_close_then_read_the_award(client, session, pool, now):
    winner = factories.bid(session, pool=pool, now=now, curve=((1, "15.25"),))
    organiser = factories.token(session, pool.organiser, now=now)
    closed = client.post(f"/api/v1/pools/{pool.id}/close", headers=organiser)
    assert closed.status_code == 200 and closed.get_json()["status"] == "awarded"
    again = client.post(f"/api/v1/pools/{pool.id}/close", headers=organiser)
    assert again.get_json() == closed.get_json()
    award = client.get(f"/api/v1/pools/{pool.id}/award", headers=organiser).get_json()
    assert (award["bid_id"], award["unit_price"], award["served_quantity"]) == (winner.id, "15.2500", 10)
    assert award["served"][0]["amount"] == 15250
    assert client.get(f"/api/v1/pools/{pool.id}/award").get_json()["served"] == []


def test_only_the_organiser_closes(client, session, pool, vendor_auth):
    response = client.post(f"/api/v1/pools/{pool.id}/close", headers=vendor_auth[1])
    assert response.status_code == 404
    assert session.get(Pool, pool.id).status == "open"


def test_an_unawarded_pool_has_no_award(client, pool):
    assert client.get(f"/api/v1/pools/{pool.id}/award").status_code == 404


def _told(session):
    return sorted(session.scalars(select(Notification.user_id).where(Notification.kind == "new_best_price")))


def test_the_members_hear_of_a_new_best_price_once(client, session, pool, now):
    url = f"/api/v1/pools/{pool.id}/bids"
    first, second = factories.vendor(session, now=now), factories.vendor(session, now=now)
    assert (
        client.post(url, json=bid_body((1, "12")), headers=factories.token(session, first, now=now)).status_code == 201
    )
    member = session.scalar(select(Commitment.member_id).where(Commitment.pool_id == pool.id))
    assert _told(session) == sorted([member, pool.organiser_id])
    assert (
        client.post(url, json=bid_body((1, "11")), headers=factories.token(session, second, now=now)).status_code == 201
    )
    assert _told(session) == sorted([member, pool.organiser_id])


def test_a_sealed_auction_announces_no_leader(client, session, vendor_auth, now):
    sealed = factories.open_pool(session, now=now, auction_kind="sealed")
    factories.commitment(session, pool=sealed, now=now, quantity=10)
    response = client.post(f"/api/v1/pools/{sealed.id}/bids", json=bid_body((1, "9")), headers=vendor_auth[1])
    assert response.status_code == 201 and response.get_json()["took_lead"] is None
    assert _told(session) == []


def test_a_bearer_token_bid_leaves_no_cookie(client, pool, vendor_auth):
    _, auth = vendor_auth
    created = client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body((1, "12")), headers=auth)
    assert created.status_code == 201
    assert "Set-Cookie" not in created.headers
    assert client.get_cookie("session") is None


def test_bidding_is_rate_limited(database_url, session, pool, vendor_auth):
    from app.web import create_app
    from app.web.extensions import limiter

    limited = create_app(
        {"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_BIDDING": "2 per minute"}
    )
    limiter.reset()
    client = limited.test_client()
    _, auth = vendor_auth
    statuses = [
        client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body((1, price)), headers=auth).status_code
        for price in ("12", "11", "10")
    ]
    assert statuses == [201, 201, 429]
    limiter.reset()


def test_with_rate_limits_off_a_bid_costs_the_limiter_nothing(client, pool, vendor_auth, monkeypatch):
    from app.web.extensions import limiter

    def consulted(*args, **kwargs):
        raise AssertionError("the limiter was consulted")

    monkeypatch.setattr(limiter, "enabled", False)
    monkeypatch.setattr(limiter, "_check_request_limit", consulted)
    _, auth = vendor_auth
    assert client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body((1, "12")), headers=auth).status_code == 201
