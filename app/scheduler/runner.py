"""Run the scheduler: `flask --app wsgi scheduler run` (a BlockingScheduler in its own process).

Each process keeps its own schedule in memory (APScheduler's job stores must never be shared
between schedulers). Correctness does not depend on the schedule: every job is a sweeper that
claims its work with row locks (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so any number of
scheduler processes, on any hosts, can run against one database, and a started process runs its
sweepers at once (after downtime, due pools close within seconds). Once-a-day jobs run on the
leader only: the process holding a PostgreSQL advisory lock on a connection of its own (`Leader`);
when it dies, its connection closes and another process takes the lead at its next try.
"""

from __future__ import annotations

import logging
import signal
from time import perf_counter
from typing import Any

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from app.clock import utcnow
from app.db.locks import lock_key
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


LEADER_LOCK = "scheduler-leader"


class Leader:
    """Whether this process leads the schedulers: it holds a session-level advisory lock on a
    connection kept for that alone. On SQLite (one host) every process leads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None

    def holds(self) -> bool:
        """Take the lead if it is free; True while this process has it."""
        if self.engine.dialect.name != "postgresql":
            return True
        if self.connection is not None:
            try:
                self.connection.execute(text("SELECT 1"))
                return True
            except Exception:
                self.release()
        connection = self.engine.connect()
        key = lock_key(LEADER_LOCK)
        if connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}):
            connection.commit()  # the lock is the session's: it outlives this transaction
            self.connection = connection
            return True
        connection.close()
        return False

    def release(self) -> None:
        """Give the lead up: the connection is closed for real (not returned to the pool), which
        ends its database session and with it the lock."""
        if self.connection is not None:
            try:
                self.connection.invalidate()
            finally:
                self.connection = None


_leader: Leader | None = None


def run_job(job_id: str) -> int:
    """Run one job in an app context with a fresh session; log and return how much it handled."""
    assert _app is not None, "run_job is called by the scheduler started with run()"
    job = JOBS_BY_ID[job_id]
    if job.leader_only:
        global _leader
        with _app.app_context():
            _leader = _leader or Leader(db.engine)
            if not _leader.holds():
                JOB_RUNS.labels(job_id, "not_leader").inc()
                return 0
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
    """A scheduler with its own in-memory schedule and every job of JOBS registered.

    Every sweeper's first run is now: after downtime, due pools close within seconds of the start.
    """
    global _app
    _app = app
    scheduler = BlockingScheduler(jobstores={"default": MemoryJobStore()}, job_defaults=JOB_DEFAULTS, timezone="UTC")
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
