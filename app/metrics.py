"""Prometheus metrics: what `/metrics` exposes (app.web.ops). Core: imports no domain.

With several worker processes, set `PROMETHEUS_MULTIPROC_DIR` to an empty directory shared by the
web workers and the scheduler on a host (prometheus_client's multiprocess mode): `/metrics` then adds
up every process's figures. Without it each process reports its own.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "buyswarm_request_seconds",
    "Time to answer a request, by route (the URL rule, not the path), method and status class.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
JOB_RUNS = Counter(
    "buyswarm_job_runs_total", "Scheduler job runs, by job and outcome (ok or error).", ["job", "outcome"]
)
JOB_SECONDS = Histogram(
    "buyswarm_job_seconds",
    "Time a scheduler job run took, by job.",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
JOB_ITEMS = Counter(
    "buyswarm_job_items_total",
    "What scheduler jobs handled, by job and kind (pools settled, refunds made, payouts paid, ...).",
    ["job", "kind"],
)
