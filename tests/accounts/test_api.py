"""Accounts over the JSON API: registration, tokens, vendors, authentication errors."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.accounts.models import ApiToken, User
from app.notifications.models import Notification
from tests import factories


def register(client, **overrides):
    body = {"email": "Ada@Example.com", "password": "a long password", "display_name": "Ada"} | overrides
    return client.post("/api/v1/users", json=body)


def test_register_creates_an_unconfirmed_account_and_emails_a_link(client, session):
    response = register(client)
    assert response.status_code == 202 and "Check your email" in response.get_json()["message"]
    user = session.scalar(select(User))
    assert (user.email, user.display_name, user.email_verified_at) == ("ada@example.com", "Ada", None)
    kinds = session.scalars(select(Notification.kind).where(Notification.email_due)).all()
    assert kinds == ["confirm_email"]


def test_registering_a_taken_address_answers_the_same_and_tells_its_owner(client, session):
    first = register(client)
    second = register(client, email="ADA@example.COM", display_name="Mallory")
    assert (second.status_code, second.get_json()) == (first.status_code, first.get_json())
    assert session.scalar(select(func.count(User.id))) == 1
    kinds = session.scalars(select(Notification.kind).order_by(Notification.id)).all()
    assert kinds == ["confirm_email", "address_in_use"]


def test_passwords_are_stored_hashed(client, session):
    register(client)
    stored = session.scalar(select(User.password_hash))
    assert "a long password" not in stored and stored.startswith("scrypt:")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "x" * 81}, "display_name"),
        ({"email": 42}, "email"),
        ({"unexpected": "field"}, "unexpected"),
    ],
)
def test_bad_registration_names_the_field_and_saves_nothing(client, session, body, field):
    response = register(client, **body)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["code"] == "validation_error"
    assert field in payload["errors"]
    assert session.scalar(select(func.count(User.id))) == 0


def test_malformed_json_is_a_400_with_a_json_body(client):
    response = client.post("/api/v1/users", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "malformed_json"


def test_token_exchange_and_me(client):
    register(client)
    response = client.post("/api/v1/tokens", json={"email": "ada@example.com", "password": "a long password"})
    assert response.status_code == 201
    token = response.get_json()["token"]
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == "ada@example.com"


def test_tokens_are_stored_hashed(client, session):
    register(client)
    token = client.post("/api/v1/tokens", json={"email": "ada@example.com", "password": "a long password"})
    plain = token.get_json()["token"]
    stored = session.scalar(select(ApiToken))
    assert stored.token_hash != plain and plain not in stored.token_hash
    assert plain.startswith(stored.prefix)


def test_wrong_password_gets_no_token(client):
    register(client)
    response = client.post("/api/v1/tokens", json={"email": "ada@example.com", "password": "wrong password!"})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc", "Bearer "])
def test_me_without_valid_credentials_is_401(client, header):
    response = client.get("/api/v1/users/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"


def test_a_revoked_token_stops_working(client, session, now):
    user = factories.user(session, now=now)
    headers = factories.token(session, user, now=now)
    token_id = session.scalar(select(ApiToken.id))
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401


def test_nobody_can_revoke_someone_elses_token(client, session, now):
    owner = factories.user(session, now=now)
    factories.token(session, owner, now=now)
    token_id = session.scalar(select(ApiToken.id))
    intruder = factories.token(session, factories.user(session, now=now), now=now)
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=intruder).status_code == 404
    session.expire_all()
    assert session.get(ApiToken, token_id).revoked_at is None


def test_becoming_a_vendor(client, session, now):
    headers = factories.token(session, factories.user(session, now=now), now=now)
    response = client.post("/api/v1/vendors", json={"legal_name": "Sun Ltd", "categories": ["solar"]}, headers=headers)
    assert response.status_code == 201
    assert response.get_json()["vendor"] == {
        "legal_name": "Sun Ltd",
        "categories": ["solar"],
        "payout_account_id": None,
        "verified": False,  # until its payout identity is verified
        "verified_at": None,
        "has_payout_identity": False,
        "linked_to": None,
    }


@pytest.mark.parametrize(
    "body",
    [{"legal_name": "Sun", "categories": []}, {"legal_name": "Sun", "categories": ["x"]}, {"categories": ["solar"]}],
)
def test_bad_vendor_profiles_are_refused(client, session, now, body):
    headers = factories.token(session, factories.user(session, now=now), now=now)
    response = client.post("/api/v1/vendors", json=body, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]


def test_vendor_creation_needs_authentication(client):
    response = client.post("/api/v1/vendors", json={"legal_name": "Sun", "categories": ["solar"]})
    assert response.status_code == 401


def test_session_authenticated_api_writes_need_the_csrf_header(client, session, now):
    factories.user(session, now=now, email="s@example.com")
    from tests.conftest import csrf_from

    login = {"email": "s@example.com", "password": factories.PASSWORD, "csrf_token": csrf_from(client)}
    assert client.post("/login", data=login).status_code == 302
    token = csrf_from(client, "/account")  # login starts a fresh session, with a fresh token
    body = {"legal_name": "Sun", "categories": ["solar"]}
    assert client.post("/api/v1/vendors", json=body).status_code == 400
    assert client.post("/api/v1/vendors", json=body, headers={"X-CSRFToken": token}).status_code == 201


def test_openapi_document_lists_the_contract(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in [
        "/api/v1/users",
        "/api/v1/users/me",
        "/api/v1/tokens",
        "/api/v1/vendors",
        "/api/v1/pools",
        "/api/v1/pools/{pool_id}",
        "/api/v1/pools/{pool_id}/publish",
        "/api/v1/pools/{pool_id}/commitment",
    ]:
        assert path in spec["paths"], path
