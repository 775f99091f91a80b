"""Account pages: sign up, log in, log out, tokens, vendor profile, CSRF and rate limits."""

from __future__ import annotations

from sqlalchemy import func, select

from app.accounts.models import ApiToken, User
from app.web import create_app
from tests import factories
from tests.web_helpers import log_in, submit


def test_sign_up_asks_the_new_member_to_confirm_the_address(client, session):
    response = submit(
        client,
        "/register",
        "/register",
        {"email": "new@example.com", "display_name": "Newbie", "password": "long enough pw"},
        follow=True,
    )
    assert response.status_code == 200 and response.request.path == "/login"
    assert "We sent a link to new@example.com" in response.get_data(as_text=True)
    assert session.scalar(select(func.count(User.id))) == 1


def test_sign_up_errors_keep_what_was_typed_but_not_the_password(client, session):
    response = submit(
        client, "/register", "/register", {"email": "bad-email", "display_name": "Kept Name", "password": "short"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="Kept Name"' in page and "Not a valid email address." in page
    assert "short" not in page.split("<main")[1]
    assert session.scalar(select(func.count(User.id))) == 0


def test_a_form_without_the_csrf_token_changes_nothing(client, session):
    client.get("/register")  # the visitor has a session cookie
    response = client.post(
        "/register", data={"email": "a@example.com", "display_name": "A", "password": "long enough pw"}
    )
    assert response.status_code == 302
    assert session.scalar(select(func.count(User.id))) == 0


def test_a_cookieless_cross_site_post_is_answered_without_a_session_cookie(client, session):
    response = client.post("/logout", data={})  # what a cross-site form sends when SameSite keeps the cookie back
    assert response.status_code == 400
    assert "Set-Cookie" not in response.headers


def test_wrong_password_is_explained(client, session, now):
    factories.user(session, now=now, email="m@example.com")
    response = submit(client, "/login", "/login", {"email": "m@example.com", "password": "nope nope nope"})
    assert response.status_code == 400
    assert "Wrong email or password." in response.get_data(as_text=True)


def test_log_in_and_out(client, session, now):
    factories.user(session, now=now, email="m@example.com", display_name="Mira")
    log_in(client, "M@Example.com")
    assert "Mira" in client.get("/").get_data(as_text=True)
    submit(client, "/", "/logout")
    assert client.get("/account").status_code == 302


def test_login_redirects_only_to_this_site(client, session, now):
    factories.user(session, now=now, email="m@example.com")
    response = submit(
        client, "/login", "/login?next=//evil.example/", {"email": "m@example.com", "password": factories.PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_tokens_are_created_shown_once_and_revoked(client, session, now):
    factories.user(session, now=now, email="m@example.com")
    log_in(client, "m@example.com")
    refused = submit(client, "/account", "/account/tokens", {"name": "robot", "password": "not my password"})
    assert refused.status_code == 400 and "Wrong password." in refused.get_data(as_text=True)
    page = submit(client, "/account", "/account/tokens", {"name": "robot", "password": factories.PASSWORD})
    page = page.get_data(as_text=True)
    token = session.scalar(select(ApiToken))
    assert token.prefix in page and "will not be shown again" in page
    assert "bsw_" in client.get("/account").get_data(as_text=True)  # the prefix only
    submit(client, "/account", f"/account/tokens/{token.id}/revoke")
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is not None


def test_becoming_a_vendor_on_the_web(client, session, now):
    account = factories.user(session, now=now, email="v@example.com")
    log_in(client, "v@example.com")
    bad = submit(client, "/account", "/account/vendor", {"legal_name": "Sun Ltd"})
    assert bad.status_code == 400 and "Choose at least one category." in bad.get_data(as_text=True)
    client.post(
        "/account/vendor",
        data={"csrf_token": _token(client), "legal_name": "Sun Ltd", "categories": ["solar", "energy"]},
    )
    session.expire_all()
    assert session.get(User, account.id).vendor_profile.categories == ["energy", "solar"]


def _token(client):
    from tests.conftest import csrf_from

    return csrf_from(client, "/account")


def test_login_attempts_are_rate_limited(engine, database_url, session, now):
    from app.web.extensions import limiter

    limited = create_app(
        {"ENV_NAME": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "RATELIMIT_LOGIN": "3 per minute"}
    )
    limiter.reset()
    client = limited.test_client()
    statuses = [
        submit(client, "/login", "/login", {"email": "x@example.com", "password": "wrong"}).status_code
        for _ in range(5)
    ]
    assert statuses[:3] == [400, 400, 400]
    assert statuses[3:] == [429, 429]
