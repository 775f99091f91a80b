"""Close and settle many pools with the offline gateway on PostgreSQL, next to the same ledger
inserts done as raw SQL in the same run.

Run: .venv/bin/python bench/settlement.py [--pools 2000] [--members 50] [--budget 90] [--processes 1]
(or python -m bench.settlement). Starts a throwaway durable PostgreSQL (fsync and synchronous_commit
on), builds the schema with `flask --app wsgi db upgrade`, and bulk-loads with COPY (not measured)
open pools that are already due, each with --members commitments (1-3 units, maximum 100.00)
and one bid at 90.00 per unit that serves them all. Then:

  warm-up  the first 5 pools go through the app path with every SQL statement and commit
           counted and timed: where the time goes, per pool closed and per payment
  app      app.bids.jobs.close_due_pools and app.payments.jobs.settle_awarded_pools with the
           offline gateway, a batch at a time, each in its own thread of one process, as the
           scheduler's thread pool runs the close-due-pools and settle-pools jobs (or in each
           of --processes N), until every pool is settled or --budget seconds have passed; a
           partial run reports the pools it finished
  raw SQL  for the same payments, with psycopg 3 executemany in one process: the two ledger legs
           of each capture and the payment row's update, committed every 500 payments
  escrow   then every tenth line of those pools gets a decided partial refund (half the line, as a
           resolved dispute leaves it; set up in SQL, not measured), the clock moves past the
           dispute window, and app.payments.jobs.refund_due and release_due_escrow run until every
           line is refunded and released and every payout is paid: refunds one gateway call each,
           releases of whole pools at a time, one payout per vendor
  raw SQL  the same escrow postings (a refund's two legs, a release's three, a payout's two per
           line) and the lines' updates, with executemany, committed every 500 lines

Every measured phase starts right after a CHECKPOINT, so that none pays for flushing the pages
another (or the seeding) dirtied.

Target: the app's rate in ledger rows per second, charging and escrow together, at least a third
of the raw rate. Figures drift between machines; the ratio is what to compare.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import psycopg  # noqa: E402
from sqlalchemy import Engine, event  # noqa: E402

from bench._pg import copy_rows, psycopg_url  # noqa: E402
from tests import pg_server  # noqa: E402

TARGET_RATIO = 1 / 3
# Pools closed, then settled, per round of the app phase (the budget is checked between rounds): one
# batch of each sweeper, as the scheduler's sweeps run them (app.bids.jobs.BATCH, app.payments.jobs.SETTLE_BATCH).
CHUNK = 20
WARMUP_POOLS = 5  # closed and settled first with every statement timed; not in the rates
RAW_BATCH = 500  # payments per commit in the raw baseline: 1,000 ledger rows
BID_PRICE, MAX_PRICE = "90.0000", "100.0000"
CAPACITY = 1_000_000  # units: every bid serves its whole pool
START = datetime.now(UTC).replace(microsecond=0)

INSERT_LEG = (
    "INSERT INTO ledger_entries (pool_id, posting_key, account, amount_minor, currency, memo, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
UPDATE_PAYMENT = (
    "UPDATE payments SET status = 'succeeded', gateway_ref = %s, action_url = NULL, next_attempt_at = NULL,"
    " updated_at = %s WHERE id = %s"
)


# Setup (not measured) -----------------------------------------------------------------------------


def migrate(url: str) -> None:
    """Build the schema the way operators do: `flask --app wsgi db upgrade`."""
    env = {**os.environ, "DATABASE_URL": url, "BUYSWARM_ENV": "development", "PAYMENT_GATEWAY": "offline"}
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run([str(flask), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"flask --app wsgi db upgrade failed:\n{done.stdout.decode()}{done.stderr.decode()}")


def seed(url: str, pools: int, members: int) -> int:
    """COPY in open, due pools with `members` commitments and one bid each; return the commitments."""
    people = max(members, pools * members // 5)  # each member is in about five pools
    vendors = 20
    with psycopg.connect(psycopg_url(url)) as conn, conn.cursor() as cur:
        copy_rows(
            cur,
            "users (email, password_hash, display_name, created_at, is_admin, is_active_account, session_token,"
            " email_verified_at, is_dispute_operator)",
            (
                (f"user{n}@bench.example", "x", f"User {n}", START, False, True, f"bench-session-{n}", START, False)
                for n in range(1 + vendors + people)
            ),
        )
        ids = [row[0] for row in cur.execute("SELECT id FROM users ORDER BY id")]
        organiser, vendor_ids, member_ids = ids[0], ids[1 : 1 + vendors], ids[1 + vendors :]
        copy_rows(
            cur,
            "vendor_profiles (user_id, legal_name, categories, description, created_at)",
            ((v, f"Vendor {v} Ltd", '["solar"]', "", START) for v in vendor_ids),
        )
        quantities = [[1 + (p + j) % 3 for j in range(members)] for p in range(pools)]
        copy_rows(cur, _POOL_COLUMNS, (_pool_row(p, organiser, members, sum(quantities[p])) for p in range(pools)))
        pool_ids = [row[0] for row in cur.execute("SELECT id FROM pools ORDER BY id")]
        copy_rows(
            cur,
            "commitments (pool_id, member_id, quantity, max_unit_price, smaller_points, status, created_at, joined_at,"
            " updated_at)",
            (
                (
                    pool_id,
                    member_ids[(p * members + j) % people],
                    quantities[p][j],
                    MAX_PRICE,
                    "[]",
                    "active",
                    *_times(j),
                )
                for p, pool_id in enumerate(pool_ids)
                for j in range(members)
            ),
        )
        tiers, bid_at = f'[{{"min_quantity": 1, "unit_price": "{BID_PRICE}"}}]', START - timedelta(days=1)
        copy_rows(
            cur,
            "bids (pool_id, vendor_id, tiers, capacity, delivery_window, notes, status, demand_at_bid,"
            " took_lead, extended_close, created_at)",
            (
                (
                    pool_id,
                    vendor_ids[p % vendors],
                    tiers,
                    CAPACITY,
                    "",
                    "",
                    "active",
                    sum(quantities[p]),
                    True,
                    False,
                    bid_at,
                )
                for p, pool_id in enumerate(pool_ids)
            ),
        )
        cur.execute("ANALYZE")
    return pools * members


_POOL_COLUMNS = (
    "pools (title, description, category, unit, currency, min_quantity, opens_at, closes_at, auction_kind,"
    " min_decrement_pct, soft_close_minutes, max_extensions, extensions_used, award_rule, visibility, status,"
    " organiser_id, committed_quantity, member_count, created_at, updated_at, published_at, max_per_member,"
    " link_token, close_failures, delivery_to_organiser, award_mode, needs_address, allow_unverified_vendors)"
)


def _pool_row(p: int, organiser: int, members: int, committed: int) -> tuple[Any, ...]:
    opened = START - timedelta(days=8)
    closes_at = START - timedelta(hours=1) + timedelta(milliseconds=p)  # due, oldest first in id order
    return (
        f"Bench pool {p}",
        "",
        "solar",
        "install",
        "GBP",
        members,
        opened,
        closes_at,
        "open",
        "1.00",
        10,
        3,
        0,
        "lowest_price",
        "public",
        "open",
        organiser,
        committed,
        members,
        opened,
        opened,
        opened,
        members * 3,  # no member is near the per-member cap
        f"bench-link-{p}",
        0,
        False,
        "split",  # what new pools clear by
        False,
        True,
    )


def _times(j: int) -> tuple[datetime, datetime, datetime]:
    joined = START - timedelta(days=7) + timedelta(seconds=j)
    return joined, joined, joined


# The app path -----------------------------------------------------------------------------------


@dataclass
class Tally:
    count: int = 0
    seconds: float = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds


@dataclass
class Meter:
    """Every SQL statement, COPY and commit one engine runs, by phase and statement shape, with wall time."""

    phase: str = "close"
    seconds: dict[str, float] = field(default_factory=dict)  # phase -> wall time of the phase
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)  # (phase, shape) -> tally
    _started: list[float] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        """Count and time every statement and every DBAPI commit of the engine."""
        event.listen(engine, "before_cursor_execute", lambda *a: self._started.append(time.perf_counter()))
        event.listen(engine, "after_cursor_execute", self._after)
        dialect, do_commit = engine.dialect, engine.dialect.do_commit

        def timed_commit(dbapi_connection: Any) -> None:
            started = time.perf_counter()
            do_commit(dbapi_connection)
            self._tally("COMMIT").add(time.perf_counter() - started)

        dialect.do_commit = timed_commit  # type: ignore[method-assign]

    @contextmanager
    def copies(self) -> Iterator[None]:
        """Count and time the COPYs of app.db.bulk.insert_rows too (they bypass SQLAlchemy's events)."""
        import app.db.bulk

        copy_rows = app.db.bulk._copy_rows

        def timed_copy(session: Any, table: Any, rows: Any) -> None:
            started = time.perf_counter()
            copy_rows(session, table, rows)
            self._tally(f"COPY {table.name}").add(time.perf_counter() - started)

        app.db.bulk._copy_rows = timed_copy
        try:
            yield
        finally:
            app.db.bulk._copy_rows = copy_rows

    def _after(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self._tally(shape(statement)).add(time.perf_counter() - self._started.pop())

    def _tally(self, shape: str) -> Tally:
        return self.tallies.setdefault((self.phase, shape), Tally())

    def of(self, phase: str) -> dict[str, Tally]:
        return {shape: t for (p, shape), t in self.tallies.items() if p == phase}


def shape(statement: str) -> str:
    """A statement's verb and first table, e.g. "SELECT payments FOR UPDATE"."""
    verb = statement.split(None, 1)[0].upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", statement, re.I)
    locked = " FOR UPDATE" + (" SKIP LOCKED" if "SKIP LOCKED" in statement else "") if "FOR UPDATE" in statement else ""
    return f"{verb} {table.group(1) if table else '?'}{locked}"


@dataclass
class AppRun:
    pools: int = 0  # settled
    close_seconds: float = 0.0  # time the close sweeper was busy (it overlaps the settle sweeper's)
    settle_seconds: float = 0.0
    wall_seconds: float = 0.0  # from the start to the end of the last sweep (of the last process)
    profile: pstats.Stats | None = None

    @property
    def seconds(self) -> float:
        return self.wall_seconds


def make_app(url: str) -> Any:
    """The application on the bench database, as the scheduler process builds it."""
    import logging

    from app.web import create_app

    os.environ.setdefault("BUYSWARM_ENV", "development")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PAYMENT_GATEWAY": "offline"})
    logging.getLogger().setLevel(logging.WARNING)
    return app


def sweep(app: Any, *, pools: int, budget: float, profile: bool = False) -> AppRun:
    """Run the close and the settle sweepers at once until `pools` are settled or the budget ends.

    Two threads of one process, as the scheduler's thread pool runs its close-due-pools and
    settle-pools jobs: while one waits on the database, the other runs Python.
    """
    from app.bids.jobs import close_due_pools
    from app.clock import utcnow
    from app.payments.jobs import settle_awarded_pools
    from app.payments.offline import OfflineGateway
    from app.reputation.scores import price_factors
    from app.web.extensions import db

    run, deadline, closing_done = AppRun(), time.perf_counter() + budget, threading.Event()
    profiles: list[cProfile.Profile] = []

    def work(job: Callable[[Any], int], done: Callable[[int, bool], bool], busy: str) -> None:
        profiler = cProfile.Profile() if profile else None
        with app.app_context():
            session = db.session()
            if profiler is not None:
                profiler.enable()
            try:
                while time.perf_counter() < deadline:
                    closing_was_done, started = closing_done.is_set(), time.perf_counter()
                    handled = job(session)
                    setattr(run, busy, getattr(run, busy) + time.perf_counter() - started)
                    if done(handled, closing_was_done):
                        break
                    if not handled:
                        time.sleep(0.005)  # the settle sweeper waits for the next closed batch
            finally:
                if profiler is not None:
                    profiler.disable()
                    profiles.append(profiler)
                db.session.remove()
                if busy == "close_seconds":
                    closing_done.set()

    def settled(handled: int, closing_was_done: bool) -> bool:
        run.pools += handled
        return run.pools >= pools or (not handled and closing_was_done)

    def close(session: Any) -> int:
        return close_due_pools(session, now=utcnow(), limit=CHUNK, price_factors=price_factors)

    def settle(session: Any) -> int:
        return settle_awarded_pools(session, gateway, now=utcnow(), limit=CHUNK)

    gateway, started = OfflineGateway(), time.perf_counter()
    threads = [
        threading.Thread(target=work, args=(close, lambda handled, _: not handled, "close_seconds")),
        threading.Thread(target=work, args=(settle, settled, "settle_seconds")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.wall_seconds = time.perf_counter() - started
    if profiles:
        stats = pstats.Stats(profiles[0], stream=io.StringIO())
        for other in profiles[1:]:
            stats.add(other)
        run.profile = stats
    with app.app_context():
        db.engine.dispose()
    return run


def warm_up(url: str) -> tuple[int, Meter]:
    """Close, then settle, the first pools with every statement, COPY and commit counted and timed."""
    from app.bids.jobs import close_due_pools
    from app.clock import utcnow
    from app.payments.jobs import settle_awarded_pools
    from app.payments.offline import OfflineGateway
    from app.reputation.scores import price_factors
    from app.web.extensions import db

    app, meter, pools = make_app(url), Meter(), 0
    with app.app_context():
        meter.attach(db.engine)
        session = db.session()
        with meter.copies():
            for phase in ("close", "settle"):
                meter.phase, started = phase, time.perf_counter()
                if phase == "close":
                    pools = close_due_pools(session, now=utcnow(), limit=WARMUP_POOLS, price_factors=price_factors)
                else:
                    settle_awarded_pools(session, OfflineGateway(), now=utcnow(), limit=WARMUP_POOLS)
                meter.seconds[phase] = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    return pools, meter


def _worker(url: str, pools: int, budget: float, start_at: float, results: Any) -> None:
    app = make_app(url)
    while time.time() < start_at:
        time.sleep(0.001)
    run = sweep(app, pools=pools, budget=budget)
    results.put((run.close_seconds, run.settle_seconds, time.time()))


def sweep_in_processes(url: str, *, pools: int, budget: float, processes: int) -> AppRun:
    """The app phase in N processes at once, as N scheduler processes would run it."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 8.0  # every process has imported the app and connected by then
    workers = [context.Process(target=_worker, args=(url, pools, budget, start_at, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=budget + 120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    run = AppRun(wall_seconds=max(end for _, _, end in outcomes) - start_at)
    run.close_seconds = sum(close for close, _, _ in outcomes)
    run.settle_seconds = sum(settle for _, settle, _ in outcomes)
    return run


def checkpoint(url: str) -> None:
    """Flush every dirty page: each measured phase starts clean, neither pays for the other's writes."""
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def settled_pools(url: str) -> set[int]:
    with psycopg.connect(psycopg_url(url)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM pools WHERE status = 'settled'")}


def captured_payments(url: str, pools: set[int]) -> list[tuple[Any, ...]]:
    """The captured payments of these pools: what the raw baseline posts again."""
    with psycopg.connect(psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT id, pool_id, member_id, commitment_id, amount_minor, currency FROM payments"
            " WHERE status = 'succeeded' ORDER BY id"
        ).fetchall()
    return [row for row in rows if row[1] in pools]


# The raw baseline ---------------------------------------------------------------------------------


def raw_ledger(url: str, payments: list[tuple[Any, ...]]) -> float:
    """Insert two ledger legs and update the payment row per payment; return the seconds taken."""
    now = datetime.now(UTC)
    with psycopg.connect(psycopg_url(url)) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        for i in range(0, len(payments), RAW_BATCH):
            batch = payments[i : i + RAW_BATCH]
            legs = []
            for payment_id, pool_id, member_id, commitment_id, amount, currency in batch:
                key, memo = f"raw-payment-{payment_id}-captured", f"member {member_id} paid for {commitment_id}"
                legs.append((pool_id, key, "escrow", amount, currency, memo, now))
                legs.append((pool_id, key, "member_payments", -amount, currency, memo, now))
            cur.executemany(INSERT_LEG, legs)
            cur.executemany(UPDATE_PAYMENT, [(f"off_pi_raw{p[0]}", now, p[0]) for p in batch])
            conn.commit()
        return time.perf_counter() - started


# The escrow phase ---------------------------------------------------------------------------------

REFUND_EVERY = 10  # every tenth line gets a decided partial refund


def decide_refunds(url: str, pools: set[int]) -> int:
    """Test setup: a decided partial refund (half the line) on every tenth line, as a resolved
    dispute leaves it; return how many."""
    with psycopg.connect(psycopg_url(url)) as conn:
        done = conn.execute(
            "UPDATE payments SET refund_due_minor = amount_minor / 2 WHERE status = 'succeeded'"
            f" AND id %% {REFUND_EVERY} = 0 AND pool_id = ANY(%s)",
            (sorted(pools),),
        ).rowcount
        conn.commit()
    return done


def ledger_rows(url: str) -> int:
    with psycopg.connect(psycopg_url(url)) as conn:
        return int(conn.execute("SELECT count(*) FROM ledger_entries").fetchone()[0])


def sweep_escrow(app: Any, *, budget: float) -> float:
    """Refund, release and pay out until nothing is left (or the budget ends); return the seconds."""
    from app.payments import jobs
    from app.payments.offline import OfflineGateway
    from app.payments.rules import EscrowTerms
    from app.web.extensions import db

    terms, gateway = EscrowTerms(), OfflineGateway()
    later = START + terms.window + timedelta(days=1)  # every line's dispute window has passed
    started = time.perf_counter()
    with app.app_context():
        session = db.session()
        while time.perf_counter() - started < budget:
            refunded = jobs.refund_due(session, gateway, now=later, limit=500)
            released = jobs.release_due_escrow(session, gateway, now=later, terms=terms, limit=200)
            if not refunded and not released and not jobs.pay_out_pending(session, gateway, now=later):
                break
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - started


def escrow_lines(url: str, pools: set[int]) -> list[tuple[Any, ...]]:
    """The lines of these pools as the escrow phase left them: what the raw baseline posts again."""
    with psycopg.connect(psycopg_url(url)) as conn:
        rows = conn.execute(
            "SELECT id, pool_id, member_id, vendor_id, currency, refunded_minor, released_minor, fee_minor"
            " FROM payments WHERE status IN ('succeeded', 'refunded') AND pool_id = ANY(%s) ORDER BY id",
            (sorted(pools),),
        ).fetchall()
    return rows


UPDATE_LINE = (
    "UPDATE payments SET refunded_minor = %s, released_minor = %s, fee_minor = %s, released_at = %s,"
    " released_by = 'window', paid_out_at = %s, updated_at = %s WHERE id = %s"
)


def raw_escrow(url: str, lines: list[tuple[Any, ...]]) -> tuple[float, int]:
    """Insert each line's refund, release and payout legs and update the line; return (seconds, rows)."""
    now, rows = datetime.now(UTC), 0
    with psycopg.connect(psycopg_url(url)) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        for i in range(0, len(lines), RAW_BATCH):
            legs, updates = [], []
            for line_id, pool_id, member_id, vendor_id, currency, refunded, released, fee in lines[i : i + RAW_BATCH]:
                key, memo = f"raw-payment-{line_id}", f"line of member {member_id} to vendor {vendor_id}"
                if refunded:
                    legs += [(pool_id, f"{key}-refunded", "escrow", -refunded, currency, memo, now),
                             (pool_id, f"{key}-refunded", "refunds", refunded, currency, memo, now)]  # fmt: skip
                released_legs = [("escrow", -released), ("vendor_payable", released - fee), ("platform_fee", fee)]
                paid_legs = [("vendor_payable", fee - released), ("vendor_payouts", released - fee)]
                legs += [(pool_id, f"{key}-released", a, n, currency, memo, now) for a, n in released_legs]
                legs += [(pool_id, f"{key}-paid-out", a, n, currency, memo, now) for a, n in paid_legs]
                updates.append((refunded, released, fee, now, now, now, line_id))
            cur.executemany(INSERT_LEG, legs)
            cur.executemany(UPDATE_LINE, updates)
            conn.commit()
            rows += len(legs)
        return time.perf_counter() - started, rows


# Report ------------------------------------------------------------------------------------------


def report(args: argparse.Namespace, run: AppRun, payments: int, raw_seconds: float) -> None:
    """Print the table: app phases, the raw baseline and their ratio."""
    measured = args.pools - WARMUP_POOLS
    print(f"\nclose and settle {run.pools} of {measured} pools (after {WARMUP_POOLS} warm-up pools), ", end="")
    print(f"{args.members} members each, offline gateway, PostgreSQL durable (fsync on),")
    print(f"{args.processes} app process(es), {os.cpu_count()} cores")
    if run.pools < measured:
        print(f"PARTIAL: the --budget of {args.budget:g} s ran out; the rates are over the pools finished")
    print(f"{'':28}{'seconds':>9}{'pools/s':>9}{'members/s':>11}{'ledger rows/s':>15}")
    phases = [("app: close_due_pools", run.close_seconds), ("app: settle_awarded_pools", run.settle_seconds)]
    if args.processes == 1:
        for label, seconds in phases:  # each sweeper's busy time; the two overlap
            print(f"{label:28}{seconds:9.1f}{run.pools / seconds:9.1f}{payments / seconds:11.0f}")
    app_rate, raw_rate = 2 * payments / run.seconds, 2 * payments / raw_seconds
    print(f"{'app: close + settle':28}{run.seconds:9.1f}{run.pools / run.seconds:9.1f}", end="")
    print(f"{payments / run.seconds:11.0f}{app_rate:15.0f}")
    print(f"{'raw SQL, executemany':28}{raw_seconds:9.1f}{'':9}{payments / raw_seconds:11.0f}{raw_rate:15.0f}")
    verdict = "PASS" if app_rate / raw_rate >= TARGET_RATIO else "FALL SHORT"
    print(f"ratio app / raw: {app_rate / raw_rate:.3f}   target >= {TARGET_RATIO:.3f}: {verdict}")
    if args.processes == 1:
        print("  (the two sweepers run at once, as in the scheduler: their busy times overlap the wall time)")


def report_escrow(
    run: AppRun, payments: int, raw_seconds: float, app: tuple[int, int, int, float], raw: tuple[int, float]
) -> None:
    """Print the escrow phase, its raw baseline, and the whole run's ratio (charging and escrow)."""
    lines, refunds, rows, seconds = app
    raw_rows, raw_escrow_seconds = raw
    print(f"\nescrow: {lines} lines of those pools released past their window, {refunds} of them partly refunded")
    print(f"{'':28}{'seconds':>9}{'lines/s':>9}{'ledger rows/s':>15}")
    print(f"{'app: refund + release + pay':28}{seconds:9.1f}{lines / seconds:9.0f}{rows / seconds:15.0f}")
    print(f"{'raw SQL, executemany':28}{raw_escrow_seconds:9.1f}{lines / raw_escrow_seconds:9.0f}", end="")
    print(f"{raw_rows / raw_escrow_seconds:15.0f}")
    escrow_ratio = (rows / seconds) / (raw_rows / raw_escrow_seconds)
    print(f"ratio app / raw, escrow: {escrow_ratio:.3f}")
    app_rate = (2 * payments + rows) / (run.seconds + seconds)
    raw_rate = (2 * payments + raw_rows) / (raw_seconds + raw_escrow_seconds)
    verdict = "PASS" if app_rate / raw_rate >= TARGET_RATIO else "FALL SHORT"
    print(f"ratio app / raw, charging and escrow together: {app_rate / raw_rate:.3f}   target >= "
          f"{TARGET_RATIO:.3f}: {verdict}")  # fmt: skip


def report_breakdown(pools: int, meter: Meter, payments: int) -> None:
    """Print where the warm-up's time went: commits, each statement shape, and Python."""
    print(f"\nwhere the time goes: {pools} warm-up pools, {payments} payments, every statement counted and timed")
    for phase in ("close", "settle"):
        seconds, tallies = meter.seconds[phase], meter.of(phase)
        sql = sum(t.seconds for t in tallies.values())
        per = "pool" if phase == "close" else "payment"
        n = pools if phase == "close" else payments
        statements = sum(t.count for shape, t in tallies.items() if shape != "COMMIT")
        commits = tallies.get("COMMIT", Tally()).count
        print(f"  {phase}: {seconds:.2f} s; per {per}: {statements / n:.1f} statements, {commits / n:.2f} commits;")
        print(f"    Python (ORM, app) {(seconds - sql) / seconds:.0%} of the time, the database:")
        for shape_, tally in sorted(tallies.items(), key=lambda item: -item[1].seconds)[:8]:
            share = tally.seconds / seconds
            print(f"    {share:6.0%}  {tally.count / n:5.2f} per {per}  {shape_}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", type=int, default=2000, help="pools to close and settle (default 2000)")
    parser.add_argument("--members", type=int, default=50, help="members per pool (default 50)")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds the app phase may take (default 90)")
    parser.add_argument("--processes", type=int, default=1, help="app processes working at once (default 1)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions of the app phase")
    args = parser.parse_args()
    if args.pools <= WARMUP_POOLS or args.members < 1:
        parser.error(f"--pools must be above {WARMUP_POOLS} and --members at least 1")
    return args


def main() -> None:
    args = parse_args()
    load = os.getloadavg()[0]
    server = pg_server.start(durable=True)
    try:
        url = server.url
        migrate(url)
        started = time.perf_counter()
        seed(url, args.pools, args.members)
        print(f"seeded {args.pools} pools x {args.members} members in {time.perf_counter() - started:.1f} s")
        warm, meter = warm_up(url)
        warm_pools = settled_pools(url)
        assert len(warm_pools) == warm, "every warm-up pool is settled"
        warm_payments = len(captured_payments(url, warm_pools))
        measured = args.pools - WARMUP_POOLS
        checkpoint(url)
        if args.processes > 1:
            run = sweep_in_processes(url, pools=measured, budget=args.budget, processes=args.processes)
        else:
            run = sweep(make_app(url), pools=measured, budget=args.budget, profile=args.profile)
        pools = settled_pools(url) - warm_pools
        run.pools = len(pools)
        payments = captured_payments(url, pools)
        checkpoint(url)
        raw_seconds = raw_ledger(url, payments)
        report(args, run, len(payments), raw_seconds)
        refunds = decide_refunds(url, pools)
        rows_before = ledger_rows(url)
        checkpoint(url)
        escrow_seconds = sweep_escrow(make_app(url), budget=args.budget)
        escrow_rows = ledger_rows(url) - rows_before
        lines = escrow_lines(url, pools)
        checkpoint(url)
        raw_escrow_seconds, raw_rows = raw_escrow(url, lines)
        report_escrow(run, len(payments), raw_seconds, (len(lines), refunds, escrow_rows, escrow_seconds),
                      (raw_rows, raw_escrow_seconds))  # fmt: skip
        print(f"load average before the run: {load:.1f} on {os.cpu_count()} cores (other work skews both rates)")
        report_breakdown(warm, meter, warm_payments)
        if run.profile is not None:
            out = io.StringIO()
            run.profile.stream = out  # type: ignore[attr-defined]
            run.profile.sort_stats("tottime").print_stats(25)
            print(out.getvalue())
    finally:
        server.stop()


if __name__ == "__main__":
    main()
