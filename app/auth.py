"""Who is calling: web sessions (flask-login) and bearer API tokens."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError as CsrfInvalid

from app.accounts import service as accounts
from app.accounts.models import User
from app.clock import utcnow
from app.errors import Forbidden, Unauthenticated
from app.extensions import db, login_manager

F = TypeVar("F", bound=Callable[..., Any])
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def init_auth(app: Flask) -> None:
    """Wire flask-login to our users and bearer tokens."""
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.session_protection = "strong"
    login_manager.user_loader(_load_session_user)
    login_manager.request_loader(_load_bearer_user)


def _load_session_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.is_active else None


def _load_bearer_user(req: Any) -> User | None:
    plain = bearer_token()
    if plain is None:
        return None
    return accounts.user_for_token(db.session(), plain, now=utcnow())


def bearer_token() -> str | None:
    """The token from `Authorization: Bearer <token>`, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def caller() -> User | None:
    """The authenticated user of this request, or None."""
    user = current_user._get_current_object()
    return cast(User, user) if user.is_authenticated else None


def require_user() -> User:
    """Return the caller or raise Unauthenticated (401 on the API)."""
    user = caller()
    if user is None:
        if bearer_token() is not None:
            raise Unauthenticated("The API token is invalid or revoked.")
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


def check_api_csrf() -> None:
    """Session-authenticated API writes need the CSRF header; bearer calls do not.

    The API blueprints are exempt from form CSRF, so a browser session could otherwise be
    ridden by a cross-site form post.
    """
    if not request.path.startswith("/api/") or request.method in SAFE_METHODS or bearer_token() is not None:
        return
    if not caller():
        return
    try:
        validate_csrf(request.headers.get("X-CSRFToken"))
    except CsrfInvalid as exc:
        raise CSRFError("Send the X-CSRFToken header with session-authenticated API writes.") from exc
