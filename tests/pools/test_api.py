"""Pools and commitments over the JSON API, including every kind of bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.pools.models import Commitment, Pool
from tests import factories


def iso(moment):
    return moment.isoformat()


new_pool_body = factories.pool_body


@pytest.fixture
def alice(session, now):
    account = factories.user(session, now=now, display_name="Alice")
    return account, factories.token(session, account, now=now)


@pytest.fixture
def bob(session, now):
    account = factories.user(session, now=now, display_name="Bob")
    return account, factories.token(session, account, now=now)


def test_create_publish_join_and_see_demand(client, alice, bob, now):
    _, alice_auth = alice
    created = client.post("/api/v1/pools", json=new_pool_body(now), headers=alice_auth)
    assert created.status_code == 201
    pool = created.get_json()
    assert pool["status"] == "draft" and pool["best_unit_price"] is None
    published = client.post(f"/api/v1/pools/{pool['id']}/publish", headers=alice_auth)
    assert published.get_json()["status"] == "open"
    joined = client.put(
        f"/api/v1/pools/{pool['id']}/commitment", json={"quantity": 3, "max_unit_price": "5100.50"}, headers=bob[1]
    )
    assert joined.status_code == 201
    assert joined.get_json()["max_unit_price"] == "5100.5000"
    shown = client.get(f"/api/v1/pools/{pool['id']}").get_json()
    assert (shown["committed_quantity"], shown["member_count"]) == (3, 1)


def test_changing_a_commitment_updates_demand_and_answers_200(client, session, bob, now):
    pool = factories.open_pool(session, now=now)
    url = f"/api/v1/pools/{pool.id}/commitment"
    client.put(url, json={"quantity": 3, "max_unit_price": "10"}, headers=bob[1])
    changed = client.put(url, json={"quantity": 5, "max_unit_price": "12"}, headers=bob[1])
    assert changed.status_code == 200
    assert client.get(f"/api/v1/pools/{pool.id}").get_json()["committed_quantity"] == 5


def test_withdrawing_removes_the_demand(client, session, bob, now):
    pool = factories.open_pool(session, now=now)
    url = f"/api/v1/pools/{pool.id}/commitment"
    client.put(url, json={"quantity": 3, "max_unit_price": "10"}, headers=bob[1])
    assert client.delete(url, headers=bob[1]).status_code == 204
    shown = client.get(f"/api/v1/pools/{pool.id}").get_json()
    assert (shown["committed_quantity"], shown["member_count"]) == (0, 0)
    assert client.get(url, headers=bob[1]).get_json()["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": None}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 5001}, "description"),
        ({"min_quantity": 0}, "min_quantity"),
        ({"min_quantity": "ten"}, "min_quantity"),
        ({"currency": "XYZ"}, "currency"),
        ({"category": "weapons"}, "category"),
        ({"closes_at": "tomorrow"}, "closes_at"),
        ({"closes_at": "2030-01-01T10:00:00"}, "closes_at"),
        ({"auction_kind": "dutch"}, "auction_kind"),
        ({"min_vendor_trust": "1.5"}, "min_vendor_trust"),
    ],
)
def test_bad_pool_fields_are_422_and_create_nothing(client, session, alice, now, overrides, field):
    body = {k: v for k, v in (new_pool_body(now) | overrides).items() if v is not None}
    response = client.post("/api/v1/pools", json=body, headers=alice[1])
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert session.scalar(select(func.count(Pool.id))) == 0


def test_a_closing_time_in_the_past_is_refused(client, session, alice, now):
    response = client.post(
        "/api/v1/pools", json=new_pool_body(now, closes_at=iso(now - timedelta(hours=1))), headers=alice[1]
    )
    assert response.status_code == 422
    assert "future" in response.get_json()["errors"]["closes_at"][0]
    assert session.scalar(select(func.count(Pool.id))) == 0


def test_max_quantity_below_the_tipping_point_is_refused(client, alice, now):
    response = client.post("/api/v1/pools", json=new_pool_body(now, min_quantity=10, max_quantity=5), headers=alice[1])
    assert response.status_code == 422
    assert "max_quantity" in response.get_json()["errors"]


def test_creating_a_pool_needs_authentication(client, session, now):
    assert client.post("/api/v1/pools", json=new_pool_body(now)).status_code == 401
    assert session.scalar(select(func.count(Pool.id))) == 0


@pytest.mark.parametrize("action", ["publish", "cancel"])
def test_acting_on_someone_elses_pool_is_404(client, session, bob, now, action):
    pool = factories.draft_pool(session, now=now)
    response = client.post(f"/api/v1/pools/{pool.id}/{action}", headers=bob[1])
    assert response.status_code == 404
    session.expire_all()
    assert session.get(Pool, pool.id).status == "draft"


def test_editing_someone_elses_pool_is_404(client, session, bob, now):
    pool = factories.draft_pool(session, now=now)
    response = client.patch(f"/api/v1/pools/{pool.id}", json={"title": "Mine now"}, headers=bob[1])
    assert response.status_code == 404
    session.expire_all()
    assert session.get(Pool, pool.id).title != "Mine now"


def test_a_draft_is_invisible_to_others(client, session, bob, now):
    pool = factories.draft_pool(session, now=now)
    assert client.get(f"/api/v1/pools/{pool.id}", headers=bob[1]).status_code == 404
    assert client.get(f"/api/v1/pools/{pool.id}").status_code == 404


def test_the_organiser_edits_a_draft(client, session, now):
    organiser = factories.user(session, now=now)
    pool = factories.draft_pool(session, now=now, organiser=organiser)
    response = client.patch(
        f"/api/v1/pools/{pool.id}",
        json={"title": "Better title", "min_quantity": 20},
        headers=factories.token(session, organiser, now=now),
    )
    assert response.status_code == 200
    assert (response.get_json()["title"], response.get_json()["min_quantity"]) == ("Better title", 20)


def test_an_open_pool_cannot_be_edited(client, session, now):
    organiser = factories.user(session, now=now)
    pool = factories.open_pool(session, now=now, organiser=organiser)
    response = client.patch(
        f"/api/v1/pools/{pool.id}", json={"min_quantity": 1}, headers=factories.token(session, organiser, now=now)
    )
    assert response.status_code == 409


def test_publish_and_cancel_are_idempotent_and_audited(client, session, now):
    organiser = factories.user(session, now=now)
    headers = factories.token(session, organiser, now=now)
    pool = factories.draft_pool(session, now=now, organiser=organiser)
    for _ in range(2):
        assert client.post(f"/api/v1/pools/{pool.id}/publish", headers=headers).get_json()["status"] == "open"
    for _ in range(2):
        assert client.post(f"/api/v1/pools/{pool.id}/cancel", headers=headers).get_json()["status"] == "cancelled"
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.subject_type == "pool")).all()
    assert sorted(actions) == ["pool.cancel", "pool.create", "pool.publish"]


def test_a_cancelled_pool_cannot_be_published(client, session, now):
    organiser = factories.user(session, now=now)
    headers = factories.token(session, organiser, now=now)
    pool = factories.draft_pool(session, now=now, organiser=organiser)
    client.post(f"/api/v1/pools/{pool.id}/cancel", headers=headers)
    response = client.post(f"/api/v1/pools/{pool.id}/publish", headers=headers)
    assert response.status_code == 409
    assert response.get_json()["code"] == "invalid_transition"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 0, "max_unit_price": "10"}, "quantity"),
        ({"quantity": -3, "max_unit_price": "10"}, "quantity"),
        ({"quantity": "many", "max_unit_price": "10"}, "quantity"),
        ({"quantity": 2, "max_unit_price": "0"}, "max_unit_price"),
        ({"quantity": 2, "max_unit_price": "-1"}, "max_unit_price"),
        ({"quantity": 2, "max_unit_price": "1.23456"}, "max_unit_price"),
        ({"quantity": 2, "max_unit_price": "NaN"}, "max_unit_price"),
        ({"quantity": 2, "max_unit_price": "abc"}, "max_unit_price"),
        ({"quantity": 2}, "max_unit_price"),
        ({"max_unit_price": "10"}, "quantity"),
    ],
)
def test_bad_commitments_are_422_and_change_nothing(client, session, bob, now, body, field):
    pool = factories.open_pool(session, now=now)
    response = client.put(f"/api/v1/pools/{pool.id}/commitment", json=body, headers=bob[1])
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert session.scalar(select(func.count(Commitment.id))) == 0


def test_quantity_above_what_the_pool_can_take_is_refused(client, session, bob, now):
    pool = factories.open_pool(session, now=now, min_quantity=5, max_quantity=10)
    factories.commitment(session, pool=pool, now=now, quantity=8)
    response = client.put(
        f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 3, "max_unit_price": "10"}, headers=bob[1]
    )
    assert response.status_code == 422
    assert "Only 2 more" in response.get_json()["errors"]["quantity"][0]
    session.expire_all()
    assert session.get(Pool, pool.id).committed_quantity == 8


def test_a_member_may_raise_their_own_quantity_up_to_the_maximum(client, session, bob, now):
    pool = factories.open_pool(session, now=now, min_quantity=5, max_quantity=10)
    url = f"/api/v1/pools/{pool.id}/commitment"
    client.put(url, json={"quantity": 6, "max_unit_price": "10"}, headers=bob[1])
    assert client.put(url, json={"quantity": 10, "max_unit_price": "10"}, headers=bob[1]).status_code == 200


@pytest.mark.parametrize("method", ["put", "delete"])
def test_commitments_only_change_while_the_pool_is_open(client, session, bob, now, method):
    organiser = factories.user(session, now=now)
    pool = factories.open_pool(session, now=now, organiser=organiser)
    client.put(f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 1, "max_unit_price": "9"}, headers=bob[1])
    client.post(f"/api/v1/pools/{pool.id}/cancel", headers=factories.token(session, organiser, now=now))
    call = getattr(client, method)
    kwargs = {"json": {"quantity": 2, "max_unit_price": "10"}} if method == "put" else {}
    response = call(f"/api/v1/pools/{pool.id}/commitment", headers=bob[1], **kwargs)
    assert response.status_code == 409
    assert response.get_json()["code"] == "pool_not_open"


def test_joining_a_draft_pool_is_404(client, session, bob, now):
    pool = factories.draft_pool(session, now=now)
    response = client.put(
        f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 1, "max_unit_price": "9"}, headers=bob[1]
    )
    assert response.status_code == 404


def test_withdrawing_without_a_commitment_is_404(client, session, bob, now):
    pool = factories.open_pool(session, now=now)
    factories.commitment(session, pool=pool, now=now)  # someone else's
    assert client.delete(f"/api/v1/pools/{pool.id}/commitment", headers=bob[1]).status_code == 404
    session.expire_all()
    assert session.get(Pool, pool.id).member_count == 1


def test_joining_needs_authentication(client, session, now):
    pool = factories.open_pool(session, now=now)
    response = client.put(f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 1, "max_unit_price": "9"})
    assert response.status_code == 401


def test_search_filters_by_status_category_and_text(client, session, now):
    factories.open_pool(session, now=now, title="Solar panels Leeds", category="solar")
    factories.open_pool(session, now=now, title="Coffee beans", category="coffee")
    factories.draft_pool(session, now=now, title="Secret solar draft", category="solar")
    assert client.get("/api/v1/pools?category=solar").get_json()["total"] == 1
    assert [p["title"] for p in client.get("/api/v1/pools?q=bean").get_json()["items"]] == ["Coffee beans"]
    assert client.get("/api/v1/pools?status=draft").get_json()["total"] == 0
    assert client.get("/api/v1/pools?q=100%25").get_json()["total"] == 0


def test_search_paginates(client, session, now):
    for n in range(15):
        factories.open_pool(session, now=now, title=f"Pool {n}")
    first, second = (client.get(f"/api/v1/pools?page={n}").get_json() for n in (1, 2))
    assert (first["total"], len(first["items"]), len(second["items"])) == (15, 12, 3)
    assert not {p["id"] for p in first["items"]} & {p["id"] for p in second["items"]}


@pytest.mark.parametrize("query", ["status=bogus", "page=0", "page=x", "category=weapons"])
def test_bad_search_parameters_are_422(client, query):
    response = client.get(f"/api/v1/pools?{query}")
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_error"


def test_unknown_pool_is_a_json_404(client):
    response = client.get("/api/v1/pools/999")
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
