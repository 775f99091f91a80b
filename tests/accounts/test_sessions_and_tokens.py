"""Sessions that can be ended, redirects that stay on the site, tokens that cannot mint tokens."""

from __future__ import annotations

import pytest

from app.web import create_app
from tests import factories
from tests.conftest import csrf_from
from tests.web_helpers import log_in, submit


@pytest.fixture
def member(session, now):
    return factories.user(session, now=now, email="m@example.com", display_name="Mira")


@pytest.mark.parametrize(
    "target",
    ["/%09/evil.example/", "//evil.example/", "/%5Cevil.example/", "/%0d%0aSet-Cookie:x=1", "https://evil.example/"],
)
def test_login_sends_a_user_only_to_a_path_of_this_site(client, member, target):
    form = {"email": member.email, "password": factories.PASSWORD, "csrf_token": csrf_from(client)}
    response = client.post(f"/login?next={target}", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_keeps_a_local_next(client, member):
    form = {"email": member.email, "password": factories.PASSWORD, "csrf_token": csrf_from(client)}
    assert client.post("/login?next=/my/pools", data=form).headers["Location"] == "/my/pools"


def _remember_cookie(client, member):
    form = {"email": member.email, "password": factories.PASSWORD, "remember": "y", "csrf_token": csrf_from(client)}
    client.post("/login", data=form)
    return client.get_cookie("remember_token").value


def test_the_remember_cookie_changes_after_a_logout_and_a_copy_stops_working(app, client, member):
    first = _remember_cookie(client, member)
    submit(client, "/", "/logout")
    second = _remember_cookie(client, member)
    assert first != second
    thief = app.test_client()
    thief.set_cookie("remember_token", first)
    assert thief.get("/account").status_code == 302  # sent to the login page


def test_a_copied_session_cookie_stops_working_after_logout(app, client, member):
    log_in(client, member.email)
    stolen = client.get_cookie("session").value
    submit(client, "/", "/logout")
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/account").status_code == 302


def test_logging_out_ends_the_accounts_other_sessions(app, client, member):
    log_in(client, member.email)
    other_device = app.test_client()
    log_in(other_device, member.email)
    submit(client, "/", "/logout")
    assert other_device.get("/account").status_code == 302


def test_a_spoofed_forwarded_for_does_not_carry_a_session_to_another_address(app, member):
    victim = app.test_client()
    victim.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    log_in(victim, member.email)
    thief = app.test_client()
    thief.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    thief.set_cookie("session", victim.get_cookie("session").value)
    assert thief.get("/account", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 302


def test_behind_one_trusted_proxy_the_forwarded_address_is_the_clients(database_url, member):
    proxied = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "TRUSTED_PROXIES": 1})
    seen = {}

    @proxied.get("/__addr")
    def addr():
        from flask import request

        seen["addr"] = request.remote_addr
        return ""

    proxied.test_client().get("/__addr", headers={"X-Forwarded-For": "198.51.100.7"})
    assert seen["addr"] == "198.51.100.7"


def test_a_token_cannot_mint_a_token_without_the_password(client, session, member, now):
    auth = factories.token(session, member, now=now)
    assert client.post("/api/v1/tokens/new", json={"name": "more"}, headers=auth).status_code == 422
    wrong = client.post("/api/v1/tokens/new", json={"name": "more", "password": "guess guess"}, headers=auth)
    assert wrong.status_code == 422 and wrong.get_json()["errors"] == {"password": ["Wrong password."]}
    right = client.post("/api/v1/tokens/new", json={"name": "more", "password": factories.PASSWORD}, headers=auth)
    assert right.status_code == 201 and right.get_json()["token"].startswith("bsw_")


@pytest.mark.parametrize("header", ["Bearer bsw_not-a-real-token", "Bearer ", "bearer nonsense"])
def test_a_bad_token_is_401_even_on_a_public_read(client, header):
    response = client.get("/api/v1/pools", headers={"Authorization": header})
    assert response.status_code == 401 and response.get_json()["code"] == "unauthenticated"


def test_a_revoked_token_is_401(client, session, member, now):
    auth = factories.token(session, member, now=now)
    from app.accounts import service
    from app.accounts.models import ApiToken

    token = session.query(ApiToken).one()
    service.revoke_token(session, user=member, token_id=token.id, now=now)
    session.commit()
    assert client.get("/api/v1/users/me", headers=auth).status_code == 401


def test_a_bogus_token_beside_a_session_cookie_does_not_skip_the_csrf_check(client, session, member, now):
    log_in(client, member.email)
    body = {"title": "Forged", "category": "solar", "unit": "kit", "currency": "GBP", "min_quantity": 1,
            "closes_at": "2099-01-01T00:00:00+00:00"}  # fmt: skip
    response = client.post("/api/v1/pools", json=body, headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401
    from sqlalchemy import func, select

    from app.pools.models import Pool

    assert session.scalar(select(func.count(Pool.id))) == 0
