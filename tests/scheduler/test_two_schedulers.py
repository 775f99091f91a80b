"""Real scheduler processes (`flask --app wsgi scheduler run`) against one PostgreSQL database.

docs/domain.md, "The scheduler": correctness never depends on only one scheduler running, and a missed run
is caught by the next sweep. These tests start the scheduler exactly as operators do, in child
processes with the offline gateway, and check the database afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.orm import Session

from app.bids import award
from app.payments import jobs as payment_jobs
from app.payments.offline import OfflineGateway
from app.reputation.scores import price_factors
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
FLASK = Path(sys.executable).with_name("flask")
POOLS = 60
# Per pool: four members the winning bid (90 per unit) serves, one whose maximum is below it.
SERVED = (("100", 1), ("100", 2), ("95", 3), ("90", 1))
UNDERPRICED = ("50", 2)
HANDLED = re.compile(r"job (\S+) handled (\d+) item")


def _awardable_pools(session: Session, now: datetime, count: int) -> list[int]:
    """Open pools with served and unserved members and one bid, closing in an hour."""
    organiser = factories.user(session, now=now)
    vendor = factories.vendor(session, now=now)
    members = [factories.user(session, now=now) for _ in range(len(SERVED) + 1)]
    ids = []
    for _ in range(count):
        pool = factories.open_pool(
            session, now=now, organiser=organiser, min_quantity=4, closes_at=now + timedelta(hours=1)
        )
        for member, (price, quantity) in zip(members, (*SERVED, UNDERPRICED), strict=True):
            factories.commitment(session, pool=pool, now=now, member=member, quantity=quantity, max_unit_price=price)
        factories.bid(session, pool=pool, now=now, vendor=vendor, curve=((1, "90"),))
        ids.append(pool.id)
    return ids


def _move_deadlines(engine: Engine, pool_ids: Iterable[int], ago: timedelta) -> None:
    """Test setup: put the pools' deadlines in the past (the services refuse a past deadline)."""
    query = text("UPDATE pools SET closes_at = now() - :ago WHERE id IN :ids").bindparams(
        bindparam("ids", expanding=True)
    )
    with engine.begin() as conn:
        conn.execute(query, {"ago": ago, "ids": list(pool_ids)})


