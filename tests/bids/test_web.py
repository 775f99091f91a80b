"""Vendor pages and the auction on the pool page, driven like a browser without JavaScript."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.bids.models import Bid
from tests import factories
from tests.web_helpers import log_in, submit


@pytest.fixture
def vendor(client, session, now):
    account = factories.vendor(session, now=now, email="seller@example.com", categories=["solar"])
    log_in(client, "seller@example.com")
    return account


@pytest.fixture
def pool(session, now):
    opened = factories.open_pool(session, now=now, min_quantity=5, title="Panels for Elm Street")
    factories.commitment(session, pool=opened, now=now, quantity=20, max_unit_price="500")
    return opened


def tier_form(*pairs, capacity="100"):
    form = {"capacity": capacity}
    for n, (quantity, price) in enumerate(pairs):
        form[f"tier_{n}_quantity"], form[f"tier_{n}_price"] = quantity, price
    return form


def test_the_dashboard_lists_matching_pools_and_my_bids_with_rank(client, session, now, vendor, pool):
    factories.open_pool(session, now=now, title="Coffee pool", category="coffee")
    page = client.get("/vendor").get_data(as_text=True)
    assert "Panels for Elm Street" in page and "Coffee pool" not in page
    submit(client, f"/pools/{pool.id}/bid", f"/pools/{pool.id}/bid", tier_form(("1", "450"), ("20", "400")))
    page = client.get("/vendor").get_data(as_text=True)
    assert "#1" in page and "£400" in page


def test_the_bid_editor_reshows_errors_per_tier_and_keeps_input(client, session, vendor, pool):
    response = submit(
        client, f"/pools/{pool.id}/bid", f"/pools/{pool.id}/bid", tier_form(("1", "450"), ("10", "460.123456"))
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "at most 4 decimal places" in page and 'value="460.123456"' in page
    assert session.scalar(select(func.count(Bid.id))) == 0


def test_a_rule_refusal_is_shown_on_the_editor(client, session, vendor, pool, now):
    factories.bid(session, pool=pool, now=now, curve=((1, "400"),))
    page = submit(client, f"/pools/{pool.id}/bid", f"/pools/{pool.id}/bid", tier_form(("1", "399"))).get_data(
        as_text=True
    )
    assert "To take the lead your price at the current demand must be 396.0000 or lower" in page


def test_the_pool_page_shows_the_price_chart_and_the_next_drop(client, session, now, pool):
    factories.bid(session, pool=pool, now=now, curve=((1, "450"), (60, "380")))
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "<svg" in page and "Best price per install by total quantity" in page
    assert "40 more install" in page and "£380" in page


def test_the_sealed_pool_page_shows_no_prices(client, session, now):
    sealed = factories.open_pool(session, now=now, auction_kind="sealed")
    factories.commitment(session, pool=sealed, now=now, quantity=20)
    factories.bid(session, pool=sealed, now=now, curve=((1, "450"),))
    page = client.get(f"/pools/{sealed.id}").get_data(as_text=True)
    assert "£450" not in page and "<svg" not in page and "1 vendor bidding" in page


def test_the_organiser_closes_and_members_see_their_line(client, session, now, pool):
    factories.bid(session, pool=pool, now=now, curve=((1, "450"),))
    member = factories.user(session, now=now, email="late@example.com")
    factories.commitment(session, pool=pool, now=now, member=member, quantity=2, max_unit_price="460")
    organiser_email = pool.organiser.email
    log_in(client, organiser_email)
    asked = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/close").get_data(as_text=True)
    assert "will be charged" in asked and "at £450.00 per install" in asked  # the confirm step, in money
    confirmed = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/close", {"confirmed": "yes"}, follow=True)
    page = confirmed.get_data(as_text=True)
    assert "Awarded at £450.00 per install" in page
    submit(client, "/", "/logout")
    log_in(client, "late@example.com")
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "(you)" in page and "£900.00" in page and "£9,000.00" not in page


def test_a_member_cannot_open_the_bid_editor_as_a_bidder(client, session, now, pool):
    factories.user(session, now=now, email="plain@example.com")
    log_in(client, "plain@example.com")
    page = client.get(f"/pools/{pool.id}/bid").get_data(as_text=True)
    assert "Only vendors can bid." in page


def test_the_dashboard_sends_non_vendors_to_their_profile(client, session, now):
    factories.user(session, now=now, email="plain@example.com")
    log_in(client, "plain@example.com")
    assert "/account" in client.get("/vendor").headers["Location"]
