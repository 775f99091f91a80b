"""Unlisted pools are reached through an unguessable share link, not by counting ids."""

from __future__ import annotations

import pytest

from tests import factories
from tests.web_helpers import log_in


@pytest.fixture
def unlisted(session, now):
    return factories.open_pool(session, now=now, visibility="unlisted", title="Quiet street solar")


def test_an_unlisted_pool_is_not_found_by_its_id(client, session, unlisted, now):
    stranger = factories.token(session, factories.user(session, now=now), now=now)
    assert client.get(f"/pools/{unlisted.id}").status_code == 404
    assert client.get(f"/api/v1/pools/{unlisted.id}").status_code == 404
    assert client.get(f"/api/v1/pools/{unlisted.id}", headers=stranger).status_code == 404
    body = {"quantity": 1, "max_unit_price": "5"}
    assert client.put(f"/api/v1/pools/{unlisted.id}/commitment", json=body, headers=stranger).status_code == 404


def test_the_link_shows_the_pool_to_anyone(client, unlisted):
    response = client.get(f"/p/{unlisted.link_token}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Quiet street solar" in page
    assert f"/p/{unlisted.link_token}/live.json" in page
    assert client.get(f"/p/{unlisted.link_token}/live.json").status_code == 200


def test_a_wrong_link_is_not_found(client, unlisted):
    assert client.get(f"/p/{unlisted.link_token[:-1]}x").status_code == 404


def test_a_signed_in_visitor_of_the_link_may_then_join_by_id(client, session, unlisted, now):
    member = factories.user(session, now=now)
    auth = factories.token(session, member, now=now)
    opened = client.get(f"/api/v1/links/{unlisted.link_token}", headers=auth)
    assert opened.status_code == 200 and opened.get_json()["id"] == unlisted.id
    body = {"quantity": 1, "max_unit_price": "5"}
    assert client.put(f"/api/v1/pools/{unlisted.id}/commitment", json=body, headers=auth).status_code == 201
    log_in(client, member.email)
    assert client.get(f"/pools/{unlisted.id}").status_code == 200


def test_the_web_link_sends_a_signed_in_visitor_to_the_pool(client, session, unlisted, now):
    member = factories.user(session, now=now)
    log_in(client, member.email)
    response = client.get(f"/p/{unlisted.link_token}")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pools/{unlisted.id}")
    assert client.get(f"/pools/{unlisted.id}").status_code == 200


def test_the_organiser_sees_the_link_to_share(client, unlisted):
    log_in(client, unlisted.organiser.email)
    assert f"/p/{unlisted.link_token}" in client.get(f"/pools/{unlisted.id}").get_data(as_text=True)


def test_a_club_pool_not_yet_in_a_club_is_not_public(client, session, now):
    pool = factories.open_pool(session, now=now, visibility="club")
    assert client.get(f"/api/v1/pools/{pool.id}").status_code == 404


def test_a_vendor_without_the_link_cannot_bid_and_with_it_can(client, session, unlisted, now):
    vendor = factories.vendor(session, now=now)
    auth = factories.token(session, vendor, now=now)
    body = {"tiers": [{"min_quantity": 1, "unit_price": "5"}], "capacity": 10}
    assert client.post(f"/api/v1/pools/{unlisted.id}/bids", json=body, headers=auth).status_code == 404
    client.get(f"/api/v1/links/{unlisted.link_token}", headers=auth)
    assert client.post(f"/api/v1/pools/{unlisted.id}/bids", json=body, headers=auth).status_code == 201
