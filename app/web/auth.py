"""Who is calling: web sessions (flask-login) and bearer API tokens."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError as CsrfInvalid

from app.accounts import service as accounts
from app.accounts.models import User
from app.clock import utcnow
from app.errors import Forbidden, Unauthenticated
from app.web.extensions import db, login_manager

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def init_auth(app: Flask) -> None:
    """Wire flask-login to our users and bearer tokens."""
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.session_protection = "strong"
    login_manager.user_loader(_load_session_user)
    login_manager._session_identifier_generator = _session_identifier  # no public setting exists


def _load_session_user(alternative_id: str) -> User | None:
    """The user a session or remember-me cookie names, if its session token is still the current one."""
    user_id, _, token = alternative_id.partition("-")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() and len(user_id) < 12 else None
    if user is None or not user.is_active or not hmac.compare_digest(token, user.session_token):
        return None
    return user


def _session_identifier() -> str:
    """The "strong" session protection's fingerprint of the client, from its real address.

    Flask-Login's own reads X-Forwarded-For, which any client can set; `request.remote_addr` is the
    peer, or the address the configured number of trusted proxies (ProxyFix) reported.
    """
    base = f"{request.remote_addr}|{request.headers.get('User-Agent', '')}"
    return hashlib.sha512(base.encode()).hexdigest()


def bearer_token() -> str | None:
    """The token from `Authorization: Bearer <token>`, "" when the header names the scheme with no token, else None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def caller() -> User | None:
    """The authenticated user of this request, or None."""
    user = current_user._get_current_object()
    return cast(User, user) if user.is_authenticated else None


def require_user() -> User:
    """Return the caller or raise Unauthenticated (401 on the API)."""
    user = caller()
    if user is None:
        raise Unauthenticated("Log in, or send 'Authorization: Bearer <token>'.")
    return user


def require_vendor() -> User:
    """Return the caller if they have a vendor profile, else raise Forbidden."""
    user = require_user()
    if user.vendor_profile is None:
        raise Forbidden("Only vendors can do this; create a vendor profile first.")
    return user


def api_login_required(view: F) -> F:
    """Refuse API calls without a valid session or bearer token."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        require_user()
        return view(*args, **kwargs)

    return cast(F, wrapper)


def authenticate_api_request() -> None:
    """Authenticate an API call: by its bearer token alone when it sends one, else by the session.

    A token that does not authenticate is refused on every endpoint, public reads included, rather
    than served as anonymous; a session cookie sent beside it counts for nothing. Only a request the
    token really authenticated skips the CSRF check: session-authenticated writes need the
    `X-CSRFToken` header, since the API blueprints are exempt from form CSRF and a browser session
    could otherwise be ridden by a cross-site form post.
    """
    if not request.path.startswith("/api/"):
        return
    plain = bearer_token()
    if plain is not None:
        user = accounts.user_for_token(db.session(), plain, now=utcnow()) if plain else None
        if user is None:
            raise Unauthenticated("The API token is invalid or revoked.")
        g._login_user = user  # flask-login's per-request user: this request is the token's, not the cookie's
        return
    if request.method in SAFE_METHODS or not caller():
        return
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except CsrfInvalid as exc:
        raise CSRFError("Send the X-CSRFToken header with session-authenticated API writes.") from exc
