"""Driving the web pages like a browser without JavaScript: forms with their CSRF token."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests import factories
from tests.conftest import csrf_from


def log_in(client: FlaskClient, email: str, password: str = factories.PASSWORD) -> None:
    """Log in through the login form."""
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_from(client)})
    assert response.status_code == 302, response.get_data(as_text=True)


def submit(
    client: FlaskClient, page: str, action: str, data: dict[str, object] | None = None, follow: bool = False
) -> object:
    """Load `page` for its CSRF token, then post `data` to `action`."""
    form = {"csrf_token": csrf_from(client, page)} | {k: str(v) for k, v in (data or {}).items()}
    return client.post(action, data=form, follow_redirects=follow)
