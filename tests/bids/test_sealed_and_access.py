"""What a sealed auction withholds, and who may act on a pool, on every path (the attack run's findings)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.bids import award
from app.bids.rules import MAX_WITHDRAWALS
from app.pools.models import Pool
from app.reputation.scores import price_factors
from app.social import service as social
from tests import factories


def bid_body(price: str, capacity: int = 100) -> dict[str, object]:
    return {"tiers": [{"min_quantity": 1, "unit_price": price}], "capacity": capacity}


@pytest.fixture
def sealed(session, now):
    pool = factories.open_pool(session, now=now, auction_kind="sealed", min_quantity=5)
    factories.commitment(session, pool=pool, now=now, quantity=10, max_unit_price="50")
    return pool


def test_a_sealed_bid_says_nothing_of_the_lead_in_any_answer(client, session, sealed, now):
    factories.bid(session, pool=sealed, now=now, curve=((1, "20"),))
    prober = factories.vendor(session, now=now)
    auth = factories.token(session, prober, now=now)
    answers = [client.post(f"/api/v1/pools/{sealed.id}/bids", json=bid_body(p), headers=auth) for p in ("30", "10")]
    listed = client.get(f"/api/v1/pools/{sealed.id}/bids", headers=auth).get_json()
    # Above and below the competitor's 20: the answers differ only in what the prober itself sent.
    assert [a.status_code for a in answers] == [201, 201]
    assert [a.get_json()["took_lead"] for a in answers] == [None, None]
    assert {(b["took_lead"], b["rank"]) for b in listed} == {(None, None)}


def test_an_open_auction_still_tells_the_bidder_it_took_the_lead(client, session, now):
    pool = factories.open_pool(session, now=now)
    factories.commitment(session, pool=pool, now=now, quantity=10, max_unit_price="50")
    auth = factories.token(session, factories.vendor(session, now=now), now=now)
    assert client.post(f"/api/v1/pools/{pool.id}/bids", json=bid_body("10"), headers=auth).get_json()["took_lead"]


def test_a_sealed_auction_never_moves_its_close(session, now):
    pool = factories.open_pool(session, now=now, auction_kind="sealed", soft_close_minutes=10)
    closes_at = pool.closes_at
    factories.commitment(session, pool=pool, now=now, quantity=10, max_unit_price="50")
    late = closes_at - timedelta(minutes=2)
    factories.bid(session, pool=pool, now=late, curve=((1, "20"),))
    factories.bid(session, pool=pool, now=late, curve=((1, "10"),))  # a new leader in the last minutes
    session.refresh(pool)
    assert (pool.closes_at, pool.extensions_used) == (closes_at, 0)


def test_withdrawing_and_bidding_again_is_limited_and_counted(client, session, sealed, now):
    auth = factories.token(session, factories.vendor(session, now=now), now=now)
    url = f"/api/v1/pools/{sealed.id}/bids"
    statuses = []
    for _ in range(MAX_WITHDRAWALS + 1):
        bid_id = client.post(url, json=bid_body("30"), headers=auth).get_json()["id"]
        statuses.append(client.delete(f"{url}/{bid_id}", headers=auth).status_code)
    assert statuses == [204] * MAX_WITHDRAWALS + [409]
    award.close_pool(session, pool_id=sealed.id, actor=sealed.organiser, now=now, price_factors=price_factors)
    session.commit()
    organiser = factories.token(session, sealed.organiser, now=now)
    trail = client.get(f"/api/v1/pools/{sealed.id}/audit", headers=organiser).get_json()
    counts = [e["after"]["withdrawals"] for e in trail if e["action"] == "bid.withdraw"]
    assert counts == list(range(1, MAX_WITHDRAWALS + 1))


def test_the_audit_trail_hides_sealed_bids_until_the_close(client, session, sealed, now):
    factories.bid(session, pool=sealed, now=now, curve=((1, "20"),))
    organiser = factories.token(session, sealed.organiser, now=now)
    url = f"/api/v1/pools/{sealed.id}/audit"
    during = [e for e in client.get(url, headers=organiser).get_json() if e["action"] == "bid.place"]
    assert "20.0000" not in str(during) and during[0]["after"] == {"sealed": "shown after the close"}
    award.close_pool(session, pool_id=sealed.id, actor=sealed.organiser, now=now, price_factors=price_factors)
    session.commit()
    after = [e for e in client.get(url, headers=organiser).get_json() if e["action"] == "bid.place"]
    assert after[0]["after"]["tiers"] == [{"min_quantity": 1, "unit_price": "20.0000"}]


def test_the_console_hides_sealed_bids_until_the_close(client, session, sealed, now):
    from tests.web_helpers import log_in

    factories.bid(session, pool=sealed, now=now, curve=((1, "23.45"),))
    log_in(client, sealed.organiser.email)
    page = client.get(f"/pools/{sealed.id}/console").get_data(as_text=True)
    assert "23.45" not in page and "shown after the close" in page


@pytest.fixture
def club_pool(session, now):
    owner = factories.user(session, now=now)
    club = social.create_club(session, owner=owner, name="Elm Street", slug="elm", description="", now=now)
    pool = factories.open_pool(session, now=now, organiser=owner, visibility="club")
    social.attach_pool(session, club=club, pool=pool, actor=owner, now=now)
    session.commit()
    return pool


def test_a_club_pool_refuses_commitments_from_outsiders_through_the_api(client, session, club_pool, now):
    outsider = factories.token(session, factories.user(session, now=now), now=now)
    body = {"quantity": 2, "max_unit_price": "9.00"}
    response = client.put(f"/api/v1/pools/{club_pool.id}/commitment", json=body, headers=outsider)
    assert response.status_code == 404
    assert session.get(Pool, club_pool.id).member_count == 0


def test_a_club_pool_refuses_bids_from_outsiders_through_the_api(client, session, club_pool, now):
    outsider = factories.token(session, factories.vendor(session, now=now), now=now)
    response = client.post(f"/api/v1/pools/{club_pool.id}/bids", json=bid_body("5"), headers=outsider)
    assert response.status_code == 404


def test_a_club_member_may_bid_on_its_club_pool(client, session, club_pool, now):
    vendor = factories.vendor(session, now=now)
    club = social.get_club(session, "elm")
    social.join_club(session, club=club, user=vendor, now=now)
    session.commit()
    auth = factories.token(session, vendor, now=now)
    assert client.post(f"/api/v1/pools/{club_pool.id}/bids", json=bid_body("5"), headers=auth).status_code == 201


def test_a_bidder_cannot_join_the_pool_it_bids_on(client, session, now):
    pool = factories.open_pool(session, now=now)
    vendor = factories.vendor(session, now=now)
    factories.bid(session, pool=pool, now=now, vendor=vendor)
    auth = factories.token(session, vendor, now=now)
    body = {"quantity": 2, "max_unit_price": "200"}
    response = client.put(f"/api/v1/pools/{pool.id}/commitment", json=body, headers=auth)
    assert response.status_code == 403 and "you bid on this pool" in response.get_json()["message"].lower()
