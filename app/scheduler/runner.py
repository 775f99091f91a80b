"""Run the scheduler: `flask --app wsgi scheduler run` (a BlockingScheduler in its own process).

The job store lives in the application's database (table apscheduler_jobs), so the schedule
survives restarts. Correctness does not depend on it: every job is a sweeper that claims its
work with row locks, so several scheduler processes can run against one database.
"""

from __future__ import annotations

import logging
import signal
from time import perf_counter
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from app.clock import utcnow
from app.metrics import JOB_ITEMS, JOB_RUNS, JOB_SECONDS
from app.scheduler.jobs import JOBS, JOBS_BY_ID
from app.web.extensions import db

log = logging.getLogger(__name__)
_app: Flask | None = None  # the process's app, set by run(); jobs are stored by name, not by object

JOB_DEFAULTS = {
    # A late run is still worth doing: the default grace of 1 s silently drops runs that start
    # late (after a pause, a slow job or downtime). Sweepers are idempotent, so run them anyway.
    "misfire_grace_time": None,
    # After downtime, run a missed job once, not once per missed interval: one sweep catches up.
    "coalesce": True,
    # One copy of a job at a time in this process; other processes are kept apart by row locks.
    "max_instances": 1,
}


def run_job(job_id: str) -> int:
    """Run one job in an app context with a fresh session; log and return how much it handled."""
    assert _app is not None, "run_job is called by the scheduler started with run()"
    job = JOBS_BY_ID[job_id]
    started = perf_counter()
    with _app.app_context():
        try:
            result = job.func(db.session(), _app.config, now=utcnow())
        except Exception:
            JOB_RUNS.labels(job_id, "error").inc()
            raise
        finally:
            db.session.remove()
            JOB_SECONDS.labels(job_id).observe(perf_counter() - started)
    JOB_RUNS.labels(job_id, "ok").inc()
    counts = result if isinstance(result, dict) else {"items": result}  # settle-pools says what it did
    for kind, count in counts.items():
        JOB_ITEMS.labels(job_id, kind).inc(int(count))
    handled = sum(int(count) for count in counts.values())
    if handled:
        log.info("job %s handled %d item(s)", job_id, handled)
    return handled


def build_scheduler(app: Flask) -> BlockingScheduler:
    """A scheduler with the app's database as job store and every job of JOBS registered.

    Every job's first run is now: after downtime, due pools close within seconds of the start.
    """
    global _app
    _app = app
    with app.app_context():
        store = SQLAlchemyJobStore(engine=db.engine, tablename="apscheduler_jobs")
    scheduler = BlockingScheduler(jobstores={"default": store}, job_defaults=JOB_DEFAULTS, timezone="UTC")
    for job in JOBS:
        scheduler.add_job(
            run_job,
            job.trigger,
            args=[job.id],
            id=job.id,
            name=job.id,
            replace_existing=True,
            **({"next_run_time": utcnow()} if job.at_start else {}),
            **job.trigger_args,
        )
    return scheduler


def run(app: Flask, **_: Any) -> None:
    """Start the blocking scheduler (until interrupted)."""
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)  # one line per run is noise
    scheduler = build_scheduler(app)
    stop_on_signals(scheduler)
    log.info("scheduler starting with jobs: %s", ", ".join(job.id for job in JOBS))
    scheduler.start()


def stop_on_signals(scheduler: BlockingScheduler) -> None:
    """Stop gracefully on SIGTERM (systemd, Docker, a deploy) and SIGINT: running jobs finish first.

    Python's default for SIGTERM ends the process at once. Sweepers are crash-safe, so nothing
    would be lost, but a run cut between its last commit and its report leaves work done that no
    log line accounts for, and a charge cut mid-call waits for its lease before it is retried.
    """

    def stop(signum: int, _frame: object) -> None:
        log.info("scheduler stopping on %s; running jobs finish first", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
