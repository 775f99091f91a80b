"""Operability: liveness (`/healthz`), readiness (`/readyz`) and Prometheus metrics (`/metrics`)."""

from __future__ import annotations

import hmac
import os
from time import perf_counter
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy import text

from app.metrics import REQUEST_SECONDS
from app.web.extensions import db

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    """The process is alive (nothing else is checked: a load balancer restarts on this)."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    """Ready for traffic: the database answers and its schema is at the migrations' head (503 otherwise)."""
    checks: dict[str, str] = {}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
        checks["database"] = "ok"
        heads = set(ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config()).get_heads())
        checks["migrations"] = "ok" if current == heads else f"at {sorted(current)}, head is {sorted(heads)}"
    except Exception as exc:
        checks.setdefault("database", f"unreachable: {type(exc).__name__}")
    ready = all(value == "ok" for value in checks.values()) and len(checks) == 2
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Any:
    """Prometheus metrics, for the scraper holding METRICS_TOKEN (404 to anyone else, and when unset)."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        return {"code": "not_found", "message": "No such page.", "errors": {}}, 404
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def init_request_metrics(app: Flask) -> None:
    """Time every request by its URL rule (bounded labels: never the raw path)."""

    @app.before_request
    def _started() -> None:
        g.started_at = perf_counter()

    @app.after_request
    def _observed(response: Response) -> Response:
        started = g.get("started_at")
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            status = f"{response.status_code // 100}xx"
            REQUEST_SECONDS.labels(route, request.method, status).observe(perf_counter() - started)
        return response
