"""Bids per second on one hot pool through the HTTP API, next to the same transaction as raw SQL.

Run: .venv/bin/python bench/bidding.py [--seconds 5] [--rounds 3] [--clients 16] [--workers 4]
(or python -m bench.bidding). Starts a throwaway durable PostgreSQL (fsync on), migrates it, seeds
identical open pools (auction "open", min_decrement_pct 0; two per round) and one vendor per client
through the app's services, then runs --rounds rounds of two phases, each on a fresh pool:
  HTTP    gunicorn sync workers; each client process is one vendor POSTing
          /api/v1/pools/{id}/bids with a strictly falling price, one request at a time (plain
          HTTP/1.1 on a socket: the clients share the cores with the server they measure)
  raw SQL each client process is one vendor doing, with psycopg 3, BEGIN; SELECT the pool FOR
          UPDATE; SELECT its active bid; INSERT the bid; UPDATE the previous bid to 'replaced';
          INSERT the audit event; COMMIT (its own pool, so neither phase sees the other's rows)
Each phase warms up, then counts the requests started in a window of --seconds. The phases
alternate because this VM's fsync latency, which bounds the raw rate, drifts by tens of percent
within minutes: alternating rounds expose both sides to the same drift, and the per-round ratios
show how much it moved. Target: HTTP accepted bids per second, over all rounds, at least half the
raw rate. Only 127.0.0.1 is contacted.

The deployment is the README's: `gunicorn -w 4` sync workers (2 × cores here; a worker waiting on
the pool's row lock or on the commit's fsync leaves the CPU to the others) with the default
settings, except that rate limits are off: 16 vendors bidding hundreds of times a second from one
address would be refused by RATELIMIT_BIDDING, which stays on in every real configuration. The
machine may be busy with other work: compare the ratio, from several runs, not absolute rates.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import psycopg  # noqa: E402
from psycopg.types.json import Json  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from app.accounts import service as accounts  # noqa: E402
from app.accounts.models import User  # noqa: E402
from app.bids.service import has_active_bid  # noqa: E402
from app.clock import utcnow  # noqa: E402
from app.pools import commitments, lifecycle  # noqa: E402
from app.pools import service as pools  # noqa: E402
from app.pools.curves import Point  # noqa: E402
from app.web import create_app  # noqa: E402
from app.web.extensions import db  # noqa: E402
from tests import pg_server  # noqa: E402

TARGET_RATIO = 0.5
START_PRICE = Decimal("5000.0000")
STEP = Decimal("0.0001")  # each vendor's next bid is this much lower: every revision improves
CAPACITY = 1000  # units; above the seeded demand, so every bid prices the demand
MEMBERS, MEMBER_QUANTITY = 5, 10  # seeded demand per pool: 50 units
WARMUP_HTTP, WARMUP_RAW = 3.0, 1.5  # seconds before the window: worker boot, caches, prepared statements

LOCK_POOL = "SELECT id, status, closes_at, committed_quantity FROM pools WHERE id = %s FOR UPDATE"
ACTIVE_BID = "SELECT id, tiers FROM bids WHERE pool_id = %s AND vendor_id = %s AND status = 'active'"
INSERT_BID = (
    "INSERT INTO bids (pool_id, vendor_id, tiers, capacity, delivery_window, notes, status, replaces_id,"
    " demand_at_bid, took_lead, extended_close, created_at)"
    " VALUES (%s, %s, %s, %s, '', '', 'active', %s, %s, false, false, %s) RETURNING id"
)
REPLACE_BID = "UPDATE bids SET status = 'replaced' WHERE id = %s"
INSERT_AUDIT = (
    "INSERT INTO audit_events (pool_id, actor_id, action, subject_type, subject_id, before, after, created_at)"
    " VALUES (%s, %s, 'bid.place', 'bid', %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class World:
    """What the seeding made: one pool per phase and one vendor (with its API token) per client."""

    http_pools: list[int]  # one per round
    raw_pools: list[int]
    vendors: list[tuple[int, str]]  # (user id, plain API token)


@dataclass(frozen=True)
class Job:
    """One client process: a vendor bidding on a pool over HTTP (target: port) or SQL (target: URL)."""

    kind: str
    target: str
    pool_id: int
    vendor_id: int
    token: str
    start_at: float  # time.time() at which the measured window opens
    end_at: float


@dataclass
class Tally:
    """What one client (or, summed, a phase) saw inside the window."""

    accepted: int = 0
    refused: int = 0  # 409: a completed transaction the auction rules refused
    failed: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds
    cpu: float = 0.0  # the client's own CPU seconds in the window
    first_error: str = ""

    def record(self, outcome: str, elapsed: float) -> None:
        """Count one request: "accepted", "refused" or a failure's description."""
        self.latencies.append(elapsed)
        if outcome == "accepted":
            self.accepted += 1
        elif outcome == "refused":
            self.refused += 1
        else:
            self.failed += 1
            self.first_error = self.first_error or outcome

    def add(self, other: Tally) -> None:
        """Merge another client's tally into this one."""
        self.accepted += other.accepted
        self.refused += other.refused
        self.failed += other.failed
        self.latencies += other.latencies
        self.cpu += other.cpu
        self.first_error = self.first_error or other.first_error


