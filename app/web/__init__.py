"""The HTTP floor: the application factory, which alone puts the domains together for the web.

Nothing below this package imports it (docs/domain.md), so the domains' pure code (the clearing,
the money rules) imports without Flask.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from flask_talisman import Talisman
from werkzeug.middleware.proxy_fix import ProxyFix

from app.web.http import IdConverter, SegmentConverter
from config import load_config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask application; `config` overrides settings from the environment."""
    # Named after the `app` package, so templates, static files and the instance folder are found there.
    app = Flask("app", instance_relative_config=True)
    settings = load_config(config.get("ENV_NAME") if config else None)
    settings.update(config or {})
    app.config.update(settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    _ensure_instance_dir(app)
    _trust_proxies(app)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.url_map.converters["default"] = app.url_map.converters["string"] = SegmentConverter
    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


def _ensure_instance_dir(app: Flask) -> None:
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)


def _trust_proxies(app: Flask) -> None:
    """Believe X-Forwarded-For/Proto/Host/Port from exactly TRUSTED_PROXIES proxies, and nobody else."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)  # type: ignore[method-assign]


def _init_extensions(app: Flask) -> None:
    from app import models  # noqa: F401 - every model registered before mappers configure
    from app.db.base import serialize_sqlite_writers
    from app.web.auth import init_auth
    from app.web.extensions import CONTENT_SECURITY_POLICY, api, csrf, db, limiter, migrate, ping_idle_connections
    from app.web.http import register_error_handlers
    from app.web.templating import init_templating

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            serialize_sqlite_writers(engine)
            ping_idle_connections(engine, app.config["DATABASE_PING_AFTER_IDLE"])
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    Talisman(  # one per app: Talisman keeps its options on itself, not on the app
        app,
        force_https=app.config["FORCE_HTTPS"],
        strict_transport_security=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        frame_options="DENY",
        content_security_policy=CONTENT_SECURITY_POLICY,
        referrer_policy="strict-origin-when-cross-origin",
        x_content_type_options=True,
    )
    limiter.init_app(app)
    api.init_app(app)
    init_auth(app)
    init_templating(app)
    # After api.init_app: our handlers replace flask-smorest's JSON-for-everything handler.
    register_error_handlers(app)


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "migrations"


def _register_blueprints(app: Flask) -> None:
    from app.web.accounts import api as accounts_api
    from app.web.accounts import web as accounts_web
    from app.web.auth import authenticate_api_request
    from app.web.bids import api as bids_api
    from app.web.bids import web as bids_web
    from app.web.extensions import api, csrf
    from app.web.payments import api as payments_api
    from app.web.payments import web as payments_web
    from app.web.pools import api as pools_api
    from app.web.pools import web as pools_web
    from app.web.reputation import api as reputation_api
    from app.web.reputation import web as reputation_web
    from app.web.social import api as social_api
    from app.web.social import web as social_web

    apis = (accounts_api.blp, pools_api.blp, bids_api.blp, payments_api.blp, reputation_api.blp, social_api.blp)
    for blueprint in apis:
        csrf.exempt(blueprint)  # API writes are checked by authenticate_api_request instead
        api.register_blueprint(blueprint)
    app.before_request(authenticate_api_request)
    from app.web.idempotency import init_idempotency

    init_idempotency(app)  # after authentication: a key is its caller's
    app.register_blueprint(accounts_web.bp)
    app.register_blueprint(pools_web.bp)
    app.register_blueprint(bids_web.bp)
    app.register_blueprint(payments_web.bp)
    app.register_blueprint(reputation_web.bp)
    app.register_blueprint(social_web.bp)
    from app.web import ops

    app.register_blueprint(ops.bp)
    ops.init_request_metrics(app)


def _register_cli(app: Flask) -> None:
    from app.cli import register_cli

    register_cli(app)
