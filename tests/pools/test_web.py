"""Pool pages: browse, create, publish, join, change, withdraw; errors and access rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.pools.models import Commitment, Pool
from tests import factories
from tests.web_helpers import log_in, submit


def pool_form(now, **overrides):
    form = {
        "title": "Heat pumps for Elm Street",
        "description": "8 kW air-to-water",
        "category": "heating",
        "unit": "install",
        "currency": "GBP",
        "min_quantity": "12",
        "max_quantity": "",
        "closes_at": (now + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M"),
        "auction_kind": "open",
        "min_decrement_pct": "1.00",
        "soft_close_minutes": "10",
        "max_extensions": "3",
        "award_rule": "lowest_price",
        "min_vendor_trust": "",
        "visibility": "public",
    }
    return form | overrides


@pytest.fixture
def member(client, session, now):
    account = factories.user(session, now=now, email="member@example.com", display_name="Mo")
    log_in(client, "member@example.com")
    return account


def test_home_and_browse_show_helpful_empty_states(client):
    assert "Be the first" in client.get("/").get_data(as_text=True)
    assert "No pools match" in client.get("/pools?q=nothing").get_data(as_text=True)


def test_create_publish_and_join_moves_the_progress_bar(client, session, now, member):
    created = submit(client, "/pools/new", "/pools/new", pool_form(now))
    assert created.status_code == 302
    pool_id = session.scalar(select(Pool.id))
    page = submit(client, f"/pools/{pool_id}", f"/pools/{pool_id}/publish", follow=True).get_data(as_text=True)
    assert "Your pool is open" in page and "0 of 12 install committed" in page
    submit(client, f"/pools/{pool_id}", f"/pools/{pool_id}/commitment", {"quantity": 3, "max_unit_price": "7500"})
    page = client.get(f"/pools/{pool_id}").get_data(as_text=True)
    assert "3 of 12 install committed" in page and 'style="width: 25%"' in page
    assert 'aria-valuenow="3"' in page


def test_the_pool_form_reshows_errors_and_keeps_input(client, session, now, member):
    form = pool_form(
        now,
        title="Kept title",
        min_quantity="0",
        currency="ZZZ",
        closes_at=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    )
    response = submit(client, "/pools/new", "/pools/new", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="Kept title"' in page
    assert "Unknown currency" in page and "Must be a whole number from 1" in page
    assert session.scalar(select(func.count(Pool.id))) == 0


def test_a_closing_time_in_the_past_is_explained_on_the_form(client, session, now, member):
    form = pool_form(now, closes_at=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page = submit(client, "/pools/new", "/pools/new", form).get_data(as_text=True)
    assert "Closing time must be at least 5 minutes in the future." in page
    assert session.scalar(select(func.count(Pool.id))) == 0


def test_the_organiser_edits_a_draft_and_can_clear_the_maximum(client, session, now, member):
    pool = factories.draft_pool(session, now=now, organiser=member, max_quantity=50)
    response = submit(
        client, f"/pools/{pool.id}/edit", f"/pools/{pool.id}/edit", pool_form(now, title="Edited", max_quantity="")
    )
    assert response.status_code == 302
    session.expire_all()
    edited = session.get(Pool, pool.id)
    assert (edited.title, edited.max_quantity) == ("Edited", None)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("quantity", "0", "Must be a whole number from 1"),
        ("quantity", "x", "Enter a whole number"),
        ("max_unit_price", "0", "Price must be greater than zero."),
        ("max_unit_price", "1.23456", "at most 4 decimal places"),
        ("max_unit_price", "cheap", "Enter a price like 3.10"),
    ],
)
def test_bad_commitments_reshow_the_pool_page_with_the_message(client, session, now, member, field, value, message):
    pool = factories.open_pool(session, now=now)
    form = {"quantity": "2", "max_unit_price": "10"} | {field: value}
    response = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/commitment", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in page and f'value="{value}"' in page
    assert session.scalar(select(func.count(Commitment.id))) == 0


def test_quantity_above_the_maximum_is_explained(client, session, now, member):
    pool = factories.open_pool(session, now=now, min_quantity=2, max_quantity=4)
    response = submit(
        client, f"/pools/{pool.id}", f"/pools/{pool.id}/commitment", {"quantity": "5", "max_unit_price": "10"}
    )
    assert response.status_code == 400
    assert "Only 4 more can be committed" in response.get_data(as_text=True)


def test_change_and_withdraw_a_commitment(client, session, now, member):
    pool = factories.open_pool(session, now=now)
    submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/commitment", {"quantity": 2, "max_unit_price": "10"})
    submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/commitment", {"quantity": 4, "max_unit_price": "11"})
    page = client.get(f"/pools/{pool.id}").get_data(as_text=True)
    assert "4 of 10 install committed" in page and "Update commitment" in page
    page = submit(client, f"/pools/{pool.id}", f"/pools/{pool.id}/commitment/withdraw", follow=True)
    assert "You have left the pool" in page.get_data(as_text=True)
    session.expire_all()
    assert session.get(Pool, pool.id).committed_quantity == 0


def test_joining_a_cancelled_pool_is_refused_with_a_message(client, session, now, member):
    pool = factories.open_pool(session, now=now)
    page = client.get(f"/pools/{pool.id}")  # the member opened the page before it was cancelled
    assert page.status_code == 200
    from app.pools import lifecycle

    lifecycle.cancel_pool(session, pool_id=pool.id, actor=pool.organiser, now=now)
    session.commit()
    response = submit(
        client, "/", f"/pools/{pool.id}/commitment", {"quantity": "1", "max_unit_price": "5"}, follow=True
    )
    assert "This pool is cancelled" in response.get_data(as_text=True)
    assert session.scalar(select(func.count(Commitment.id))) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/pools/{id}/edit"),
        ("post", "/pools/{id}/edit"),
        ("post", "/pools/{id}/publish"),
        ("post", "/pools/{id}/cancel"),
        ("get", "/pools/{id}"),
    ],
)
def test_someone_elses_draft_is_not_found(client, session, now, member, method, path):
    pool = factories.draft_pool(session, now=now)
    url = path.format(id=pool.id)
    response = submit(client, "/", url, pool_form(now)) if method == "post" else client.get(url)
    assert response.status_code == 404
    session.expire_all()
    assert session.get(Pool, pool.id).status == "draft"


def test_withdrawing_without_a_commitment_is_not_found(client, session, now, member):
    pool = factories.open_pool(session, now=now)
    factories.commitment(session, pool=pool, now=now)
    assert submit(client, "/", f"/pools/{pool.id}/commitment/withdraw").status_code == 404


@pytest.mark.parametrize("path", ["/pools/new", "/my/pools", "/account"])
def test_pages_that_need_an_account_send_visitors_to_log_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_my_pools_lists_organised_and_joined(client, session, now, member):
    factories.draft_pool(session, now=now, organiser=member, title="My draft")
    joined = factories.open_pool(session, now=now, title="Someone's pool")
    factories.commitment(session, pool=joined, now=now, member=member)
    page = client.get("/my/pools").get_data(as_text=True)
    assert "My draft" in page and "Someone&#39;s pool" in page


def test_browse_filters_and_paginates(client, session, now):
    for n in range(14):
        factories.open_pool(session, now=now, title=f"Coffee lot {n}", category="coffee")
    factories.open_pool(session, now=now, title="Solar thing", category="solar")
    first = client.get("/pools?category=coffee").get_data(as_text=True)
    assert "14 pools found" in first and "Page 1 of 2" in first and "Solar thing" not in first
    assert "Coffee lot" in client.get("/pools?category=coffee&page=2").get_data(as_text=True)


def test_bad_filters_are_ignored_with_a_note(client):
    response = client.get("/pools?page=-4&status=bogus")
    assert response.status_code == 200
    assert "were not understood" in response.get_data(as_text=True)


def test_an_unknown_page_is_a_friendly_404(client):
    response = client.get("/pools/12345")
    assert response.status_code == 404
    assert "couldn" in response.get_data(as_text=True)


def test_the_pool_list_does_not_query_per_pool(client, session, now, count_queries):
    for n in range(10):
        factories.open_pool(session, now=now, title=f"Pool {n}")
    count_queries.statements.clear()
    client.get("/pools")
    assert count_queries.count <= 4, count_queries.statements


def test_an_expired_form_sends_the_member_back_with_what_they_typed(client, session, now, member):
    form = pool_form(now, title="Typed before the token expired", csrf_token="stale-token")
    response = client.post("/pools/new", data=form, headers={"Referer": "http://localhost/pools/new"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/pools/new")
    page = client.get("/pools/new").get_data(as_text=True)
    assert "Your form expired" in page and 'value="Typed before the token expired"' in page
    assert session.scalar(select(func.count(Pool.id))) == 0
