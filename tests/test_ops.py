"""Liveness, readiness and metrics, as a load balancer and Prometheus meet them."""

from __future__ import annotations

from app.metrics import JOB_RUNS
from app.scheduler import runner


def test_healthz_says_the_process_is_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_checks_the_database_and_the_schema(client):
    body = client.get("/readyz").get_json()
    assert body == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_metrics_need_the_scrapers_token(app, client):
    client.get("/pools")  # one request to count
    assert client.get("/metrics").status_code == 404  # no token configured: nobody reads them
    app.config["METRICS_TOKEN"] = "scrape-secret"
    try:
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
        page = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        text = page.get_data(as_text=True)
        assert (
            page.status_code == 200
            and 'buyswarm_request_seconds_count{method="GET",route="/pools",status="2xx"}' in text
        )
        assert "/pools/1" not in text  # routes are URL rules, never raw paths
    finally:
        app.config["METRICS_TOKEN"] = ""


def test_each_job_run_is_counted_with_its_outcome(app):
    before = JOB_RUNS.labels("reveal-feedback", "ok")._value.get()
    runner._app = app
    runner.run_job("reveal-feedback")
    assert JOB_RUNS.labels("reveal-feedback", "ok")._value.get() == before + 1
