"""Delivery details and each winner's delivery list: whom to deliver to, seen only by whom it concerns."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from sqlalchemy import func, select

from app.bids import award
from app.payments import jobs
from app.payments.delivery import delivery_list
from app.payments.offline import OfflineGateway
from app.pools.models import AwardMode, Commitment
from app.reputation.scores import price_factors
from tests import factories
from tests.web_helpers import log_in, submit

ADDRESSES = ["1 Elm St\nLeeds", "2 Elm St\nLeeds", "3 Elm St\nLeeds", "4 Elm St\nLeeds", "5 Elm St\nLeeds"]


def split_pool_with_addresses(client, session, now):
    """Five members join through the API with their addresses; two vendors of capacity 3 share the award."""
    pool = factories.open_pool(session, now=now, min_quantity=5, award_mode=AwardMode.SPLIT, needs_address=True)
    members = [factories.user(session, now=now) for _ in ADDRESSES]
    for member, address in zip(members, ADDRESSES, strict=True):
        body = {"quantity": 1, "max_unit_price": "10.00", "delivery_address": address}
        joined = client.put(
            f"/api/v1/pools/{pool.id}/commitment", json=body, headers=factories.token(session, member, now=now)
        )
        assert joined.status_code == 201, joined.get_json()
    cheap = factories.bid(session, pool=pool, now=now, curve=((1, "8.00"),), capacity=3)
    runner_up = factories.bid(session, pool=pool, now=now, curve=((1, "9.00"),), capacity=3)
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    jobs.settle_pool(session, OfflineGateway(), pool_id=pool.id, now=now)
    return pool, members, cheap.vendor, runner_up.vendor


def test_a_pool_that_delivers_to_members_refuses_a_join_without_an_address(client, session, now):
    pool = factories.open_pool(session, now=now, needs_address=True, max_per_member=2)
    member = factories.user(session, now=now)
    headers = factories.token(session, member, now=now)
    refused = client.put(
        f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 5, "max_unit_price": "5"}, headers=headers
    )
    assert refused.status_code == 422
    assert set(refused.get_json()["errors"]) == {"quantity", "delivery_address"}  # both, in one answer
    blank = client.put(
        f"/api/v1/pools/{pool.id}/commitment",
        json={"quantity": 1, "max_unit_price": "5", "delivery_address": "   "},
        headers=headers,
    )
    assert blank.status_code == 422 and "delivery_address" in blank.get_json()["errors"]
    nul = client.put(
        f"/api/v1/pools/{pool.id}/commitment",
        json={"quantity": 1, "max_unit_price": "5", "delivery_address": "1 Elm St\x00"},
        headers=headers,
    )
    assert nul.status_code == 422
    assert session.scalar(select(func.count(Commitment.id))) == 0


def test_a_change_that_leaves_the_address_out_keeps_it(client, session, now):
    pool = factories.open_pool(session, now=now, needs_address=True)
    headers = factories.token(session, factories.user(session, now=now), now=now)
    url = f"/api/v1/pools/{pool.id}/commitment"
    client.put(url, json={"quantity": 1, "max_unit_price": "5", "delivery_address": "1 Elm St"}, headers=headers)
    changed = client.put(url, json={"quantity": 2, "max_unit_price": "5"}, headers=headers)
    assert changed.status_code == 200 and changed.get_json()["delivery_address"] == "1 Elm St"


def test_each_winner_sees_only_the_members_it_serves(client, session, now):
    pool, members, cheap, runner_up = split_pool_with_addresses(client, session, now)
    mine = client.get(f"/api/v1/pools/{pool.id}/deliveries", headers=factories.token(session, runner_up, now=now))
    assert mine.status_code == 200
    assert [(row["member_id"], row["address"], row["state"]) for row in mine.get_json()] == [
        (members[3].id, ADDRESSES[3], "held"),
        (members[4].id, ADDRESSES[4], "held"),
    ]
    everyone = delivery_list(session, pool, pool.organiser)
    assert [(row.member_id, row.vendor_id) for row in everyone] == [
        *[(m.id, cheap.id) for m in members[:3]],
        *[(m.id, runner_up.id) for m in members[3:]],
    ]
    for outsider in (members[0], factories.vendor(session, now=now)):
        denied = client.get(f"/api/v1/pools/{pool.id}/deliveries", headers=factories.token(session, outsider, now=now))
        assert denied.status_code == 404


def test_addresses_reach_no_other_page(client, session, now):
    pool, members, _cheap, runner_up = split_pool_with_addresses(client, session, now)
    for path in (f"/api/v1/pools/{pool.id}", f"/api/v1/pools/{pool.id}/award", f"/api/v1/pools/{pool.id}/lines"):
        body = client.get(path, headers=factories.token(session, members[0], now=now)).get_data(as_text=True)
        assert not any(address.split("\n")[0] in body for address in ADDRESSES[1:]), path
    award_for_vendor = client.get(
        f"/api/v1/pools/{pool.id}/award", headers=factories.token(session, runner_up, now=now)
    ).get_data(as_text=True)
    assert "Elm St" not in award_for_vendor


def test_the_delivery_list_page_and_its_csv(client, session, now):
    pool, members, cheap, _runner_up = split_pool_with_addresses(client, session, now)
    log_in(client, cheap.email)
    page = client.get(f"/pools/{pool.id}/deliveries").get_data(as_text=True)
    assert members[0].display_name in page and "1 Elm St" in page and members[4].display_name not in page
    download = client.get(f"/pools/{pool.id}/deliveries.csv")
    assert download.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.get_data(as_text=True))))
    assert [(row["member"], row["deliver_to"], row["quantity"]) for row in rows] == [
        (m.display_name, address, "1") for m, address in zip(members[:3], ADDRESSES[:3], strict=True)
    ]
    dashboard = client.get("/vendor").get_data(as_text=True)
    assert f"/pools/{pool.id}/deliveries" in dashboard


def test_nothing_to_deliver_before_members_are_charged(session, now):
    pool = factories.open_pool(session, now=now, min_quantity=1)
    factories.commitment(session, pool=pool, now=now, quantity=2, max_unit_price=Decimal("20"))
    bid = factories.bid(session, pool=pool, now=now, curve=((1, "10"),))
    award.close_pool(session, pool_id=pool.id, actor=pool.organiser, now=now, price_factors=price_factors)
    session.commit()
    assert delivery_list(session, pool, bid.vendor) == []  # awarded, not yet charged


def test_the_join_form_asks_for_the_address_and_keeps_what_was_typed(client, session, now):
    pool = factories.open_pool(session, now=now, needs_address=True, collection_point=None)
    member = factories.user(session, now=now)
    log_in(client, member.email)
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert 'name="delivery_address"' in page and "each member's address" in page
    refused = submit(
        client, f"/pools/{pool.id}", f"/pools/{pool.id}/commitment", {"quantity": 2, "max_unit_price": "9"}
    )
    assert refused.status_code == 400
    body = refused.get_data(as_text=True)
    assert "Give the address to deliver to" in body and 'value="9"' in body
    joined = submit(
        client,
        f"/pools/{pool.id}",
        f"/pools/{pool.id}/commitment",
        {"quantity": 2, "max_unit_price": "9", "delivery_address": "7 Oak Road"},
    )
    assert joined.status_code == 302
    assert session.scalar(select(Commitment.delivery_address)) == "7 Oak Road"