@dataclass(frozen=True)
class Phase:
    """A phase's summed tally and the CPU the machine, server and database used in its window."""

    tally: Tally
    seconds: float
    busy: float  # share of all cores busy, 0..1
    app_cpu: float  # CPU seconds of the gunicorn processes
    db_cpu: float  # CPU seconds of the PostgreSQL processes


# --- setup: database, data, server -------------------------------------------------------------


def migrate(url: str) -> None:
    """Create the schema with Alembic, as the README says."""
    env = {**os.environ, "DATABASE_URL": url, "BUYSWARM_ENV": "development"}
    flask = str(ROOT / ".venv" / "bin" / "flask")
    command = [flask, "--app", "wsgi", "db", "upgrade"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"db upgrade failed:\n{done.stderr.decode(errors='replace')}")


def seed(url: str, clients: int, rounds: int) -> World:
    """Make the pools, their members and the vendors through the app's services."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        session, now = db.session(), utcnow()
        organiser = _user(session, "organiser", now)
        members = [_user(session, f"member{n}", now) for n in range(MEMBERS)]
        pools = [_open_pool(session, organiser, members, now) for _ in range(2 * rounds)]
        vendors = []
        for n in range(clients):
            vendor = _user(session, f"vendor{n}", now)
            accounts.become_vendor(session, user=vendor, legal_name=f"Vendor {n} Ltd", categories=["solar"], now=now)
            vendors.append((vendor.id, accounts.create_token(session, user=vendor, name="bench", now=now)[1]))
        session.commit()
        db.engine.dispose()  # no pooled connection may cross the fork into the clients
    return World(pools[:rounds], pools[rounds:], vendors)


def _user(session: Session, name: str, now: datetime) -> User:
    user = User(email=f"{name}@bench.example", display_name=name, password_hash="!no-login", created_at=now,
                email_verified_at=now)  # fmt: skip
    session.add(user)
    session.flush()
    return user


def _open_pool(session: Session, organiser: User, members: list[User], now: datetime) -> int:
    """An open pool with a 0 % decrement, so every strictly lower bid is accepted."""
    values = {
        "title": "Bench pool",
        "category": "solar",
        "unit": "panel",
        "currency": "GBP",
        "min_quantity": 10,
        "max_quantity": None,
        "closes_at": now + timedelta(days=1),
        "auction_kind": "open",
        "min_decrement_pct": Decimal("0"),
        "max_per_member": 1_000_000,
    }
    pool = pools.create_pool(session, organiser=organiser, values=values, now=now)
    lifecycle.publish_pool(session, pool_id=pool.id, actor=organiser, now=now)
    for member in members:
        quantity, price = MEMBER_QUANTITY, Decimal("9000")
        commitments.commit(
            session,
            bids_on_pool=has_active_bid,
            pool_id=pool.id,
            member=member,
            points=(Point(quantity, price),),
            now=now,
        )
    return pool.id


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(url: str, workers: int, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Serve wsgi:app with sync workers until the block ends; stop it even on errors."""
    env = {
        **os.environ,
        "BUYSWARM_ENV": "development",
        "DATABASE_URL": url,
        "RATELIMIT_ENABLED": "false",
        "SECRET_KEY": "bench",
    }
    binary = str(ROOT / ".venv" / "bin" / "gunicorn")
    command = [binary, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        wait_until_serving(port, server, timeout=30)
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def wait_until_serving(port: int, server: subprocess.Popen[bytes], timeout: float) -> None:
    """Poll until the server answers HTTP, or raise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer on port {port} within {timeout} s")


# --- the clients (each runs in its own process) --------------------------------------------------


def drive(job: Job) -> Tally:
    """Bid with strictly falling prices until the window closes; tally what started inside it."""
    send = http_sender(job) if job.kind == "http" else sql_sender(job)
    tally, cpu_start = Tally(), None
    for step in itertools.count():
        started = time.time()
        if started >= job.end_at:
            break
        if started >= job.start_at and cpu_start is None:
            cpu_start = time.process_time()
        t0 = time.perf_counter()
        outcome = send(START_PRICE - STEP * step)
        if started >= job.start_at:
            tally.record(outcome, time.perf_counter() - t0)
    tally.cpu = time.process_time() - cpu_start if cpu_start is not None else 0.0
    return tally


def tiers_at(price: Decimal) -> list[dict[str, object]]:
    """A one-tier price curve, as the API takes it and as bids.tiers stores it."""
    return [{"min_quantity": 1, "unit_price": f"{price:.4f}"}]


def http_sender(job: Job) -> Callable[[Decimal], str]:
    """POST bids as raw HTTP/1.1 over a socket per request (sync workers close it after the answer).

    The load generator shares the machine's cores with the server it measures, so it is kept lean:
    With http.client, whose response and header parsing is pure Python, the clients used 0.55 ms of
    CPU per bid; with this, 0.3 ms.
    """
    address = ("127.0.0.1", int(job.target))
    head = (
        f"POST /api/v1/pools/{job.pool_id}/bids HTTP/1.1\r\nHost: 127.0.0.1:{job.target}\r\n"
        f"Authorization: Bearer {job.token}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    )

    def send(price: Decimal) -> str:
        body = json.dumps({"tiers": tiers_at(price), "capacity": CAPACITY}).encode()
        try:
            with socket.create_connection(address, timeout=30) as sock:
                sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
                response = _read_until_closed(sock)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        status = response[9:12]  # b"HTTP/1.1 201 CREATED"
        if status == b"201":
            return "accepted"
        return "refused" if status == b"409" else f"HTTP {status.decode(errors='replace')}: {response[:300]!r}"

    return send


def _read_until_closed(sock: socket.socket) -> bytes:
    """The whole response: the server closes the connection after it (Connection: close)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def sql_sender(job: Job) -> Callable[[Decimal], str]:
    """Do the bid transaction with psycopg 3 on one connection, no ORM and no rules."""
    conn = psycopg.connect(job.target, connect_timeout=10)

    def send(price: Decimal) -> str:
        try:
            _raw_bid(conn, job, tiers_at(price))
        except psycopg.Error as exc:
            conn.rollback()
            return f"{type(exc).__name__}: {exc}"
        return "accepted"

    return send


def _raw_bid(conn: psycopg.Connection[tuple[object, ...]], job: Job, tiers: list[dict[str, object]]) -> None:
    """The bid transaction as plain SQL: lock, read the previous bid, insert, replace, audit, commit."""
    now = datetime.now(UTC)
    pool = conn.execute(LOCK_POOL, (job.pool_id,)).fetchone()
    assert pool is not None
    previous = conn.execute(ACTIVE_BID, (job.pool_id, job.vendor_id)).fetchone()
    previous_id = previous[0] if previous else None
    row = conn.execute(
        INSERT_BID, (job.pool_id, job.vendor_id, Json(tiers), CAPACITY, previous_id, pool[3], now)
    ).fetchone()
    assert row is not None
    if previous_id is not None:
        conn.execute(REPLACE_BID, (previous_id,))
    before = Json({"bid_id": previous_id}) if previous_id else None
    after = Json({"tiers": tiers, "capacity": CAPACITY, "took_lead": False})
    conn.execute(INSERT_AUDIT, (job.pool_id, job.vendor_id, row[0], before, after, now))
    conn.commit()


# --- running a phase and measuring the machine ----------------------------------------------------


def run_phase(jobs: list[Job], server_pid: int | None, db_pid: int) -> Phase:
    """Run the clients in parallel processes; sample CPU use across the measured window."""
    start_at, end_at = jobs[0].start_at, jobs[0].end_at
    with multiprocessing.get_context("fork").Pool(len(jobs)) as workers:
        pending = workers.map_async(drive, jobs)
        time.sleep(max(0.0, start_at - time.time()))
        before = (machine_ticks(), tree_cpu(server_pid), tree_cpu(db_pid))
        time.sleep(max(0.0, end_at - time.time()))
        after = (machine_ticks(), tree_cpu(server_pid), tree_cpu(db_pid))
        tallies = pending.get(timeout=end_at - time.time() + 60)
    total = Tally()
    for tally in tallies:
        total.add(tally)
    busy = (after[0][0] - before[0][0]) / max(1, after[0][1] - before[0][1])
    return Phase(total, end_at - start_at, busy, after[1] - before[1], after[2] - before[2])


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by a process and its children, from /proc."""
    if pid is None:
        return 0.0
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0  # the process ended
    own = (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(tree_cpu(int(child)) for child in children)


def combined(phases: list[Phase]) -> Phase:
    """Several rounds of one phase as one: tallies and CPU summed, windows added, busy averaged."""
    tally = Tally()
    for phase in phases:
        tally.add(phase.tally)
    seconds = sum(phase.seconds for phase in phases)
    busy = sum(phase.busy * phase.seconds for phase in phases) / seconds
    return Phase(tally, seconds, busy, sum(p.app_cpu for p in phases), sum(p.db_cpu for p in phases))


def rate(phase: Phase) -> float:
    """Accepted bids per second in the phase's window."""
    return phase.tally.accepted / phase.seconds


def jobs_for(kind: str, target: str, pool_id: int, world: World, warmup: float, seconds: float) -> list[Job]:
    """One job per vendor, sharing one measured window that opens after the warm-up."""
    start_at = time.time() + warmup
    return [Job(kind, target, pool_id, vid, token, start_at, start_at + seconds) for vid, token in world.vendors]


# --- report -------------------------------------------------------------------------------------


def percentile(values: list[float], pct: int) -> float:
    """The pct-th percentile in milliseconds (0 when there are no values)."""
    if len(values) < 2:
        return values[0] * 1000 if values else 0.0
    return statistics.quantiles(values, n=100)[pct - 1] * 1000


def report(args: argparse.Namespace, webs: list[Phase], raws: list[Phase], background: float) -> None:
    """Print the table, the ratio against the target and where the CPU went."""
    cores = os.cpu_count() or 1
    web, raw = combined(webs), combined(raws)
    print(f"\nbids on one pool: {args.clients} clients (one vendor each), {args.rounds} rounds of")
    print(f"{args.seconds:g} s per phase, HTTP and raw alternating,")
    print(f"gunicorn {args.workers} sync workers, PostgreSQL durable (fsync on), {cores} cores")
    print(f"{'':22}{'tx/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'accepted':>10}{'409':>6}{'failed':>8}")
    _row("HTTP API, accepted", web.tally.accepted, web)
    _row("HTTP API, total", web.tally.accepted + web.tally.refused, web)
    _row("raw SQL (psycopg 3)", raw.tally.accepted, raw)
    for n, (round_web, round_raw) in enumerate(zip(webs, raws, strict=True), start=1):
        print(
            f"round {n}: HTTP {rate(round_web):4.0f}/s, raw {rate(round_raw):4.0f}/s, "
            f"ratio {rate(round_web) / max(rate(round_raw), 1e-9):.2f}"
        )
    ratio = rate(web) / max(rate(raw), 1e-9)
    verdict = "PASS" if ratio >= TARGET_RATIO else "FALL SHORT"
    print(f"ratio HTTP accepted / raw, all rounds: {ratio:.2f}   target >= {TARGET_RATIO}: {verdict}")
    print(f"other load on the machine before the run: {background * cores:.1f} of {cores} cores busy")
    for name, phase in (("HTTP", web), ("raw", raw)):
        _cpu_line(name, phase, cores)


def _row(name: str, count: int, phase: Phase) -> None:
    lat, tally = phase.tally.latencies, phase.tally
    print(
        f"{name:22}{count / phase.seconds:9.0f}{percentile(lat, 50):9.1f}{percentile(lat, 95):9.1f}"
        f"{tally.accepted:10d}{tally.refused:6d}{tally.failed:8d}"
    )


def _cpu_line(name: str, phase: Phase, cores: int) -> None:
    """Where one phase's CPU went: per bid, and how much of the machine was this benchmark's."""
    tally = phase.tally
    done = max(1, tally.accepted + tally.refused + tally.failed)
    ours = (tally.cpu + phase.app_cpu + phase.db_cpu) / phase.seconds
    print(
        f"{name:>4}: CPU ms per bid: load generator {tally.cpu / done * 1000:.2f}, gunicorn "
        f"{phase.app_cpu / done * 1000:.2f}, PostgreSQL {phase.db_cpu / done * 1000:.2f}; "
        f"this benchmark used {ours:.2f} cores, the machine was {phase.busy * cores:.2f} of {cores} busy"
    )
    if tally.first_error:
        print(f"      first failure: {tally.first_error}")


def background_load(seconds: float = 1.0) -> float:
    """Share of all cores busy with other work before the benchmark starts anything."""
    before = machine_ticks()
    time.sleep(seconds)
    after = machine_ticks()
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per phase and round (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating HTTP/raw rounds (default 3)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent vendors on the pool (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4, for 2 cores)")
    args = parser.parse_args()
    if not (1 <= args.clients <= 64 and 1 <= args.workers <= 32 and 1 <= args.seconds <= 60 and 1 <= args.rounds <= 20):
        parser.error("keep --clients in 1..64, --workers in 1..32, --seconds in 1..60 and --rounds in 1..20")
    return args


def main() -> None:
    """Start PostgreSQL, seed, measure HTTP then raw SQL, report; always stop what was started."""
    args = parse_args()
    background = background_load()
    server = pg_server.start(durable=True)
    try:
        migrate(server.url)
        world = seed(server.url, args.clients, args.rounds)
        db_pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
        port = free_port()
        libpq_url = server.url.replace("postgresql+psycopg://", "postgresql://")
        webs, raws = [], []
        with gunicorn(server.url, args.workers, port) as web_server:  # idle while the raw phases run
            for http_pool, raw_pool in zip(world.http_pools, world.raw_pools, strict=True):
                jobs = jobs_for("http", str(port), http_pool, world, WARMUP_HTTP, args.seconds)
                webs.append(run_phase(jobs, web_server.pid, db_pid))
                jobs = jobs_for("raw", libpq_url, raw_pool, world, WARMUP_RAW, args.seconds)
                raws.append(run_phase(jobs, None, db_pid))
        report(args, webs, raws, background)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
