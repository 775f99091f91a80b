"""Confirming an address, resetting and changing a password, through the real outbox and its links."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.social import mail
from app.web import create_app
from app.web.extensions import limiter
from tests import factories
from tests.conftest import csrf_from
from tests.web_helpers import log_in, submit

LINK = re.compile(r"http://127\.0\.0\.1:5000(/\S+)")


def emailed_links(app, session, now):
    """Send the outbox as the scheduler would; return the paths of the links in what went out."""
    stream = io.StringIO()
    mail.send_pending(session, app.config, now, backend=mail.ConsoleBackend(stream))
    session.commit()
    return LINK.findall(stream.getvalue().replace("=\n", ""))  # quoted-printable soft breaks


def sign_up(client, email="new@example.com", password="long enough pw"):
    return submit(client, "/register", "/register", {"email": email, "display_name": "Newbie", "password": password})


def test_the_emailed_link_confirms_the_address_and_logs_in(app, client, session, now):
    sign_up(client)
    (link,) = emailed_links(app, session, now)
    assert link.startswith("/verify/")
    response = client.get(link, follow_redirects=True)
    assert "Your email address is confirmed" in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(User)).email_verified_at is not None
    assert client.get("/account").status_code == 200


def test_a_tampered_confirmation_link_is_refused(app, client, session, now):
    sign_up(client)
    (link,) = emailed_links(app, session, now)
    assert client.get(link[:-2] + "xx").status_code == 404
    assert session.scalar(select(User)).email_verified_at is None


def test_an_unconfirmed_account_may_not_join_or_bid(client, session, now):
    pool = factories.open_pool(session, now=now)
    member = factories.user(session, now=now, email_verified_at=None)
    vendor = factories.vendor(session, now=now, email_verified_at=None)
    join = client.put(f"/api/v1/pools/{pool.id}/commitment", json={"quantity": 1, "max_unit_price": "5"},
                      headers=factories.token(session, member, now=now))  # fmt: skip
    bid = client.post(f"/api/v1/pools/{pool.id}/bids", json={"tiers": [{"min_quantity": 1, "unit_price": "5"}],
                      "capacity": 10}, headers=factories.token(session, vendor, now=now))  # fmt: skip
    assert (join.status_code, bid.status_code) == (403, 403)
    assert "Confirm your email address" in join.get_json()["message"]


def test_a_reset_link_sets_a_new_password_once_and_ends_other_sessions(app, client, session, now):
    member = factories.user(session, now=now, email="m@example.com")
    other_device = app.test_client()
    log_in(other_device, "m@example.com")
    response = submit(client, "/password/forgot", "/password/forgot", {"email": "m@example.com"}, follow=True)
    assert "If m@example.com has an account" in response.get_data(as_text=True)
    (link,) = emailed_links(app, session, now)
    form = {"new_password": "a brand new secret", "csrf_token": csrf_from(client, link)}
    assert client.post(link, data=form).status_code == 302
    assert other_device.get("/account").status_code == 302  # logged out there
    again = client.post(link, data={"new_password": "yet another secret", "csrf_token": csrf_from(client, "/")})
    assert again.status_code == 404  # used once
    session.expire_all()
    fresh = app.test_client()
    log_in(fresh, member.email, "a brand new secret")


def test_a_reset_for_an_unknown_address_answers_the_same_and_sends_nothing(app, client, session, now):
    response = submit(client, "/password/forgot", "/password/forgot", {"email": "nobody@example.com"}, follow=True)
    assert "If nobody@example.com has an account" in response.get_data(as_text=True)
    assert emailed_links(app, session, now) == []


def test_a_reset_link_expires_after_an_hour(app, session, now, monkeypatch):
    import time

    from app.accounts import links

    member = factories.user(session, now=now)
    token = links.make(app.config["SECRET_KEY"], links.RESET_PASSWORD, member)
    later = time.time() + 3601
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(links.InvalidLink):
        links.read(app.config["SECRET_KEY"], links.RESET_PASSWORD, token)


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(app, client, session, now):
    member = factories.user(session, now=now, email="m@example.com")
    log_in(client, member.email)
    other_device = app.test_client()
    log_in(other_device, member.email)
    wrong = submit(client, "/account", "/account/password",
                   {"current_password": "not it at all", "new_password": "a brand new secret"})  # fmt: skip
    assert wrong.status_code == 400 and "Wrong password." in wrong.get_data(as_text=True)
    right = submit(client, "/account", "/account/password",
                   {"current_password": factories.PASSWORD, "new_password": "a brand new secret"})  # fmt: skip
    assert right.status_code == 302
    assert client.get("/account").status_code == 200  # still logged in here
    assert other_device.get("/account").status_code == 302  # not there


def test_changing_the_password_over_the_api(client, session, now):
    member = factories.user(session, now=now)
    auth = factories.token(session, member, now=now)
    body = {"current_password": factories.PASSWORD, "new_password": "a brand new secret"}
    assert client.post("/api/v1/users/me/password", json=body, headers=auth).status_code == 204
    again = client.post("/api/v1/users/me/password", json=body, headers=auth)
    assert again.status_code == 422 and list(again.get_json()["errors"]) == ["current_password"]


def test_sign_ups_are_rate_limited_per_client_whatever_it_forwards(database_url, clean_db):
    limited = create_app({"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url,
                          "RATELIMIT_LOGIN": "2 per minute"})  # fmt: skip
    limiter.reset()
    client = limited.test_client()
    statuses = [
        client.post("/api/v1/users", json={"email": f"u{n}@example.com", "password": "long enough pw",
                                           "display_name": "U"}, headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code
        for n in range(3)
    ]  # fmt: skip
    assert statuses == [202, 202, 429]
    limiter.reset()