def _start_scheduler(database_url: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url,
        "BUYSWARM_ENV": "development",
        "SECRET_KEY": "x",
        "PAYMENT_GATEWAY": "offline",
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(FLASK), "--app", "wsgi", "scheduler", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _stop(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every scheduler, then SIGKILL any that is still running after 10 s."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def _statuses(engine: Engine, pool_ids: list[int]) -> Counter[str]:
    query = text("SELECT status FROM pools WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    with engine.connect() as conn:
        return Counter(conn.scalars(query, {"ids": pool_ids}))


def _handled(log_path: Path) -> Counter[str]:
    """Items each job reported in the process's log (`job close-due-pools handled 7 item(s)`)."""
    counts: Counter[str] = Counter()
    for job_id, n in HANDLED.findall(log_path.read_text(errors="replace")):
        counts[job_id] += int(n)
    return counts


def _tails(paths: Iterable[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_schedulers_close_and_settle_every_pool_exactly_once(session, engine, database_url, now, tmp_path):
    pool_ids = _awardable_pools(session, now, POOLS)
    _move_deadlines(engine, pool_ids, timedelta(minutes=5))
    logs = [tmp_path / "scheduler-a.log", tmp_path / "scheduler-b.log"]
    processes: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    try:
        processes = [_start_scheduler(database_url, log) for log in logs]
        # The settle job runs every 30 s: two of its sweeps, with room to spare, on a slow machine.
        done = _wait_until(lambda: _statuses(engine, pool_ids)["settled"] == POOLS, timeout=150)
        elapsed = time.monotonic() - started
    finally:
        _stop(processes)
    assert done, f"pools by status: {dict(_statuses(engine, pool_ids))}\n{_tails(logs)}"

    with engine.connect() as conn:
        _assert_one_close_and_one_settle_per_pool(conn, pool_ids)
        _assert_one_succeeded_payment_per_award_line(conn, pool_ids)
        _assert_ledgers_balance_and_escrow_holds_the_award(conn, pool_ids)
    for log in logs:
        assert "Traceback" not in log.read_text(errors="replace"), _tails([log])
    per_process = [_handled(log) for log in logs]
    print(f"\n{POOLS} pools closed and settled by two schedulers in {elapsed:.1f} s; work per process: {per_process}")
    assert sum(h["close-due-pools"] for h in per_process) == POOLS, "the close job reports each pool once"
    assert sum(h["settle-pools"] for h in per_process) == POOLS, "the settle job reports each pool once"


def test_a_settle_sweep_reports_only_the_pools_it_settled_itself(session, now):
    """Each settled pool is counted by the one sweep that settled it.

    settle_pool used to return 1 whenever the pool was no longer awarded, also when another
    scheduler had settled it between this sweep's listing and its turn: with two schedulers the
    logs claimed 104 pools settled for 60.
    """
    [pool_id] = _awardable_pools(session, now, 1)
    later = now + timedelta(hours=2)
    award.close_pool(session, pool_id=pool_id, actor=None, now=later, price_factors=price_factors)
    session.commit()
    gateway = OfflineGateway()
    assert payment_jobs.settle_pool(session, gateway, pool_id=pool_id, now=later) == 1
    # A second scheduler listed the pool while it was still awarded; by its turn it is settled.
    assert payment_jobs.settle_pool(session, gateway, pool_id=pool_id, now=later) == 0


def _assert_one_close_and_one_settle_per_pool(conn, pool_ids: list[int]) -> None:
    rows = conn.execute(
        text(
            "SELECT pool_id, action, count(*) FROM audit_events"
            " WHERE action IN ('pool.close', 'pool.settle') GROUP BY pool_id, action"
        )
    ).all()
    counts = {(pool_id, action): n for pool_id, action, n in rows}
    for pool_id in pool_ids:
        assert counts.get((pool_id, "pool.close")) == 1, f"pool {pool_id}: {counts.get((pool_id, 'pool.close'))}"
        assert counts.get((pool_id, "pool.settle")) == 1, f"pool {pool_id}: {counts.get((pool_id, 'pool.settle'))}"
    assert conn.scalar(text("SELECT count(*) FROM awards")) == len(pool_ids)


def _assert_one_succeeded_payment_per_award_line(conn, pool_ids: list[int]) -> None:
    lines = conn.execute(
        text(
            "SELECT al.commitment_id, al.amount_minor, a.pool_id"
            " FROM award_lines al JOIN awards a ON a.id = al.award_id"
        )
    ).all()
    assert len(lines) == len(pool_ids) * len(SERVED)
    payments = conn.execute(
        text("SELECT commitment_id, amount_minor, status, attempts, pool_id FROM payments ORDER BY id")
    ).all()
    by_commitment = Counter(p.commitment_id for p in payments)
    assert len(payments) == len(lines), "a payment for every award line and for nothing else"
    for line in lines:
        assert by_commitment[line.commitment_id] == 1, f"commitment {line.commitment_id}"
    expected = {line.commitment_id: (line.amount_minor, line.pool_id) for line in lines}
    for payment in payments:
        assert (payment.amount_minor, payment.pool_id) == expected[payment.commitment_id]
        # One attempt: a second scheduler never charged a payment the first had leased.
        assert (payment.status, payment.attempts) == ("succeeded", 1), payment
    unserved = conn.execute(text("SELECT status, count(*) FROM commitments GROUP BY status")).all()
    assert dict(unserved) == {"charged": len(lines), "unserved": len(pool_ids)}


def _assert_ledgers_balance_and_escrow_holds_the_award(conn, pool_ids: list[int]) -> None:
    totals = dict(conn.execute(text("SELECT pool_id, sum(amount_minor) FROM ledger_entries GROUP BY pool_id")).all())
    escrow = dict(
        conn.execute(
            text("SELECT pool_id, sum(amount_minor) FROM ledger_entries WHERE account = 'escrow' GROUP BY pool_id")
        ).all()
    )
    awarded = dict(conn.execute(text("SELECT pool_id, total_minor FROM awards")).all())
    lines = dict(
        conn.execute(
            text(
                "SELECT a.pool_id, sum(al.amount_minor) FROM award_lines al"
                " JOIN awards a ON a.id = al.award_id GROUP BY a.pool_id"
            )
        ).all()
    )
    for pool_id in pool_ids:
        assert totals[pool_id] == 0, f"pool {pool_id}'s ledger does not balance"
        assert escrow[pool_id] == lines[pool_id] == awarded[pool_id], f"pool {pool_id}"
    postings = conn.execute(
        text("SELECT posting_key, count(*) FROM ledger_entries GROUP BY posting_key HAVING count(*) <> 2")
    ).all()
    assert postings == [], "every capture is one posting of two legs"
    captures = conn.scalar(text("SELECT count(DISTINCT posting_key) FROM ledger_entries"))
    assert captures == len(pool_ids) * len(SERVED)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_pool_is_closed_within_60_s_of_its_deadline_also_after_the_scheduler_was_down_for_an_hour(
    session, engine, database_url, now, tmp_path
):
    [pool_id] = _awardable_pools(session, now, 1)
    log = tmp_path / "scheduler.log"
    process = _start_scheduler(database_url, log)
    try:
        started = _wait_until(lambda: "scheduler starting" in log.read_text(errors="replace"), timeout=60)
        assert started, f"the scheduler did not start\n{_tails([log])}"
    finally:
        _stop([process])
    assert _statuses(engine, [pool_id]) == {"open": 1}  # not due while the scheduler ran

    # An hour of downtime: the deadline passed an hour ago. Each scheduler keeps its schedule in
    # memory, so a restarted one runs its sweepers at once.
    _move_deadlines(engine, [pool_id], timedelta(hours=1))
    restarted = time.monotonic()
    process = _start_scheduler(database_url, log)
    try:
        closed = _wait_until(lambda: "open" not in _statuses(engine, [pool_id]), timeout=90)
        elapsed = time.monotonic() - restarted
    finally:
        _stop([process])
    assert closed, f"still open 90 s after the restart\n{_tails([log])}"
    print(f"\nafter an hour of downtime the pool closed {elapsed:.1f} s after the scheduler restarted")
    assert elapsed < 60
    assert set(_statuses(engine, [pool_id])) <= {"awarded", "settled"}


@pytest.mark.postgres
def test_one_scheduler_leads_and_another_takes_the_lead_when_it_goes(app, engine, monkeypatch):
    """Once-a-day jobs run on the leader only: the process holding the advisory lock."""
    from app.metrics import JOB_RUNS
    from app.scheduler import runner

    first, second = runner.Leader(engine), runner.Leader(engine)
    try:
        assert first.holds() and first.holds()  # it keeps the lead
        assert not second.holds()
        monkeypatch.setattr(runner, "_app", app)
        monkeypatch.setattr(runner, "_leader", second)  # this process follows: the nightly job is not its
        skipped = JOB_RUNS.labels("recompute-reputation", "not_leader")._value.get()
        assert runner.run_job("recompute-reputation") == 0
        assert JOB_RUNS.labels("recompute-reputation", "not_leader")._value.get() == skipped + 1
        first.release()  # the leader's process dies: its connection, and the lock, go
        assert second.holds()
    finally:
        first.release()
        second.release()
