"""Settings per environment, read from environment variables and validated at start.

`load_config()` picks the class named by BUYSWARM_ENV (development | testing | production) and
returns a plain dict for `app.config`. Nothing else in the code reads `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
DEV_SECRET = "dev-only-not-secret"  # noqa: S105 - refused in production


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def _database_url(env: Mapping[str, str]) -> str:
    url = env.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'buyswarm.sqlite3'}")
    # Heroku-style URLs and bare "postgresql://" both mean psycopg 3 here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def base_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Settings shared by every environment."""
    return {
        "SECRET_KEY": env.get("SECRET_KEY", DEV_SECRET),
        # The bearer token Prometheus scrapes /metrics with; unset, /metrics answers 404 to everyone.
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        # Keys the payout-identity fingerprints (app.accounts.identity). It must never change once
        # vendors have registered, so it is its own setting; unset, it is derived from SECRET_KEY.
        "IDENTITY_KEY": env.get("IDENTITY_KEY") or "identity:" + env.get("SECRET_KEY", DEV_SECRET),
        "SQLALCHEMY_DATABASE_URI": _database_url(env),
        # No pool_pre_ping: it is a round trip on every checkout, i.e. on every request (about 0.1 ms
        # of a web worker's CPU, and PostgreSQL's). Instead a connection is pinged when it comes out
        # of the pool after sitting idle this long (app.web.extensions.ping_idle_connections): that is
        # when a restarted server, idle timeout or firewall has dropped it. A connection that served a
        # request moments ago is as alive as a ping could show; should the server go away under load,
        # SQLAlchemy invalidates the pool on the first disconnect error (that request fails whole).
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "DATABASE_PING_AFTER_IDLE": _int(env, "DATABASE_PING_AFTER_IDLE", 10),  # seconds
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 1_048_576),  # bytes; a larger body is 413 unread
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", False),
        # Proxies in front of the app whose X-Forwarded-* headers are believed (ProxyFix): 0 believes
        # none, so a client cannot choose the address that rate limits and sessions see.
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0),
        # Host names the app answers to (Flask refuses any other Host header with 400), so that links
        # built from the request (invites, share links, payout return URLs) name this site only.
        "TRUSTED_HOSTS": _list(env, "TRUSTED_HOSTS") or None,
        "FORCE_HTTPS": _bool(env, "FORCE_HTTPS", False),  # redirect http to https and send HSTS
        "RATELIMIT_ENABLED": _bool(env, "RATELIMIT_ENABLED", True),
        # Where rate limits are counted: Redis (REDIS_URL) shares the count between every process and
        # host; memory:// counts per process, which is only right for one process.
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or env.get("REDIS_URL") or "memory://",
        "RATELIMIT_LOGIN": env.get("RATELIMIT_LOGIN", "10 per minute"),
        "RATELIMIT_BIDDING": env.get("RATELIMIT_BIDDING", "120 per minute"),
        "PAYMENT_GATEWAY": env.get("PAYMENT_GATEWAY", "offline"),
        "STRIPE_API_KEY": env.get("STRIPE_API_KEY", ""),
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", ""),
        "PLATFORM_FEE_BPS": _int(env, "PLATFORM_FEE_BPS", 500),  # basis points of the payout
        "DISPUTE_WINDOW_DAYS": _int(env, "DISPUTE_WINDOW_DAYS", 14),  # after the charge: then a line is released
        "DISPUTE_ANSWER_DAYS": _int(env, "DISPUTE_ANSWER_DAYS", 3),  # the vendor answers a dispute, or it escalates
        "DISPUTE_ESCALATE_DAYS": _int(env, "DISPUTE_ESCALATE_DAYS", 7),  # unresolved this long, it escalates
        "DECLINE_GRACE_HOURS": _int(env, "DECLINE_GRACE_HOURS", 72),  # to pay with another card after a decline
        "PAGE_SIZE": _int(env, "PAGE_SIZE", 12),
        "MAIL_BACKEND": env.get("MAIL_BACKEND", "console"),  # "console" prints the outbox; "smtp" sends it
        "MAIL_HOST": env.get("MAIL_HOST", "localhost"),
        "MAIL_PORT": _int(env, "MAIL_PORT", 25),
        "MAIL_USERNAME": env.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _bool(env, "MAIL_USE_TLS", False),  # STARTTLS after connecting
        "MAIL_FROM": env.get("MAIL_FROM", "Buyswarm <no-reply@buyswarm.local>"),
        # Where the site is, for links in emails the scheduler sends (confirm your address, reset).
        "SITE_URL": env.get("SITE_URL", "http://127.0.0.1:5000"),
        "API_TITLE": "Buyswarm API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": (
                    "Amounts are integers in minor units; prices are decimal strings. Every write "
                    "(POST, PUT, PATCH, DELETE) takes an optional `Idempotency-Key` header (1 to 255 of "
                    "letters, digits and `._:-`): sent again with the same key and body within 24 hours, "
                    "it answers what the first did (with `Idempotent-Replayed: true`) and writes nothing; "
                    "the same key with another request is 422, a malformed key 400, and a key whose first "
                    "request is still being answered 409."
                )
            }
        },
    }


def load_config(name: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return validated settings for the named environment (default: BUYSWARM_ENV)."""
    env = os.environ if env is None else env
    name = name or env.get("BUYSWARM_ENV", "development")
    settings = base_settings(env)
    if name == "development":
        settings["DEBUG"] = _bool(env, "FLASK_DEBUG", False)
    elif name == "testing":
        # Limits stay on (the limiter is one object shared by every app in a test run); tests that
        # check them build an app with low limits.
        settings.update(
            TESTING=True,
            PAYMENT_GATEWAY="offline",
            RATELIMIT_LOGIN="10000 per minute",
            RATELIMIT_BIDDING="10000 per minute",
        )
        settings["SQLALCHEMY_DATABASE_URI"] = _database_url({"DATABASE_URL": env.get("TEST_DATABASE_URL", "sqlite://")})
    elif name == "production":
        _check_production(env, settings)
        settings["SESSION_COOKIE_SECURE"] = settings["REMEMBER_COOKIE_SECURE"] = True
    else:
        raise ConfigError(f"BUYSWARM_ENV must be development, testing or production, not {name!r}")
    settings["ENV_NAME"] = name
    return settings


def _check_production(env: Mapping[str, str], settings: dict[str, Any]) -> None:
    """Refuse to start production without real secrets."""
    secret = env.get("SECRET_KEY", "")
    if len(secret) < 32 or secret == DEV_SECRET:
        raise ConfigError("production needs SECRET_KEY set to a random string of 32+ characters")
    if "DATABASE_URL" not in env:
        raise ConfigError("production needs DATABASE_URL (PostgreSQL)")
    workers = _int(env, "WEB_CONCURRENCY", 1)  # gunicorn's worker count, when set this way
    if workers > 1 and settings["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        raise ConfigError(
            f"WEB_CONCURRENCY={workers} with rate limits counted in memory would allow {workers} times each "
            "limit: set REDIS_URL (or RATELIMIT_STORAGE_URI) so every process shares one count"
        )
    if not settings["TRUSTED_HOSTS"]:
        raise ConfigError("production needs TRUSTED_HOSTS: the host names the site is served under, comma-separated")
    if settings["PAYMENT_GATEWAY"] == "stripe" and not settings["STRIPE_API_KEY"]:
        raise ConfigError("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY")
