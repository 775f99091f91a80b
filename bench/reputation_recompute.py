"""Recompute every reputation score from a million feedback rows on PostgreSQL, through the app code.

Run: .venv/bin/python bench/reputation_recompute.py [--rows 1000000] [--users 20000] [--vendors 300] [--seed 1]
(or python -m bench.reputation_recompute). Starts a throwaway durable PostgreSQL (fsync and
synchronous_commit on), builds the schema with `flask --app wsgi db upgrade`, and bulk-loads with COPY
(timed and printed, not part of the result) users with spread-out account ages, completed pools, and
revealed feedback skewed towards a few popular vendors (Zipf-like). Then, in one process, through
`create_app(...)` and `db.session()`:

  full         app.reputation.scores.recompute_all + commit; the phases are timed inside that one
               call by wrapping what it calls (trust.compute_reputation, rules.ebay_summary, the
               session's DELETE/INSERT executes): stream, model, summaries, grouping, write, commit
  baselines    the same SELECT fetched with a raw psycopg cursor into the same Rating tuples, and
               trust.compute_reputation alone on the very ratings recompute_all built
  incremental  one new feedback for the busiest vendor (the most ratings), revealed through
               app.reputation.scores.add_revealed + commit (the O(1) path every reveal takes, from
               the stored tally), then app.reputation.scores.refresh(session, [vendor]) + commit (the
               exact reread a revision takes); and the same for a typical buyer

Target (the requirement): the full recompute under 60 s; a new feedback refreshes its ratee without a
full recompute. Figures drift with the machine and its load (printed); compare the ratios.
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import io
import itertools
import math
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import psycopg  # noqa: E402
from sqlalchemy import Delete, Insert, select, text  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench._pg import copy_rows, psycopg_url  # noqa: E402
from tests import pg_server  # noqa: E402

TARGET_SECONDS = 60.0
NOW = datetime.now(UTC).replace(microsecond=0)
DAY = 86400.0
FEEDBACK_DAYS = 365  # feedback spread over the year before NOW
ACCOUNT_DAYS = 3 * 365  # accounts created over three years before NOW
CRITERIA = {
    "buyer_to_vendor": ("item_as_described", "communication", "delivery_time", "price_honoured"),
    "vendor_to_buyer": ("paid_promptly", "communication"),
    "member_to_organiser": ("clarity", "fairness", "responsiveness"),
}
COPY_CHUNK = 50_000  # feedback lines per COPY write


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (cores: {os.cpu_count()})"


# Setup (not part of the result) --------------------------------------------------------------------


def migrate(url: str) -> None:
    """Build the schema the way operators do: `flask --app wsgi db upgrade`."""
    env = {**os.environ, "DATABASE_URL": url, "BUYSWARM_ENV": "development", "PAYMENT_GATEWAY": "offline"}
    flask = Path(sys.executable).with_name("flask")
    done = subprocess.run([str(flask), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"flask --app wsgi db upgrade failed:\n{done.stdout.decode()}{done.stderr.decode()}")


@dataclass
class Dataset:
    vendors: list[int]
    buyers: list[int]
    pools_of: dict[int, list[int]]  # vendor id -> the pools it served
    created: dict[int, datetime]  # user id -> account creation
    received: Counter[int] = field(default_factory=Counter)  # ratee id -> ratings received
    keys: set[tuple[int, int, int]] = field(default_factory=set)  # (pool, rater, ratee) already used
    feedback_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


_MINUTES: dict[int, str] = {}


def _stamp(ts: float) -> str:
    """A timestamptz literal with whole seconds (the minute's prefix cached: formatting is the hot path)."""
    seconds = int(ts)
    minute, second = divmod(seconds, 60)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        prefix = _MINUTES[minute] = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M")
    return f"{prefix}:{second:02d}+00"


def seed(url: str, *, rows: int, users: int, vendors: int, pools: int, seed_value: int) -> Dataset:
    """COPY in users, completed pools and `rows` revealed feedback; return what the timed part needs."""
    rng = random.Random(seed_value)
    now_ts = NOW.timestamp()
    with psycopg.connect(psycopg_url(url), autocommit=True) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        # Vendors are older accounts; buyers join all along, a few in the last weeks (young raters count less).
        ages = [
            rng.uniform(400, ACCOUNT_DAYS) if n < vendors else ACCOUNT_DAYS * rng.random() ** 1.5 for n in range(users)
        ]
        with conn.transaction():
            copy_rows(
                cur,
                "users (email, password_hash, display_name, created_at, is_admin, is_active_account, session_token,"
                " is_dispute_operator)",
                (
                    (
                        f"user{n}@bench.example",
                        "x",
                        f"User {n}",
                        NOW - timedelta(days=ages[n]),
                        False,
                        True,
                        f"s{n}",
                        False,
                    )
                    for n in range(users)
                ),
            )
        found = cur.execute("SELECT id, created_at FROM users ORDER BY id").fetchall()
        ids = [row[0] for row in found]
        created = {row[0]: row[1] for row in found}
        vendor_ids, buyer_ids = ids[:vendors], ids[vendors:]
        # Each pool was won by one vendor: every vendor has at least one, popular vendors many (Zipf).
        zipf_cum = list(itertools.accumulate(1.0 / (k + 1) for k in range(vendors)))
        winners = vendor_ids + rng.choices(vendor_ids, cum_weights=zipf_cum, k=max(pools - vendors, 0))
        with conn.transaction():
            copy_rows(cur, _POOL_COLUMNS, (_pool_row(p, rng.choice(buyer_ids), rng) for p in range(len(winners))))
        pool_ids = [row[0] for row in cur.execute("SELECT id FROM pools ORDER BY id")]
        organiser = dict(cur.execute("SELECT id, organiser_id FROM pools").fetchall())
        pools_of: dict[int, list[int]] = {}
        for pool_id, vendor in zip(pool_ids, winners, strict=True):
            pools_of.setdefault(vendor, []).append(pool_id)
        data = Dataset(vendor_ids, buyer_ids, pools_of, created)
        data.seconds["users and pools"] = time.perf_counter() - started

        started = time.perf_counter()
        quality = {v: rng.betavariate(9, 1) for v in vendor_ids}
        joined = {user_id: at.timestamp() + DAY for user_id, at in created.items()}  # first feedback a day in
        year_ago = now_ts - FEEDBACK_DAYS * DAY
        # Bulk load: the rows are consistent by construction, so skip the per-row FK triggers (superuser),
        # and build the secondary indexes once at the end instead of row by row.
        indexes = cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'feedback' AND indexname <> 'pk_feedback'"
        ).fetchall()
        unique = "uq_feedback_pool_id_rater_id_ratee_id"
        cur.execute(f"ALTER TABLE feedback DROP CONSTRAINT {unique}")
        for name, _ in indexes:
            if name != unique:
                cur.execute(f"DROP INDEX {name}")
        cur.execute("SET session_replication_role = replica")
        gauss, uniform, chance, expo = rng.gauss, rng.uniform, rng.random, math.exp
        with (
            conn.transaction(),
            cur.copy(
                "COPY feedback (pool_id, rater_id, ratee_id, direction, rating, scores, comment, amount_minor,"
                " created_at, revealed_at) FROM STDIN"
            ) as copy,
        ):
            lines: list[str] = []
            for pool, rater, ratee, direction, good in _feedback_triples(rng, rows, data, zipf_cum, organiser, quality):
                value = 1 if chance() < good else (0 if chance() < 0.4 else -1)
                scores = _scores(rng, direction, value)
                amount = max(int(expo(gauss(8.3, 1.0))), 100)
                lo = min(max(year_ago, joined[rater]), now_ts - 3600)
                at = uniform(lo, now_ts - 60)
                revealed = min(at + uniform(0, 14 * DAY), now_ts - 30)
                lines.append(
                    f"{pool}\t{rater}\t{ratee}\t{direction}\t{value}\t{scores}\t\t{amount}\t{_stamp(at)}\t{_stamp(revealed)}\n"
                )
                if len(lines) >= COPY_CHUNK:
                    copy.write("".join(lines))
                    lines.clear()
            copy.write("".join(lines))
        cur.execute("RESET session_replication_role")
        data.seconds["feedback generate + COPY"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute(f"ALTER TABLE feedback ADD CONSTRAINT {unique} UNIQUE (pool_id, rater_id, ratee_id)")
        for name, definition in indexes:
            if name != unique:
                cur.execute(definition)
        data.seconds["feedback indexes (same names)"] = time.perf_counter() - started
        started = time.perf_counter()
        cur.execute("VACUUM (ANALYZE)")  # what autovacuum would have done to a table this old
        data.seconds["VACUUM ANALYZE"] = time.perf_counter() - started
        data.feedback_rows = cur.execute("SELECT count(*) FROM feedback").fetchone()[0]  # type: ignore[index]
    return data


def _feedback_triples(
    rng: random.Random,
    rows: int,
    data: Dataset,
    zipf_cum: list[float],
    organiser: dict[int, int],
    quality: dict[int, float],
) -> Iterator[tuple[int, int, int, str, float]]:
    """Yield (pool, rater, ratee, direction, chance of a positive) with unique (pool, rater, ratee)."""
    vendors, buyers, keys, total = data.vendors, data.buyers, data.keys, zipf_cum[-1]
    made = 0
    while made < rows:
        for _ in range(min(rows - made, 10_000) * 11 // 10 + 10):
            vendor = vendors[bisect.bisect(zipf_cum, rng.random() * total)]
            pool = rng.choice(data.pools_of[vendor])
            buyer = buyers[rng.randrange(len(buyers))]
            kind = rng.random()
            if kind < 0.85:  # the bulk: buyers rating the vendor that served them
                key, direction, good = (pool, buyer, vendor), "buyer_to_vendor", quality[vendor]
            elif kind < 0.95:
                key, direction, good = (pool, vendor, buyer), "vendor_to_buyer", 0.97
            else:
                key, direction, good = (pool, buyer, organiser[pool]), "member_to_organiser", 0.9
            if key[1] == key[2] or key in keys:
                continue
            keys.add(key)
            data.received[key[2]] += 1
            yield (*key, direction, good)
            made += 1
            if made == rows:
                return


_SCORES: dict[tuple[str, int, int, int], str] = {}


def _scores(rng: random.Random, direction: str, value: int) -> str:
    """Detailed 1–5 scores as JSON text: all criteria (half), only communication (30 %), or none."""
    roll = rng.random()
    if roll >= 0.8:
        return "{}"
    kind = 0 if roll < 0.5 else 1
    criteria = CRITERIA[direction]
    if kind:
        criteria = ("communication",) if "communication" in criteria else criteria[:1]
    base = 4 if value > 0 else 3 if value == 0 else 1
    bits = rng.getrandbits(len(criteria))  # each criterion: base or base + 1
    key = (direction, kind, base, bits)
    text = _SCORES.get(key)
    if text is None:
        pairs = (f'"{c}": {min(base + (bits >> i & 1), 5)}' for i, c in enumerate(criteria))
        text = _SCORES[key] = "{" + ", ".join(pairs) + "}"
    return text


_POOL_COLUMNS = (
    "pools (title, description, category, unit, currency, min_quantity, opens_at, closes_at, auction_kind,"
    " min_decrement_pct, soft_close_minutes, max_extensions, extensions_used, award_rule, visibility, status,"
    " organiser_id, committed_quantity, member_count, created_at, updated_at, published_at, closed_at,"
    " settled_at, completed_at, max_per_member, link_token, close_failures, delivery_to_organiser, award_mode,"
    " needs_address, allow_unverified_vendors)"
)


def _pool_row(p: int, organiser: int, rng: random.Random) -> tuple[Any, ...]:
    closed = NOW - timedelta(days=rng.uniform(20, FEEDBACK_DAYS + 20))
    opened = closed - timedelta(days=14)
    members = rng.randint(10, 600)
    return (
        f"Bench pool {p}", "", "solar", "install", "GBP", 10, opened, closed, "open", "1.00", 10, 3, 0,
        "lowest_price", "public", "completed", organiser, members * 2, members, opened, closed, opened, closed,
        closed + timedelta(days=1), closed + timedelta(days=15), 5, f"bench-link-{p}", 0, False, "single", False,
        True,
    )  # fmt: skip


# The timed part ----------------------------------------------------------------------------------


@dataclass
class Breakdown:
    total: float = 0.0  # recompute_all + commit
    call: float = 0.0  # recompute_all alone
    stream: float = 0.0  # SELECT, stream, as_rating: until compute_reputation is called
    model: float = 0.0  # trust.compute_reputation
    summaries: float = 0.0  # rules.ebay_summary, every call
    summary_calls: int = 0
    write: float = 0.0  # session.execute of the DELETE and the INSERT batches
    write_calls: int = 0
    commit: float = 0.0
    cpu: float = 0.0  # this process's CPU time for recompute_all + commit (the rest is waiting: DB or load)
    users: int = 0
    ratings: list[Any] = field(default_factory=list)  # what recompute_all handed to the model

    @property
    def grouping(self) -> float:
        """By-ratee grouping and row building: what is left of the call."""
        return self.call - self.stream - self.model - self.summaries - self.write


@contextmanager
def instrumented(session: Session, out: Breakdown, started: list[float]) -> Iterator[None]:
    """Time the pieces recompute_all calls, by wrapping them for the duration of one call."""
    from app.reputation import rules, trust

    real_model, real_summary, real_execute = trust.compute_reputation, rules.ebay_summary, session.execute

    def model(ratings: Any, now: datetime, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out.stream = t0 - started[0]
        out.ratings = ratings
        try:
            return real_model(ratings, now, *args, **kwargs)
        finally:
            out.model += time.perf_counter() - t0

    def summary(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_summary(*args, **kwargs)
        finally:
            out.summaries += time.perf_counter() - t0
            out.summary_calls += 1

    def execute(statement: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(statement, Delete | Insert):
            return real_execute(statement, *args, **kwargs)
        t0 = time.perf_counter()
        try:
            return real_execute(statement, *args, **kwargs)
        finally:
            out.write += time.perf_counter() - t0
            out.write_calls += 1

    trust.compute_reputation, rules.ebay_summary = model, summary  # type: ignore[assignment]
    session.execute = execute  # type: ignore[method-assign]
    try:
        yield
    finally:
        trust.compute_reputation, rules.ebay_summary = real_model, real_summary  # type: ignore[assignment]
        del session.execute


def full_recompute(session: Session, now: datetime) -> Breakdown:
    from app.reputation.scores import recompute_all

    out, started, cpu = Breakdown(), [0.0], time.process_time()
    with instrumented(session, out, started):
        started[0] = time.perf_counter()
        out.users = recompute_all(session, now=now)
        out.call = time.perf_counter() - started[0]
    t0 = time.perf_counter()
    session.commit()
    out.commit = time.perf_counter() - t0
    out.total = out.call + out.commit
    out.cpu = time.process_time() - cpu
    return out


def profile_recompute(session: Session, now: datetime, top: int) -> str:
    """recompute_all + commit under cProfile (slower than the timed run): the top entries by own time."""
    from app.reputation.scores import recompute_all

    profiler = cProfile.Profile()
    profiler.enable()
    recompute_all(session, now=now)
    session.commit()
    profiler.disable()
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
    return buffer.getvalue()


def raw_fetch(url: str) -> tuple[float, float, int]:
    """The recompute's SELECT through a raw psycopg server-side cursor into the same Rating tuples."""
    from app.reputation.scores import ratings_query
    from app.reputation.trust import Rating

    sql = str(ratings_query().compile(dialect=postgresql.dialect()))
    with psycopg.connect(psycopg_url(url)) as conn, conn.cursor(name="ratings") as cur:
        t0, cpu = time.perf_counter(), time.process_time()
        cur.itersize = 5000
        cur.execute(sql)
        ratings = [Rating(*row) for row in cur]
        return time.perf_counter() - t0, time.process_time() - cpu, len(ratings)


def pure_model(ratings: list[Any], now: datetime) -> tuple[float, float]:
    from app.reputation.trust import compute_reputation

    t0, cpu = time.perf_counter(), time.process_time()
    compute_reputation(ratings, now)
    return time.perf_counter() - t0, time.process_time() - cpu


@dataclass
class Incremental:
    user_id: int
    ratings: int
    insert: float
    refreshes: list[float]
    added: float  # add_revealed + commit
    before: tuple[Any, ...]
    after: tuple[Any, ...]


def _score_of(session: Session, user_id: int) -> tuple[Any, ...]:
    from app.reputation.models import ReputationScore

    row = session.execute(
        select(ReputationScore.trust, ReputationScore.feedback_score, ReputationScore.counts).where(
            ReputationScore.user_id == user_id
        )
    ).one()
    return round(row.trust, 4), row.feedback_score, row.counts["12m"]["positive"]


def incremental(session: Session, data: Dataset, ratee: int, rng: random.Random, repeats: int = 3) -> Incremental:
    """Insert one new revealed positive feedback for `ratee`, then time refresh + commit."""
    from app.reputation.models import Feedback
    from app.reputation.scores import add_revealed, refresh

    if ratee in data.pools_of:  # a vendor: a buyer of one of its pools rates it
        direction = "buyer_to_vendor"
        pool, rater = next(
            (p, b)
            for p, b in ((rng.choice(data.pools_of[ratee]), rng.choice(data.buyers)) for _ in range(10_000))
            if (p, b, ratee) not in data.keys
        )
    else:  # a buyer: a vendor rates it
        direction = "vendor_to_buyer"
        pool, rater = next(
            (p, v)
            for v in data.vendors
            for p in data.pools_of[v]
            if (p, v, ratee) not in data.keys
        )  # fmt: skip
    data.keys.add((pool, rater, ratee))
    before = _score_of(session, ratee)
    at = NOW - timedelta(seconds=1)
    t0 = time.perf_counter()
    feedback = Feedback(pool_id=pool, rater_id=rater, ratee_id=ratee, direction=direction, rating=1,
                        scores={"communication": 5}, comment="", amount_minor=4200, created_at=at)  # fmt: skip
    session.add(feedback)
    session.commit()
    inserted = time.perf_counter() - t0
    t0 = time.perf_counter()
    feedback.revealed_at = at
    add_revealed(session, [feedback], now=NOW)
    session.commit()
    added = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        refresh(session, [ratee], now=NOW)
        session.commit()
        times.append(time.perf_counter() - t0)
    count = session.execute(text("SELECT count(*) FROM feedback WHERE ratee_id = :u"), {"u": ratee}).scalar_one()
    return Incremental(ratee, count, inserted, times, added, before, _score_of(session, ratee))


# Report ------------------------------------------------------------------------------------------


def verdict(seconds: float) -> str:
    return "PASS" if seconds < TARGET_SECONDS else "FALL SHORT"


def report(rows: list[tuple[str, float | None, str]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'what':<{width}}  {'seconds':>9}  result / note")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 40}")
    for name, seconds, note in rows:
        figure = f"{seconds:9.3f}" if seconds is not None else " " * 9
        print(f"{name:<{width}}  {figure}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="feedback rows (default 1,000,000)")
    parser.add_argument("--users", type=int, default=20_000, help="users, vendors included (default 20,000)")
    parser.add_argument("--vendors", type=int, default=300, help="vendors receiving most ratings (default 300)")
    parser.add_argument("--pools", type=int, default=2_000, help="completed pools (default 2,000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N",
        help="also run recompute_all once more under cProfile and print the top N functions (slow; default off)",
    )  # fmt: skip
    args = parser.parse_args()
    if not 1 <= args.vendors < args.users or args.rows < 1 or args.pools < args.vendors:
        parser.error("need 1 <= --vendors < --users, --pools >= --vendors and --rows >= 1")

    print(f"reputation recompute bench: {args.rows:,} feedback rows, {args.users:,} users "
          f"({args.vendors} vendors), {args.pools:,} pools, seed {args.seed}")  # fmt: skip
    print(f"now {NOW.isoformat()}, load average at start: {load_average()}")
    server = pg_server.start(durable=True)
    try:
        t0 = time.perf_counter()
        migrate(server.url)
        print(f"setup: PostgreSQL (durable) + flask db upgrade      {time.perf_counter() - t0:7.1f} s")
        data = seed(
            server.url, rows=args.rows, users=args.users, vendors=args.vendors, pools=args.pools, seed_value=args.seed
        )
        for name, seconds in data.seconds.items():
            extra = (
                f"  ({data.feedback_rows / seconds:,.0f} rows/s incl. generation)"
                if name == "feedback generate + COPY"
                else ""
            )
            print(f"setup: {name:<44}{seconds:7.1f} s{extra}")
        top = data.received.most_common(5)
        share = sum(data.received[v] for v in data.vendors) / data.feedback_rows
        print(f"data: {data.feedback_rows:,} feedback; vendors receive {share:.0%}; "
              f"busiest ratees {', '.join(f'#{u}: {n:,}' for u, n in top)}")  # fmt: skip

        from app.web import create_app
        from app.web.extensions import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": server.url})
        with app.app_context():
            session = db.session()
            session.execute(text("SELECT 1"))  # connect before the clock starts
            session.commit()
            print(f"\nload average before the full recompute: {load_average()}")
            full = full_recompute(session, NOW)
            ratings = full.ratings
            full.ratings = []
            print(f"load average after it:                  {load_average()}")
            raw_seconds, raw_cpu, raw_rows = raw_fetch(server.url)
            model_seconds, model_cpu = pure_model(ratings, NOW)
            del ratings
            rng = random.Random(args.seed + 1)
            busiest = data.received.most_common(1)[0][0]
            typical_buyer = sorted(data.buyers, key=lambda b: data.received[b])[len(data.buyers) // 2]
            vendor = incremental(session, data, busiest, rng)
            buyer = incremental(session, data, typical_buyer, rng)
            profile = profile_recompute(session, NOW, args.profile) if args.profile else ""
        print(f"load average at the end:                {load_average()}")

        rows: list[tuple[str, float | None, str]] = [
            ("FULL: recompute_all + commit", full.total, f"{verdict(full.total)} (target < {TARGET_SECONDS:.0f} s); "
             f"{full.users:,} users from {raw_rows:,} ratings; CPU {full.cpu:.1f} s"),
            ("  1 stream: SELECT + rows + as_rating", full.stream, f"{full.stream / full.total:.0%}"),
            ("  2 model: trust.compute_reputation", full.model, f"{full.model / full.total:.0%}"),
            ("  3 summaries: rules.ebay_summary", full.summaries,
             f"{full.summaries / full.total:.0%} ({full.summary_calls:,} calls)"),
            ("  4 grouping by ratee + row dicts", full.grouping, f"{full.grouping / full.total:.0%}"),
            ("  5 write: DELETE + INSERT batches", full.write,
             f"{full.write / full.total:.0%} ({full.write_calls} executes)"),
            ("  6 commit", full.commit, f"{full.commit / full.total:.0%}"),
            ("baseline: raw psycopg fetch -> Rating", raw_seconds,
             f"same SELECT; app stream is {full.stream / raw_seconds:.1f}x this; CPU {raw_cpu:.1f} s"),
            ("baseline: pure model, same ratings", model_seconds,
             f"{verdict(model_seconds)} on its own; CPU {model_cpu:.1f} s"),
            ("INCREMENTAL: insert 1 feedback + commit", vendor.insert, f"busiest vendor #{vendor.user_id}"),
            ("  reveal it: add_revealed (O(1), the tally)", vendor.added,
             f"{statistics.median(vendor.refreshes) / vendor.added:,.0f}x faster than rereading its history"),
            ("  typical buyer: add_revealed", buyer.added, f"{buyer.added * 1000:.1f} ms"),
            (f"  refresh busiest vendor ({vendor.ratings:,} ratings)", statistics.median(vendor.refreshes),
             f"median of {', '.join(f'{s:.3f}' for s in vendor.refreshes)}; "
             f"{full.total / statistics.median(vendor.refreshes):,.0f}x faster than FULL"),
            (f"  refresh typical buyer ({buyer.ratings:,} ratings)", statistics.median(buyer.refreshes),
             f"median of {', '.join(f'{s * 1000:.1f} ms' for s in buyer.refreshes)}"),
        ]  # fmt: skip
        report(rows)
        print(f"\nbusiest vendor (trust, feedback score, 12m positives): before {vendor.before}, after {vendor.after}")
        print(f"typical buyer  (trust, feedback score, 12m positives): before {buyer.before}, after {buyer.after}")
        if profile:
            print(f"\ncProfile of a second recompute_all + commit (instrumented, so slower), top {args.profile}:")
            print(profile)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
