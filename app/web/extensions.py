"""Flask extensions, created unbound here and bound in create_app()."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine, event
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.pool import ConnectionPoolEntry

from app.db.base import Base
from app.web.schemas import ErrorOut

F = TypeVar("F", bound=Callable[..., Any])

# Reading after commit would re-select every attribute and cost ~40 % of throughput (docs/performance.md);
# each request gets a fresh session, so nothing stale outlives it.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


class BuyswarmApi(Api):
    """flask-smorest's Api, documenting the one error body every endpoint really sends (app.web.schemas.ErrorOut)."""

    ERROR_SCHEMA = ErrorOut


api = BuyswarmApi()

# The Content-Security-Policy of every page: scripts only from this site (no inline script at all),
# nothing may frame the site, forms post only here. Inline style attributes stay allowed: they
# cannot run code, and the templates use a few for spacing.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def configured_limit(setting: str) -> Callable[[], str]:
    """A rate limit read from the app's configuration when a request is checked ("10 per minute")."""

    def limit() -> str:
        from flask import current_app

        return str(current_app.config[setting])

    limit.__name__ = f"limit_{setting.lower()}"
    return limit


LOGIN_RATE = configured_limit("RATELIMIT_LOGIN")  # logins, sign-ups, token and password requests
BIDDING_RATE = configured_limit("RATELIMIT_BIDDING")  # placed bids, web and API


def rate_limit(limit_value: str | Callable[[], str], **options: Any) -> Callable[[F], F]:
    """`limiter.limit`, at no cost per request while rate limiting is switched off.

    Flask-Limiter still resolves and evaluates a decorated view's limits when RATELIMIT_ENABLED is
    false (about 50 µs a request); with limits on, this is exactly `limiter.limit`.
    """

    def decorate(view: F) -> F:
        limited = limiter.limit(limit_value, **options)(view)

        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            return (limited if limiter.enabled else view)(*args, **kwargs)

        return cast(F, checked)

    return decorate


def ping_idle_connections(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout when it has been idle `idle_seconds` or more.

    The cheap half of `pool_pre_ping` (see SQLALCHEMY_ENGINE_OPTIONS in config): a dead connection
    is replaced, and the pool invalidated, before a request uses it.
    """

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return  # new, or in use moments ago
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError() from exc  # the pool reconnects and retries the checkout
            raise
